"""Shared test helpers: the CLI as a subprocess, and finding processes a run left behind."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 180, env: dict[str, str] | None = None,
            cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """``python -m harness ARGS`` as a user would type it; output captured as text."""
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def harness(*args: str) -> subprocess.Popen[str]:
    """``python -m harness ARGS`` started in the background, output piped as text."""
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def events(run_dir: Path) -> list[dict]:
    """The run's events.jsonl so far (a line being written is skipped)."""
    try:
        text = (run_dir / "events.jsonl").read_text()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def processes_with_env(marker: str) -> list[str]:
    """Live processes whose environment contains ``marker`` (e.g. HARNESS_RUN_ID=...)."""
    found = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                state = (entry / "stat").read_text().split()[2]
                if state != "Z":
                    found.append(f"{entry.name}: {cmd}")
        except OSError:
            continue
    return found


@pytest.fixture
def repo() -> Path:
    return REPO


# HARNESS_TEST_TRACEMALLOC=25: the warning then says where the leaked object was allocated
if os.environ.get("HARNESS_TEST_TRACEMALLOC"):
    import tracemalloc

    tracemalloc.start(int(os.environ["HARNESS_TEST_TRACEMALLOC"]))


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """Collect after every test, so an unclosed socket or file fails the test that left it.

    Without this the ResourceWarning surfaces whenever the collector happens to run, in
    whichever later test that is (it did, intermittently, in CI).
    """
    yield
    gc.collect()
