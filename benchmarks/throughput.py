"""Requests/s where the load generator is the bottleneck: bare Locust vs the harness.

    .venv/bin/python benchmarks/throughput.py [--duration 15] [--users 40] [--workers 1,2]

The target is Debian's nginx (one worker, ``return 200``: ``benchmarks/fast_target.py``),
which answers several times what Locust sends here, so the numbers are the load side's.
The user is the bundled ``HttpApiUser`` with no wait (``load.options.wait: [0, 0]``). For
each worker count N, side by side in one run:

- ``bare``: ``locust --headless --processes N`` (Locust's own master + N workers) straight at
  nginx with just the user class: no harness plugin, no proxy. Requests from ``--json``, over
  the span from its first to its last request.
- ``direct``: ``harness run`` with ``workers: N`` and ``load.host`` the nginx URL: the HDR
  plugin, the phase shape, the 1 s sampler (nginx's tree, toxiproxy, Locust, the harness).
  Requests from the run folder's ``latency.csv``.
- ``bare-toxiproxy``: bare Locust through a toxiproxy-server proxy with no toxic: what the
  proxy alone costs (on 2 cores its CPU is taken from the Locust workers).
- ``toxiproxy``: ``harness run`` through a toxiproxy-server proxy with no toxic (the
  harness's default topology): compared with ``bare-toxiproxy`` for the harness's own cost.

Prints req/s per configuration (median of ``--repeats``, and each) and the ratios to bare,
and beside them, over the load window (from /proc, four times a second): the CPU the Locust
workers spent per request (the load side's own cost, without the time spent waiting for a
core), and the cores used by everything else that shares the machine with them (Locust's
master, the harness and its supervisors, toxiproxy-server, nginx): on two cores, what
they use the workers cannot. On this shared VM it swings about as much as req/s
(one core's speed itself varies), so read both with their spread.
Each repeat runs the configurations in a rotated order, so slow minutes do not always fall
on the same one, and the ratios are also given paired: each repeat's run over that repeat's
bare run. Everything listens on 127.0.0.1; every run is bounded. The machine is
shared: read the spread of the repeats before the medians.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.fast_target import nginx_argv, start_nginx, start_toxiproxy  # noqa: E402
from harness.load import LOAD_START_FILE  # noqa: E402
from harness.runfolder import read_latency  # noqa: E402
from harness.testing import free_port  # noqa: E402

BARE_LOCUSTFILE = "from harness.load.users import HttpApiUser  # noqa: F401\n"
SPAWN_RATE = 1000
OPTIONS = {"path": "/", "wait": [0, 0]}
SCENARIO = """\
name: throughput
target: {{name: nginx, command: {command}, port: {port}, health: {{http: /}},
          metrics: {{fds: "proc:fds", rss: "proc:rss"}}}}
proxies: [{{name: front, upstream: nginx}}]
load: {{user: HttpApiUser, users: {users}, spawn_rate: {rate}, workers: {workers},
        host: {host}, options: {options}}}
phases: [{{name: steady, duration: {duration}s}}]
"""


def _rates(text: str) -> list[tuple[float, int, float, float]]:
    """(requests/s, requests, first, last) of every JSON stats array in ``text``: requests
    over the span from the
    first to the last request (``start_time`` .. ``last_request_timestamp``), so the
    workers' start-up under ``--processes`` does not count as load time. The workers print
    their own (empty) arrays too; the master's holds the run's."""
    decoder, found, i = json.JSONDecoder(), [], 0
    while (i := text.find("[", i)) != -1:
        try:
            value, end = decoder.raw_decode(text, i)
        except ValueError:
            i += 1
            continue
        entries = [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []
        requests = sum(int(e.get("num_requests", 0)) for e in entries)
        if requests:
            first = min(float(e["start_time"]) for e in entries)
            last = max(float(e["last_request_timestamp"]) for e in entries)
            found.append((requests / max(last - first, 1e-3), requests, first, last))
        i = end
    return found


ROLES = ("workers", "master", "harness", "toxiproxy", "nginx")


class CpuByRole:
    """CPU seconds (user + system) of this benchmark's descendant processes, by role:
    Locust ``workers`` and ``master`` (command line holding ``marker``, the run's
    locustfile: a worker says ``--worker`` or is forked by another Locust process), the
    ``harness`` (``harness run`` and its per-child supervisors), ``toxiproxy`` and ``nginx``.
    Found twice a second, read four times a second; the sums as time series, so the CPU of
    the load window alone can be read (start-up is not a per-request cost), and so can
    what the processes beside the workers take from them on a machine with two cores."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.seconds: dict[tuple[int, float], tuple[str, float]] = {}
        self.series: list[tuple[float, dict[str, float]]] = []
        self._procs: dict[tuple[int, float], tuple[str, psutil.Process]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> CpuByRole:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _is_locust(self, argv: list[str]) -> bool:
        """A Locust process of this run (a supervisor's argv holds its child's: not it)."""
        return (any(self.marker in arg for arg in argv)
                and not any(arg.endswith("_supervise.py") for arg in argv))

    def _role(self, proc: psutil.Process, locust: set[int]) -> str | None:
        argv = proc.cmdline()
        text = " ".join(argv)
        if "_supervise.py" in text:
            return "harness"
        if self._is_locust(argv):
            return "workers" if "--worker" in argv or proc.ppid() in locust else "master"
        if "toxiproxy" in text:
            return "toxiproxy"
        if "nginx" in text:
            return "nginx"
        return "harness" if "harness" in text else None

    def _find(self) -> None:
        procs = psutil.Process().children(recursive=True)
        locust = set()
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                if self._is_locust(proc.cmdline()):
                    locust.add(proc.pid)
        for proc in procs:
            with contextlib.suppress(psutil.Error):  # it exited between two looks
                key = (proc.pid, proc.create_time())
                if key not in self._procs and (role := self._role(proc, locust)) is not None:
                    self._procs[key] = (role, proc)

    def _loop(self) -> None:
        tick = 0
        while not self._stop.wait(0.25):
            if tick % 2 == 0:
                self._find()
            tick += 1
            for key, (role, proc) in list(self._procs.items()):
                with contextlib.suppress(psutil.Error):  # it exited between two looks
                    times = proc.cpu_times()
                    self.seconds[key] = (role, times.user + times.system)
            totals = dict.fromkeys(ROLES, 0.0)
            for role, used in self.seconds.values():
                totals[role] += used
            self.series.append((time.time(), totals))

    def between(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds of each role from epoch ``start`` to ``end`` (interpolated)."""
        if not self.series:
            return dict.fromkeys(ROLES, 0.0)
        at = [t for t, _ in self.series]
        return {role: float(np.interp(end, at, [v[role] for _, v in self.series])
                            - np.interp(start, at, [v[role] for _, v in self.series]))
                for role in ROLES}


def bare(tmp: Path, users: int, duration: int, workers: int,
         proxy: bool = False) -> tuple[float, int, float, dict[str, float]]:
    """Plain Locust (master + ``workers`` via --processes) at nginx, or through a
    toxiproxy-server proxy with no toxic (``proxy``): requests/s, requests, seconds of
    load, CPU seconds by role in them."""
    folder = tmp / f"nginx-bare-{time.time_ns()}"
    nginx, url = start_nginx(folder)
    toxiproxy = None
    try:
        if proxy:
            toxiproxy, listen, _ = start_toxiproxy(folder, url)
            url = f"http://{listen}"
        locustfile = tmp / f"bare_locustfile_{time.time_ns()}.py"
        locustfile.write_text(BARE_LOCUSTFILE)
        with CpuByRole(str(locustfile)) as cpu:
            out = subprocess.run(
                [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
                 "--host", url, "-u", str(users), "-r", str(SPAWN_RATE), "-t", f"{duration}s",
                 "--only-summary", "--processes", str(workers), "--json", "--loglevel",
                 "WARNING", "--exit-code-on-error", "0"],
                cwd=tmp, capture_output=True, text=True, timeout=duration + 90,
                env={**os.environ, "PYTHONPATH": str(REPO),
                     "HARNESS_LOAD_OPTIONS": json.dumps(OPTIONS)},
            )
        if out.returncode != 0:
            raise RuntimeError(f"bare locust failed ({out.returncode}):\n{out.stderr[-2000:]}")
        rate, requests, first, last = max(_rates(out.stdout), default=(0.0, 0, 0.0, 0.0))
        return rate, requests, last - first, cpu.between(first, last)
    finally:
        if toxiproxy is not None:
            toxiproxy.stop(grace=3.0)
        nginx.stop(grace=3.0)


def harness(tmp: Path, users: int, duration: int, workers: int,
            proxy: bool) -> tuple[float, int, float, dict[str, float]]:
    """``harness run`` at nginx (direct, or through toxiproxy): requests/s in its phase,
    requests, seconds of load, CPU seconds by role in them."""
    folder = tmp / f"nginx-h-{time.time_ns()}"
    folder.mkdir()
    port = free_port()
    argv = nginx_argv(folder, port)
    scenario = tmp / f"throughput-{time.time_ns()}.yaml"
    scenario.write_text(SCENARIO.format(
        command=json.dumps(argv), port=port, users=users, rate=SPAWN_RATE, workers=workers,
        host="front" if proxy else f"http://127.0.0.1:{port}", options=json.dumps(OPTIONS),
        duration=duration))
    out_dir = tmp / f"run-{time.time_ns()}"
    with CpuByRole(str(out_dir / "locustfile.py")) as cpu:
        proc = subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--out",
                               str(out_dir), "-q"], cwd=REPO, capture_output=True, text=True,
                              timeout=duration + 180)
    if proc.returncode not in (0, 1, 4):
        raise RuntimeError(f"harness run exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    requests = int(read_latency(out_dir / "latency.csv").requests.sum())
    # the phase: from the epoch the harness started the load (not the first whole second
    # with requests, which would count the partial seconds at either end as load time)
    start = float((out_dir / LOAD_START_FILE).read_text(encoding="utf-8"))
    return requests / duration, requests, duration, cpu.between(start, start + duration)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per configuration")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workers", default="1,2", help="Locust worker counts to compare")
    parser.add_argument("--configs", default="bare,direct,bare-toxiproxy,toxiproxy")
    args = parser.parse_args()
    configs = args.configs.split(",")
    counts = [int(w) for w in args.workers.split(",")]
    rates: dict[tuple[int, str], list[float]] = {(w, c): [] for w in counts for c in configs}
    cpu_us: dict[tuple[int, str], list[float]] = {(w, c): [] for w in counts for c in configs}
    beside: dict[tuple[int, str], list[dict[str, float]]] = {
        (w, c): [] for w in counts for c in configs}
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp_name:
        tmp = Path(tmp_name)
        for repeat in range(args.repeats):
            order = configs[repeat % len(configs):] + configs[:repeat % len(configs)]
            for workers in counts:
                for config in order:
                    run = bare if config.startswith("bare") else harness
                    rps, requests, span, cpu = run(tmp, args.users, args.duration, workers,
                                                   proxy=config.endswith("toxiproxy"))
                    per_request = cpu["workers"] / max(requests, 1) * 1e6
                    rates[(workers, config)].append(rps)
                    cpu_us[(workers, config)].append(per_request)
                    cores = {role: used / max(span, 1e-3) for role, used in cpu.items()}
                    beside[(workers, config)].append(cores)
                    print(f"repeat {repeat + 1}: {workers} worker(s) {config:<14} "
                          f"{rps:8.1f} req/s  {requests:7d} requests  workers "
                          f"{per_request:5.1f} us CPU/request; cores used: "
                          + ", ".join(f"{role} {used:.2f}" for role, used in cores.items()),
                          flush=True)
    print(f"\nnginx target, HttpApiUser with no wait, {args.users} users, {args.duration}s "
          f"each, {args.repeats} repeat(s) (median; all)")
    for workers in counts:
        base_cpu = _median(cpu_us.get((workers, "bare")))
        for config in configs:
            rate, cost = _median(rates[(workers, config)]), _median(cpu_us[(workers, config)])
            line = (f"  {workers} worker(s) {config:<14} {rate:8.1f} req/s "
                    f"[{', '.join(f'{v:.0f}' for v in rates[(workers, config)])}]")
            for base in ("bare", "bare-toxiproxy"):
                if config == base or base not in configs or (
                        base == "bare-toxiproxy" and config != "toxiproxy"):
                    continue
                base_rate = _median(rates[(workers, base)])
                line += f"\n  {'':<19} ratio to {base} {rate / base_rate:.3f}" if base_rate else ""
                paired = _paired(rates[(workers, config)], rates[(workers, base)])
                if len(paired) > 1:
                    line += (f"; paired (each repeat's own {base} run) median "
                             f"{statistics.median(paired):.3f} [{min(paired):.3f}-{max(paired):.3f}]")
            line += (f"\n  {'':<9} {'':<9} {cost:8.1f} us workers' CPU/request "
                     f"[{', '.join(f'{v:.1f}' for v in cpu_us[(workers, config)])}]")
            if base_cpu and config != "bare":
                line += f"  bare/this {base_cpu / cost:.3f}"
            line += f"\n  {'':<19} cores beside the workers (median): " + ", ".join(
                f"{role} {_median([c[role] for c in beside[(workers, config)]]):.2f}"
                for role in ROLES[1:])
            print(line)
    return 0


def _paired(values: list[float], bases: list[float]) -> list[float]:
    """Each repeat's value over the bare run of the same repeat (minutes apart, not the
    whole benchmark apart: the machine's slow and fast spells cancel more)."""
    return [v / b for v, b in zip(values, bases, strict=False) if b]


def _median(values: list[float] | None) -> float:
    return statistics.median(values) if values else 0.0


if __name__ == "__main__":
    sys.exit(main())
