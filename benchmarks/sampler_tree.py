"""What a sampler tick costs for a target's process tree holding 10,000 TCP connections.

A target (``sh -c`` wrapper -> a Python server -> two forked workers sharing the listening
socket) accepts ``--conns`` connections from this process on 127.0.0.1 and holds them.
Measured side by side in one run, interleaved tick by tick:

- ``single-PID /proc (before)``: the sampler's reading before process trees (``os.listdir``
  of one ``/proc/<pid>/fd``, ``statm``, ``status``) of the process holding most sockets;
- ``tree: fds, rss, threads``: ``proc:fds``, ``proc:rss``, ``proc:threads`` of the tree;
- ``tree: all five``: the same plus ``proc:conns`` and ``proc:close_wait`` (fd links matched
  against the namespace's TCP states: by sock_diag netlink since issue 14, before that the
  ``/proc/<pid>/net/tcp{,6}`` text): the default set of a ``command:`` target;
- ``TCP states``: the two ways of reading the states alone, side by side;
- ``psutil.net_connections``: the alternative for the connection counts (one system-wide
  call, filtered by the tree's pids) and ``Process.net_connections`` per process of the tree.

Run: ``.venv/bin/python benchmarks/sampler_tree.py [--conns 10000] [--ticks 15]``
(RLIMIT_NOFILE is raised to its hard limit; each side needs one fd per connection).
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from harness.metrics import ProcessTree, diag_tcp_states, read_proc_tcp_states

SERVER = r'''
import os, resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen(4096)
for _ in range(2):
    if os.fork() == 0:
        held = []
        while True:
            held.append(lsock.accept()[0])
with open(sys.argv[1] + ".tmp", "w") as fh:
    fh.write(str(lsock.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    time.sleep(1)
'''
PAGE = os.sysconf("SC_PAGE_SIZE")


def single_pid_before(pid: int) -> tuple[float, float, float]:
    """The three proc: readings as the sampler did them before process trees (one PID)."""
    base = Path(f"/proc/{pid}")
    fds = float(len(os.listdir(base / "fd")))
    rss = float(int((base / "statm").read_text().split()[1]) * PAGE)
    threads = 0.0
    for line in (base / "status").read_text().splitlines():
        if line.startswith("Threads:"):
            threads = float(line.split()[1])
    return fds, rss, threads


def tree_pids(root: int) -> set[int]:
    proc = psutil.Process(root)
    return {root, *(p.pid for p in proc.children(recursive=True))}


def psutil_system_wide(root: int) -> int:
    pids = tree_pids(root)
    return len({(c.laddr, c.raddr) for c in psutil.net_connections(kind="tcp")
                if c.pid in pids and c.status == psutil.CONN_ESTABLISHED})


def psutil_per_process(root: int) -> int:
    seen = set()
    for pid in tree_pids(root):
        for c in psutil.Process(pid).net_connections(kind="tcp"):
            if c.status == psutil.CONN_ESTABLISHED:
                seen.add((c.laddr, c.raddr))
    return len(seen)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return (time.perf_counter() - start) * 1000.0, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conns", type=int, default=10_000)
    parser.add_argument("--ticks", type=int, default=15)
    parser.add_argument("--no-psutil-alternatives", action="store_true",
                        help="skip the (slow) psutil net_connections variants")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.conns + 100:
        print(f"RLIMIT_NOFILE hard limit {hard} < {args.conns + 100}: lower --conns", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        script, port_file = Path(tmp) / "server.py", Path(tmp) / "port"
        script.write_text(SERVER, encoding="utf-8")
        wrapper = subprocess.Popen(
            ["sh", "-c", f'"{sys.executable}" "{script}" "{port_file}"; true'],
            start_new_session=True)
        clients: list[socket.socket] = []
        try:
            while not port_file.exists():
                time.sleep(0.05)
            port = int(port_file.read_text())
            for _ in range(args.conns):
                clients.append(socket.create_connection(("127.0.0.1", port)))
            # two trees of the same target (sources share one per pid, read once a tick)
            kinds = ("fds", "rss", "threads", "conns", "close_wait")
            # max_age 0: every call a fresh reading (no reuse across the interleaved variants)
            basic, full = ProcessTree(wrapper.pid, max_age=0), ProcessTree(wrapper.pid, max_age=0)
            text = ProcessTree(wrapper.pid, max_age=0, sock_diag=False)
            for kind in kinds[:3]:
                basic.want(kind)
            for kind in kinds:
                full.want(kind)
                text.want(kind)
            tick = itertools.count()  # a new reader each time: a fresh reading, as a new tick

            def totals(tree: ProcessTree) -> list[float]:
                reading = tree.read(next(tick))
                assert reading is not None, "the target exited"
                return [reading.totals[k] for k in kinds if k in tree.wanted]

            while totals(full)[3] != args.conns:  # wait until every connection is accepted
                time.sleep(0.2)
            busiest = max(tree_pids(wrapper.pid), key=lambda p: psutil.Process(p).num_fds())
            n_procs = len(tree_pids(wrapper.pid))
            variants: dict[str, Callable[[], object]] = {
                "single-PID /proc (before)": lambda: single_pid_before(busiest),
                "tree: fds, rss, threads": lambda: totals(basic),
                "tree: all five, TCP states from /proc text": lambda: totals(text),
                "tree: all five, TCP states by sock_diag": lambda: totals(full),
                "TCP states: /proc/<pid>/net/tcp{,6} text": lambda: len(
                    read_proc_tcp_states(wrapper.pid)),
                "TCP states: sock_diag netlink": lambda: len(diag_tcp_states()),
            }
            if not args.no_psutil_alternatives:
                variants["conns via psutil.net_connections"] = lambda: psutil_system_wide(
                    wrapper.pid)
                variants["conns via Process.net_connections"] = lambda: psutil_per_process(
                    wrapper.pid)
            costs: dict[str, list[float]] = {name: [] for name in variants}
            answers: dict[str, object] = {}
            for _ in range(args.ticks):  # interleaved: every variant sees the same machine
                for name, fn in variants.items():
                    ms, answers[name] = timed(fn)
                    costs[name].append(ms)
            base = statistics.median(costs["single-PID /proc (before)"])
            tcp_lines = sum(len(Path(f"/proc/{wrapper.pid}/net/{n}").read_bytes().splitlines())
                            for n in ("tcp", "tcp6"))
            print(f"{args.conns} connections held by a tree of {n_procs} processes "
                  f"({len(psutil.pids())} processes on the machine, {tcp_lines} lines in "
                  f"/proc/net/tcp{{,6}}), {args.ticks} ticks, median ms per tick:")
            for name, values in costs.items():
                med = statistics.median(values)
                print(f"  {name:40s} {med:8.2f} ms  x{med / base:7.1f}   -> {answers[name]}")
        finally:
            for client in clients:
                client.close()
            os.killpg(wrapper.pid, signal.SIGKILL)
            wrapper.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
