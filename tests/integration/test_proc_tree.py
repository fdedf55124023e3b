"""Process-tree sources on real processes: a ``sh -c`` wrapper, a worker forked mid-run,
real sockets on 127.0.0.1."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from harness.backends import TargetHandle
from harness.metrics import ParentTable, ProcessTree, Sampler, make_source
from harness.testing import wait_until

pytestmark = pytest.mark.timeout(60)

# The target: listens, writes its port, and on a "go" file forks a worker that opens 30
# files and accepts (and keeps, never reading or closing) every connection.
SERVER = r'''
import os, socket, sys, time
folder = sys.argv[1]
fork_on_go = sys.argv[2] == "fork"
lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen(64)
held = []

def serve():
    while True:
        conn, _ = lsock.accept()
        held.append(conn)  # never read, never closed: a peer's FIN leaves it in CLOSE_WAIT

with open(os.path.join(folder, "port.tmp"), "w") as fh:
    fh.write(str(lsock.getsockname()[1]))
os.rename(os.path.join(folder, "port.tmp"), os.path.join(folder, "port"))
if not fork_on_go:
    serve()
while not os.path.exists(os.path.join(folder, "go")):
    time.sleep(0.02)
if os.fork() == 0:
    files = [open(os.devnull) for _ in range(30)]
    open(os.path.join(folder, "ready"), "w").close()
    serve()
while True:
    time.sleep(1)
'''


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@pytest.fixture
def start_target(tmp_path: Path) -> Iterator[Callable[[str], tuple[subprocess.Popen[bytes], int]]]:
    """Starts SERVER behind a ``sh -c`` wrapper that does not exec; kills its group after."""
    started: list[subprocess.Popen[bytes]] = []
    script = tmp_path / "server.py"
    script.write_text(SERVER, encoding="utf-8")

    def start(mode: str) -> tuple[subprocess.Popen[bytes], int]:
        # the trailing command keeps sh alive as the parent (no exec of the last command)
        cmd = f'"{sys.executable}" "{script}" "{tmp_path}" {mode}; echo wrapper-done'
        proc = subprocess.Popen(["sh", "-c", cmd], start_new_session=True,
                                stdout=subprocess.DEVNULL)
        started.append(proc)
        assert wait_for(lambda: (tmp_path / "port").exists()), "target never listened"
        return proc, int((tmp_path / "port").read_text())

    yield start
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _fork_and_connect(sampler: Sampler, sources: dict, pid: int, port: int,
                      tmp_path: Path) -> None:
    """Samples before and after the fork, then with five connections to the worker."""
    sampler.add([TargetHandle(name="api", pid=pid, sources=sources)])
    sampler.sample_once()
    before = dict(sampler.latest)
    (tmp_path / "go").touch()
    assert wait_for(lambda: (tmp_path / "ready").exists()), "worker never opened its files"
    sampler.sample_once()  # the first tick after the fork
    after = dict(sampler.latest)
    assert after[("api", "fds")] >= before[("api", "fds")] + 30
    assert after[("api", "fds_self")] == before[("api", "fds_self")]

    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(5)]
    try:
        def five_conns() -> bool:
            sampler.sample_once()
            return sampler.latest[("api", "conns")] == 5

        assert wait_for(five_conns), sampler.latest  # the listening socket is not counted
        assert sampler.latest[("api", "conns_self")] == 0  # the wrapper holds none
    finally:
        for client in clients:
            client.close()


def test_tree_counts_a_worker_forked_mid_run_from_its_first_tick(start_target, tmp_path):
    """proc:fds sees the forked worker's 30 files on the first read after the fork; :self does not."""
    proc, port = start_target("fork")
    sources = {alias: make_source(spec, pid=proc.pid) for alias, spec in {
        "fds": "proc:fds", "fds_self": "proc:fds:self",
        "conns": "proc:conns", "conns_self": "proc:conns:self"}.items()}
    sampler = Sampler(tmp_path, time.time(), 1.0)
    try:
        _fork_and_connect(sampler, sources, proc.pid, port, tmp_path)
    finally:
        sampler.stop()
    with (tmp_path / "processes.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["metric"] == "fds"]  # :self has no rows
    ticks = sorted({r["t"] for r in rows}, key=float)
    first = {r["pid"] for r in rows if r["t"] == ticks[0]}
    second = {r["pid"]: float(r["value"]) for r in rows if r["t"] == ticks[1]}
    assert len(first) == 2  # the sh wrapper and the server
    (worker,) = set(second) - first
    assert second[worker] >= 30  # the worker's own row, from its first tick


def test_close_wait_grows_when_the_server_never_closes(start_target):
    """Peers that close on a server that never does leave CLOSE_WAIT sockets: close_wait counts them."""
    proc, port = start_target("serve")
    close_wait = make_source("proc:close_wait", pid=proc.pid)
    conns = make_source("proc:conns", pid=proc.pid)
    assert close_wait.read() == 0
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(8)]
    try:
        assert wait_for(lambda: conns.read() == 8)
    finally:
        for client in clients:
            client.close()
    assert wait_for(lambda: close_wait.read() == 8), close_wait.read()
    assert conns.read() == 0


def test_trees_of_one_tick_share_one_scan_and_find_what_psutil_finds():
    """Every tree of a tick lists its members from one scan of every process's parent (it
    was one scan per tree), and finds the same descendants as psutil's own
    ``children(recursive=True)``; a tree's next reading scans afresh, however young the
    last scan (a worker forked since is found: the test above)."""
    parents = ParentTable(max_age=60)  # only a tree's own next reading makes a new scan
    procs = [subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"]) for _ in range(2)]
    try:
        assert wait_until(lambda: all(len(psutil.Process(p.pid).children()) == 2 for p in procs),
                          10)
        trees = [ProcessTree(p.pid, parents=parents) for p in procs]
        for tree in trees:
            tree.want("fds")
        readings = [tree.read(1) for tree in trees]
        assert parents.scans == 1
        for proc, reading in zip(procs, readings, strict=True):
            assert reading is not None
            expected = {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
            assert {p.pid for p in reading.processes} == {proc.pid} | expected
            assert len(expected) == 2
        late = subprocess.Popen(["sleep", "30"])  # not below either tree: never a member
        try:
            again = trees[0].read(1)  # the same reader again: the next tick
            assert parents.scans == 2
            assert again is not None and late.pid not in {p.pid for p in again.processes}
            assert len(again.processes) == 3
            trees[1].read(1)  # the other tree's next reading uses that second scan
            assert parents.scans == 2
        finally:
            late.kill()
            late.wait()
    finally:
        for proc in procs:
            for child in psutil.Process(proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child.kill()
            proc.kill()
            proc.wait()
