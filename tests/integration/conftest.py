"""Real parts for integration tests: sample processes, a toxiproxy-server, their numbers.

Everything listens on 127.0.0.1 and is stopped by the fixture that started it.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.pytest_plugin import ToxiproxyServer
from harness.testing import ManagedProcess, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return bytes(resp.read())


@dataclass
class RunningSample:
    """A sample process on a loopback port, with readers for what the harness samples."""

    name: str
    variant: str
    port: int
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metric(self, name: str) -> float:
        """One unlabelled Prometheus sample from /metrics (e.g. ``sample_tasks``)."""
        for line in http_get(self.url + "/metrics").decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise KeyError(name)

    def tasks(self) -> int:
        return int(self.metric("sample_tasks"))

    def fds(self) -> int:
        return int(self.metric("process_open_fds"))

    def rss(self) -> int:
        return int(self.metric("process_resident_memory_bytes"))

    def debug(self, path: str = "/debug/tasks") -> dict[str, object]:
        return dict(json.loads(http_get(self.url + path)))

    def task_count(self, where: str) -> int:
        """Live tasks whose coroutine name or waiting line contains ``where``."""
        groups = self.debug()["groups"]
        assert isinstance(groups, list)
        return sum(g["count"] for g in groups if where in g["name"] or where in g["where"])

    def settle(self, timeout: float = 10.0) -> int:
        """Wait until the task count stops moving for a second; that count."""
        return settled(self.tasks, timeout)

    def settle_fds(self, timeout: float = 10.0) -> int:
        """Wait until the FD count stops moving for a second; that count."""
        return settled(self.fds, timeout)


def settled(read: Callable[[], int], timeout: float = 10.0) -> int:
    """Wait until ``read()`` stops moving for a second; that value.

    A baseline read right after a health check or a warm-up request can still hold that
    request's server-side connection (closed a moment later, later still on a busy machine),
    which inflates the baseline and eats a count assertion's margin. A value that held for a
    second is the process at rest.
    """
    last, stable_since, deadline = read(), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = read()
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= 1.0:
            break
    return last


StartSample = Callable[..., RunningSample]


@pytest.fixture
def start_sample(tmp_path: Path) -> Iterator[StartSample]:
    """``start_sample(name, variant, *flags)``: a real sample process, stopped at the end."""
    started: list[ManagedProcess] = []

    def start(name: str, variant: str, *flags: str) -> RunningSample:
        port = free_port()
        argv = [sys.executable, "-m", "harness.samples", name, "--port", str(port),
                "--variant", variant, *flags]
        proc = ManagedProcess(f"{name}-{variant}-{port}", argv, log_dir=tmp_path, cwd=REPO)
        started.append(proc.start())
        sample = RunningSample(name, variant, port, proc)

        def healthy() -> bool:
            try:
                return http_get(sample.url + "/healthz", timeout=1.0) == b"ok"
            except OSError:
                return False

        if not wait_until(lambda: healthy() or not proc.running, 20.0) or not proc.running:
            pytest.fail(f"{name} ({variant}) did not start:\n{proc.tail()}")
        return sample

    yield start
    for proc in started:
        proc.stop(grace=3.0)


@pytest.fixture
def toxiproxy(toxiproxy_server: ToxiproxyServer) -> ToxiproxyServer:
    """A real toxiproxy-server on a free loopback port (the pytest plugin's `toxiproxy_server`:
    `.client`, `.process`, `.proxy(name, upstream_port)`); toxics cleared, server stopped."""
    return toxiproxy_server
