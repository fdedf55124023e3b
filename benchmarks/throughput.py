"""Requests/s where the load generator is the bottleneck: bare Locust vs the harness.

    .venv/bin/python benchmarks/throughput.py [--mode side-by-side|sequential|both]
        [--duration 15] [--users 40] [--workers 1,2] [--repeats 3] [--cores 0,1]

The target is Debian's nginx (one worker, ``return 200``: ``benchmarks/fast_target.py``),
which answers several times what Locust sends here, so the numbers are the load side's.
The user is the bundled ``HttpApiUser`` with no wait (``load.options.wait: [0, 0]``).

**Side by side** (the default; root, or a delegated cgroup subtree): bare Locust and the
harness run *at the same time*, so they meet the same machine (on this shared VM a core's
speed moves by a third within minutes, far more than the few per cent measured). Each side
runs everything it needs:

- bare: ``locust --headless --processes N`` (its master + N workers), its own nginx and,
  ``toxiproxy``, its own toxiproxy-server with one proxy and no toxic; requests/s from
  ``--json`` over the span from its first to its last request;
- harness: ``harness run`` with ``workers: N`` (the HDR plugin, the phase shape, the 1 s
  sampler, the supervisors; its own nginx target), with ``load.host`` nginx and no proxy
  declared (``direct``: no toxiproxy-server runs, as on the bare side) or the proxy of its
  own toxiproxy-server (``toxiproxy``); requests/s from ``latency.csv``, over the whole
  seconds of the bare side's window.

Where they run (``--cores``, default ``0,1``: the machine) is :class:`Placement`: Locust
worker i of *each* side on core i mod n, so every core is shared by one worker of each side
and both meet that core's speed (left to the scheduler, each side tends to keep a vCPU of
its own, and the two move independently: bare beside bare read 0.92-1.34 that way);
everything else a side runs (nginx, toxiproxy-server, a master, the harness and its
supervisors) on the last core. Per side and core one cgroup of equal CPU weight
(``benchmarks/_cpugroup.py``) holds what the side runs there, so a core is split evenly
between the sides, and what a side runs beside its workers takes from its own workers on
that core, never from the other side's. With one worker that is the machine as one Locust
worker uses it (the worker's core, the rest on the other); with two, a side has half of
each core, so its fixed cost beside the workers weighs twice what it does with the whole
machine to itself. ``--cores 0``: everything of both sides on one core, each side one
cgroup (a fixed cost weighs four times as much with two workers: the harshest reading).
Each pair is run twice: harness beside bare, and bare beside bare, whose ratio is the
method's own error. Printed per pair: the ratio of requests/s, the ratio of the Locust
workers' CPU per request (the load side's cost per request), and the cores each side spent
beside its workers and nginx (master, harness, supervisors, toxiproxy).

**Sequential** (``--mode sequential``): each configuration alone with the whole machine
(``bare``, ``direct``, ``bare-toxiproxy``, ``toxiproxy``), in a rotated order per repeat,
with req/s, paired ratios, the workers' CPU per request and the cores by role (from /proc,
four times a second). Absolute numbers; its ratios swing with the machine between runs.

Everything listens on 127.0.0.1; every run is bounded.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._cpugroup import CpuGroup, CpuGroupError  # noqa: E402
from benchmarks.fast_target import nginx_argv, start_nginx, start_toxiproxy  # noqa: E402
from harness.load import LOAD_START_FILE  # noqa: E402
from harness.runfolder import read_latency, read_manifest  # noqa: E402
from harness.testing import ManagedProcess, free_port  # noqa: E402

BARE_LOCUSTFILE = "from harness.load.users import HttpApiUser  # noqa: F401\n"
SPAWN_RATE = 1000
OPTIONS = {"path": "/", "wait": [0, 0]}
SCENARIO = """\
name: throughput
target: {{name: nginx, command: {command}, port: {port}, health: {{http: /}},
          metrics: {{fds: "proc:fds", rss: "proc:rss"}}}}
{proxies}load: {{user: HttpApiUser, users: {users}, spawn_rate: {rate}, workers: {workers},
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
    Found twice a second (four times with ``place``: each worker that runs users is handed
    to it once, as soon as it is seen), read four times a second; the sums as time series,
    so the CPU of the load window alone can be read (start-up is not a per-request cost),
    and so can what the processes beside the workers take from them."""

    def __init__(self, marker: str, roots: list[int] | None = None,
                 place: Callable[[int], None] | None = None) -> None:
        self.marker = marker
        self.roots = roots  # these processes and their descendants (None: this one's)
        self.place = place  # called with the pid of each Locust worker found (None: left)
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
        if self.roots is None:
            procs = psutil.Process().children(recursive=True)
        else:
            procs = []
            for pid in self.roots:
                with contextlib.suppress(psutil.Error):
                    root = psutil.Process(pid)
                    procs += [root, *root.children(recursive=True)]
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
                    if self.place is not None and _makes_load(proc, locust):
                        self.place(proc.pid)

    def _loop(self) -> None:
        tick = 0
        while not self._stop.wait(0.25):
            if tick % 2 == 0 or self.place is not None:
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
        """CPU seconds of each role from epoch ``start`` to ``end`` (interpolated). Called
        while the sampling thread still appends (side by side reads a pair before its
        context closes): one snapshot, so the times and the values have the same length."""
        series = list(self.series)
        if not series:
            return dict.fromkeys(ROLES, 0.0)
        at = [t for t, _ in series]
        return {role: float(np.interp(end, at, [v[role] for _, v in series])
                            - np.interp(start, at, [v[role] for _, v in series]))
                for role in ROLES}


def _makes_load(proc: psutil.Process, locust: set[int]) -> bool:
    """A Locust worker that runs users: forked by another Locust process (``--processes``:
    bare Locust's master, the harness's one ``--worker`` process), or a ``--worker`` that
    forks none. The process that forks the harness's workers only waits for them."""
    argv = proc.cmdline()
    return proc.ppid() in locust or ("--worker" in argv and "--processes" not in argv)


def _pin_threads(pid: int, cpus: set[int]) -> None:
    """Every thread of ``pid`` onto ``cpus`` (sched_setaffinity of a pid moves one thread)."""
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(tid), cpus)


BARE_ENV = {**os.environ, "PYTHONPATH": str(REPO), "HARNESS_LOAD_OPTIONS": json.dumps(OPTIONS)}


def _bare_argv(locustfile: Path, url: str, users: int, duration: int, workers: int) -> list[str]:
    """Plain Locust: master + ``workers`` (--processes), no plugin, totals as JSON. The
    master's port is a free one (two bare runs at once would both take Locust's 5557)."""
    port = str(free_port())
    return [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--host", url,
            "-u", str(users), "-r", str(SPAWN_RATE), "-t", f"{duration}s", "--only-summary",
            "--processes", str(workers), "--master-bind-port", port, "--master-port", port,
            "--json", "--loglevel", "WARNING", "--exit-code-on-error", "0"]


def bare(tmp: Path, users: int, duration: int, workers: int,
         proxy: bool = False) -> tuple[float, int, float, dict[str, float]]:
    """Plain Locust (master + ``workers`` via --processes) at nginx, or through a
    toxiproxy-server proxy with no toxic (``proxy``), alone: requests/s, requests, seconds
    of load, CPU seconds by role in them."""
    side = BareSide(tmp, None, users, duration, workers, proxy)
    try:
        with CpuByRole(side.marker) as cpu:
            side.launch()
            rate, requests, first, last = side.result()
        return rate, requests, last - first, cpu.between(first, last)
    finally:
        side.stop()


def _harness_scenario(tmp: Path, users: int, duration: int, workers: int,
                      proxy: bool) -> tuple[Path, Path]:
    """A scenario for ``harness run`` at its own nginx (through its proxy or not) with one
    phase of ``duration`` seconds; the run folder it will write."""
    folder = tmp / f"nginx-h-{time.time_ns()}"
    folder.mkdir()
    port = free_port()
    scenario = tmp / f"throughput-{time.time_ns()}.yaml"
    scenario.write_text(SCENARIO.format(
        command=json.dumps(nginx_argv(folder, port)), port=port, users=users, rate=SPAWN_RATE,
        workers=workers, host="front" if proxy else f"http://127.0.0.1:{port}",
        # direct: no proxy, so no toxiproxy-server (bare Locust's direct side has none)
        proxies="proxies: [{name: front, upstream: nginx}]\n" if proxy else "",
        options=json.dumps(OPTIONS), duration=duration))
    return scenario, tmp / f"run-{time.time_ns()}"


def _harness_argv(scenario: Path, out_dir: Path) -> list[str]:
    return [sys.executable, "-m", "harness", "run", str(scenario), "--out", str(out_dir), "-q"]


def harness(tmp: Path, users: int, duration: int, workers: int,
            proxy: bool) -> tuple[float, int, float, dict[str, float]]:
    """``harness run`` at nginx (direct, or through toxiproxy): requests/s in its phase,
    requests, seconds of load, CPU seconds by role in them."""
    scenario, out_dir = _harness_scenario(tmp, users, duration, workers, proxy)
    with CpuByRole(str(out_dir / "locustfile.py")) as cpu:
        proc = subprocess.run(_harness_argv(scenario, out_dir), cwd=REPO, capture_output=True,
                              text=True, timeout=duration + 180)
    if proc.returncode not in (0, 1, 4):
        raise RuntimeError(f"harness run exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    requests = int(read_latency(out_dir / "latency.csv").requests.sum())
    # the phase: from the epoch the harness started the load (not the first whole second
    # with requests, which would count the partial seconds at either end as load time)
    start = float((out_dir / LOAD_START_FILE).read_text(encoding="utf-8"))
    return requests / duration, requests, duration, cpu.between(start, start + duration)


# ---------------------------------------------------------------- side by side
SETTLE = 2.0  # seconds after the harness's load began before the bare side starts
BAR = 0.98  # issue 14: the harness reaches 9,800 req/s where bare Locust reaches ~10,000
MARGIN = 12  # seconds the harness's phase outlasts the bare side's (its start-up, the tail)


class BareSide:
    """Plain Locust with its own nginx (and toxiproxy-server), all in ``group`` (None: where
    this process is)."""

    def __init__(self, tmp: Path, group: CpuGroup | None, users: int, duration: int,
                 workers: int, proxy: bool) -> None:
        self.folder = tmp / f"nginx-bare-{time.time_ns()}"
        self.args = (users, duration, workers)
        self.group = group
        self.servers: list[ManagedProcess] = []
        self.proc: subprocess.Popen[bytes] | None = None
        nginx, self.url = start_nginx(self.folder)
        self.servers.append(nginx)
        if proxy:
            toxiproxy, listen, _ = start_toxiproxy(self.folder, self.url)
            self.servers.append(toxiproxy)
            self.url = f"http://{listen}"
        if group is not None:
            for server in self.servers:
                group.add(_pid(server))

    @property
    def marker(self) -> str:
        return str(self.folder / "bare_locustfile.py")

    def pids(self) -> list[int]:
        """Its Locust master (the workers are its children), nginx, toxiproxy-server."""
        assert self.proc is not None
        return [self.proc.pid, *(_pid(server) for server in self.servers)]

    def launch(self) -> None:
        locustfile = Path(self.marker)
        locustfile.write_text(BARE_LOCUSTFILE)
        with (self.folder / "locust.out").open("wb") as out, \
                (self.folder / "locust.err").open("wb") as err:
            argv = _bare_argv(locustfile, self.url, *self.args)
            self.proc = subprocess.Popen(argv if self.group is None else self.group.argv(argv),
                                         cwd=self.folder, stdout=out, stderr=err, env=BARE_ENV)

    def result(self) -> tuple[float, int, float, float]:
        """Requests/s, requests, epoch of the first and the last request."""
        assert self.proc is not None
        code = self.proc.wait(timeout=self.args[1] + 90)
        if code != 0:
            err = (self.folder / "locust.err").read_text(errors="replace")
            raise RuntimeError(f"bare locust failed ({code}):\n{err[-2000:]}")
        found = _rates((self.folder / "locust.out").read_text(errors="replace"))
        if not found:
            raise RuntimeError(f"bare locust printed no stats (see {self.folder})")
        return max(found)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for server in reversed(self.servers):
            server.stop(grace=3.0)


class HarnessSide:
    """``harness run`` (its own nginx, toxiproxy-server, sampler, Locust), all in ``group``,
    with a phase long enough to cover the bare side's window."""

    def __init__(self, tmp: Path, group: CpuGroup, users: int, duration: int, workers: int,
                 proxy: bool) -> None:
        scenario, self.out_dir = _harness_scenario(tmp, users, duration + MARGIN, workers, proxy)
        self.log = tmp / f"{self.out_dir.name}.log"
        self.marker = str(self.out_dir / "locustfile.py")
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(group.argv(_harness_argv(scenario, self.out_dir)),
                                         cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        self.timeout = duration + MARGIN + 180

    def wait_for_load(self) -> None:
        """Until the harness has started its load (``.load-start``) and SETTLE more."""
        deadline = time.monotonic() + 120
        while not (self.out_dir / LOAD_START_FILE).exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"harness run did not start its load:\n{self._tail()}")
            time.sleep(0.1)
        time.sleep(SETTLE)

    def rate_between(self, first: float, last: float) -> tuple[float, int]:
        """Requests/s and requests in the whole seconds of latency.csv inside [first, last]
        (epoch), once the run has ended."""
        code = self.proc.wait(timeout=self.timeout)
        if code not in (0, 1, 4):
            raise RuntimeError(f"harness run exited {code}:\n{self._tail()}")
        t0 = float(read_manifest(self.out_dir / "run.json")["t0"])
        table = read_latency(self.out_dir / "latency.csv")
        start = t0 + table.t
        inside = (start >= first) & (start + 1 <= last)
        seconds = int(inside.sum())
        if seconds < (last - first) - 3:
            raise RuntimeError(f"harness run has {seconds} whole seconds in the bare side's "
                               f"{last - first:.1f} s window (see {self.out_dir})")
        requests = int(table.requests[inside].sum())
        return requests / max(seconds, 1), requests

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # the harness stops its children and writes what it has
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _pid(proc: ManagedProcess) -> int:
    if proc.pid is None:
        raise RuntimeError(f"{proc.name} has no pid")
    return proc.pid


@dataclass
class Side:
    """One side of a side-by-side run, over the bare side's window."""

    rate: float  # requests/s
    cores: dict[str, float]  # cores used by role (CpuByRole) in the window
    workers_us: float  # the Locust workers' CPU per request, microseconds
    span: float  # seconds of the window (the bare side's first to last request)


def _side(rate: float, cpu: CpuByRole, first: float, last: float) -> Side:
    span = max(last - first, 1e-3)
    used = cpu.between(first, last)
    return Side(rate, {role: seconds / span for role, seconds in used.items()},
                used["workers"] / max(rate * span, 1.0) * 1e6, span)


class Placement:
    """Where one side runs on ``cores``: per core one cgroup of equal CPU weight, Locust
    worker i (in the order found) on core i mod n, everything else on the last core, in
    the group of that core's workers.

    CFS shares a core between the groups that have work on it; a group spanning several
    cores has its weight split between them by where its load is, so a side's processes
    beside its workers (nginx, toxiproxy-server, a master, the harness) on one core would
    lower its workers' weight on another. With one group per core a side's helpers take
    only from its own workers on their core, never from the other side's; with one core
    (``--cores 0``) everything of a side is one group."""

    def __init__(self, name: str, cores: list[int], stack: contextlib.ExitStack) -> None:
        self.cores = cores
        self.groups = [stack.enter_context(CpuGroup(f"{name}-c{core}")) for core in cores]
        self.placed = 0

    @property
    def helpers(self) -> CpuGroup:
        """The group everything but the workers starts in (the last core's)."""
        return self.groups[-1]

    def place_worker(self, pid: int) -> None:
        i = self.placed % len(self.cores)
        self.placed += 1
        _pin_threads(pid, {self.cores[i]})
        with contextlib.suppress(psutil.Error, OSError):  # it exited
            self.groups[i].add(pid)


def side_by_side(tmp: Path, users: int, duration: int, workers: int, proxy: bool,
                 against: str, cores: list[int]) -> tuple[Side, Side]:
    """Bare Locust and ``against`` (``harness``, or ``bare`` again: the method's own
    error) at the same time, each placed on ``cores`` (:class:`Placement`) with its own
    nginx (and toxiproxy-server): each side's requests/s and CPU over the bare side's
    window. This process's affinity (the last core) is what the sides' processes start
    with."""
    with contextlib.ExitStack() as stack:
        place_a = Placement("soak-bench-a", cores, stack)
        place_b = Placement("soak-bench-b", cores, stack)
        side_a = BareSide(tmp, place_a.helpers, users, duration, workers, proxy)
        stack.callback(side_a.stop)
        if against == "bare":
            side_b = BareSide(tmp, place_b.helpers, users, duration, workers, proxy)
            stack.callback(side_b.stop)
            side_a.launch()
            side_b.launch()
            cpu_b = stack.enter_context(CpuByRole(side_b.marker, side_b.pids(),
                                                  place_b.place_worker))
        else:
            harness_side = HarnessSide(tmp, place_b.helpers, users, duration, workers, proxy)
            stack.callback(harness_side.stop)
            cpu_b = stack.enter_context(CpuByRole(harness_side.marker, [harness_side.proc.pid],
                                                  place_b.place_worker))
            harness_side.wait_for_load()
            side_a.launch()
        cpu_a = stack.enter_context(CpuByRole(side_a.marker, side_a.pids(), place_a.place_worker))
        rate_a, _, first, last = side_a.result()
        if against == "bare":
            rate_b, _, _, _ = side_b.result()
        else:
            rate_b, _ = harness_side.rate_between(first, last)
        return _side(rate_a, cpu_a, first, last), _side(rate_b, cpu_b, first, last)


def run_side_by_side(args: argparse.Namespace, counts: list[int]) -> None:
    configs = [c for c in ("direct", "toxiproxy") if c in args.side_configs.split(",")]
    pairs: dict[tuple[int, str, str], list[tuple[Side, Side]]] = {}
    # everything a side starts inherits this affinity; each Locust worker is moved when found
    cores = [int(core) for core in args.cores.split(",")]
    os.sched_setaffinity(0, {cores[-1]})
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp_name:
        tmp = Path(tmp_name)
        for repeat in range(args.repeats):
            for workers in counts:
                for config in configs:
                    for against in ("harness", "bare"):
                        base, other = side_by_side(tmp, args.users, args.duration, workers,
                                                   config == "toxiproxy", against, cores)
                        pairs.setdefault((workers, config, against), []).append((base, other))
                        print(f"repeat {repeat + 1}: {workers} worker(s) {config:<9} "
                              f"{against:<7} {other.rate:8.1f} req/s "
                              f"({other.workers_us:5.1f} us/request) beside bare "
                              f"{base.rate:8.1f} req/s ({base.workers_us:5.1f} us/request): "
                              f"{against}/bare {_ratio(other.rate, base.rate):.3f}; "
                              f"cores used: {against} {_cores(other)}; bare {_cores(base)}",
                              flush=True)
    print(f"\nside by side: nginx target, HttpApiUser with no wait, {args.users} users, "
          f"{args.duration}s each, {args.repeats} repeat(s); "
          + (f"on cores {args.cores}: worker i of each side on core i mod {len(cores)}, "
             f"everything else on core {cores[-1]}, each side one cgroup of equal CPU weight "
             "per core" if len(cores) > 1 else
             f"both sides on core {args.cores}, each in one cgroup of equal CPU weight")
          + ", each with its own nginx (and toxiproxy-server) (pooled (mean, 95% CI), "
          "pairs median [range])")
    bar_met = []
    for workers in counts:
        for config in configs:
            for against in ("harness", "bare"):
                runs = pairs[(workers, config, against)]
                rates = [_ratio(other.rate, base.rate) for base, other in runs]
                costs = [_ratio(base.workers_us, other.workers_us) for base, other in runs]
                pooled = _pooled(runs)
                note = "  (the method's own error)" if against == "bare" else ""
                print(f"  {workers} worker(s) {config:<9} {against}/bare: req/s pooled "
                      f"{pooled:.3f} {_interval(rates)}, pairs {_spread(rates)}; workers' "
                      f"CPU per request, bare/{against} {_spread(costs)}; cores beside the "
                      f"workers {against} {statistics.median(_beside(o) for _, o in runs):.3f}, "
                      f"bare {statistics.median(_beside(b) for b, _ in runs):.3f}{note}")
                if against == "harness":
                    bar_met.append(pooled >= BAR)
    verdict = ("met in every configuration" if all(bar_met) else
               f"NOT met: met in {sum(bar_met)} of {len(bar_met)} configurations")
    print(f"pooled: every pair's requests added up on each side (harness or bare beside bare); "
          f"95% CI: of the mean of the pairs' ratios (Student's t); issue 14's bar, pooled "
          f"harness/bare >= {BAR}: {verdict}")


def _pooled(runs: list[tuple[Side, Side]]) -> float:
    """Every pair's requests added up on each side: the ratio of the sums (each pair weighs
    by its requests), so a long run reads as one long pair."""
    return _ratio(sum(o.rate * o.span for _, o in runs), sum(b.rate * b.span for b, _ in runs))


def _interval(values: list[float]) -> str:
    """The mean of ``values`` with its 95% confidence interval (Student's t), or nothing
    with fewer than two."""
    if len(values) < 2:
        return "(one pair: no interval)"
    from scipy import stats

    mean, sem = statistics.fmean(values), statistics.stdev(values) / len(values) ** 0.5
    half = float(stats.t.ppf(0.975, len(values) - 1)) * sem
    return f"(mean {mean:.3f}, 95% CI {mean - half:.3f}-{mean + half:.3f}, n={len(values)})"


def _beside(side: Side) -> float:
    """Cores a side used beside its Locust workers and its nginx (its master, harness,
    toxiproxy-server)."""
    return sum(used for role, used in side.cores.items() if role not in ("workers", "nginx"))


def _cores(side: Side) -> str:
    return (f"{sum(side.cores.values()):.3f} (workers {side.cores['workers']:.3f}, nginx "
            f"{side.cores['nginx']:.3f}, the rest {_beside(side):.3f}: "
            + ", ".join(f"{role} {side.cores[role]:.4f}" for role in ROLES[1:4]) + ")")


def _ratio(value: float, base: float) -> float:
    return value / base if base else 0.0


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} [{min(values):.3f}-{max(values):.3f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per configuration")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3,
                        help="pairs per configuration (one pair reads within ~2%%)")
    parser.add_argument("--workers", default="1,2", help="Locust worker counts to compare")
    parser.add_argument("--mode", choices=("side-by-side", "sequential", "both"),
                        default="side-by-side",
                        help="side-by-side: the ratios, bare and harness at the same time on "
                        "equal CPU shares; sequential: each configuration alone (req/s, CPU "
                        "by role)")
    parser.add_argument("--configs", default="bare,direct,bare-toxiproxy,toxiproxy",
                        help="sequential mode's configurations")
    parser.add_argument("--cores", default="0,1",
                        help="side by side: the cores both sides share (worker i of each on "
                        "core i mod n, everything else on the last); one core: all on it")
    parser.add_argument("--side-configs", default="direct,toxiproxy",
                        help="side-by-side mode's configurations")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    if args.mode != "sequential":
        try:
            run_side_by_side(args, counts)
        except CpuGroupError as exc:
            print(f"side by side needs cgroups: {exc}", file=sys.stderr)
            return 2
    if args.mode != "side-by-side":
        run_sequential(args, counts)
    return 0


def run_sequential(args: argparse.Namespace, counts: list[int]) -> None:
    configs = args.configs.split(",")
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


def _paired(values: list[float], bases: list[float]) -> list[float]:
    """Each repeat's value over the bare run of the same repeat (minutes apart, not the
    whole benchmark apart: the machine's slow and fast spells cancel more)."""
    return [v / b for v, b in zip(values, bases, strict=False) if b]


def _median(values: list[float] | None) -> float:
    return statistics.median(values) if values else 0.0


if __name__ == "__main__":
    sys.exit(main())
