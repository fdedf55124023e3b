"""One run: preflight, bring the topology up, drive the phase timeline, tear down, judge.

``with`` blocks and ``finally`` make teardown unconditional: every process is stopped and
every toxic removed on a normal end, an error, a full disk, SIGINT or SIGTERM; the report is
written from the data so far in every case. Signals only set ``stop`` from before anything
starts until the report's last byte (``exit_signals``). ``run.json`` records the harness's
own pid and start time, so a run whose harness was killed is found, cleaned up and finished
by the next one (``harness._recover``).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from harness import __version__
from harness._finish import ReportNotWritten, finish
from harness._process import wait_until
from harness._procs import RUN_ID_ENV, identity
from harness._progress import LatencyTail, Progress, Status
from harness._signals import StopRequest, exit_signals
from harness.backends import Backend, BackendContext, TargetHandle, Topology, make_backend
from harness.errors import (
    EnvironmentFailure,
    HarnessError,
    InputError,
    RunFolderWriteError,
    ScenarioError,
    ToolFrozen,
)
from harness.events import EventKind
from harness.limits import needed_fds, raise_open_files
from harness.load import arrival_counts
from harness.metrics import Sampler
from harness.metrics.sources import ProcSource
from harness.provenance import Provenance, provenance
from harness.runfolder import EventLog, write_json_atomic
from harness.scenario import NetworkFault, Phase, PodFault, Scenario, path_problems
from harness.typing import LoadRunner
from harness.verdicts import RunStatus, Summary
from harness.watchdog import FROZEN_AFTER, PROBE_EVERY, Watchdog

# (scenario, host URL, run folder, t0) -> the load runner: Locust, or a fake in unit tests
# the load's host URL, or its URLs when the proxy listens in several toxiproxy-servers
LoadFactory = Callable[[Scenario, str | list[str], Path, float], LoadRunner]

POLL = 0.2  # seconds between looks while waiting for something to happen (start, exit)
# seconds between two passes of the phase loop (processes, watchdog, progress), or the
# watchdog's probe interval when shorter; a signal wakes it at once. At 0.2 s the passes
# were ~0.002 of a core, a third of the harness process's beside a loaded Locust
# (benchmarks/throughput.py, nginx target: 0.006 -> 0.004 of a core at 0.5 s)
PHASE_POLL = 0.5
LOCUST_READY_TIMEOUT = 60.0


@dataclass
class RunOptions:
    """How to run (not what: that is the scenario)."""

    out: Path | None = None
    backend: str = "local"
    reports_root: Path = Path("reports")
    quiet: bool = False
    live: bool | None = None
    # seconds a tool (toxiproxy API, Locust heartbeat) may stay silent before the run ends
    # as a tool failure (exit 3); see harness/watchdog.py
    tool_timeout: float = FROZEN_AFTER
    # target version and CI job URL for run.json; None: read from the environment
    provenance: Provenance | None = None


@dataclass
class RunOutcome:
    summary: Summary
    run_dir: Path


def new_run_dir(scenario: Scenario, options: RunOptions) -> Path:
    """A fresh run folder; never reuses one that holds files (nothing on disk is lost)."""
    if options.out is not None:
        path = options.out
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise InputError(f"--out {path}: exists and is not empty; not overwriting it")
    else:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = options.reports_root / f"{scenario.name}-{stamp}"
        n = 1
        while path.exists():
            n += 1
            path = options.reports_root / f"{scenario.name}-{stamp}-{n}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, a folder we may not write in
        raise InputError(f"--out {path}: cannot create the run folder "
                         f"({exc.strerror or exc})") from exc
    # absolute: child processes (Locust) run with their own working directories
    return path.resolve()


def _versions(backend: Backend) -> dict[str, str]:
    versions = {"harness": __version__, "python": platform.python_version()}
    # never import locust here: it monkey-patches the whole process with gevent
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        versions["locust"] = importlib.metadata.version("locust")
    versions.update(backend.versions())
    return versions


def self_handle() -> TargetHandle:
    """The harness's own process as a control series (``harness``): its RSS and threads
    over a long run, judged like the other tools' (never the target's verdict)."""
    pid = os.getpid()
    return TargetHandle(name="harness", role="control", pid=pid, sources={
        k: ProcSource(pid, k, tree=False) for k in ("rss", "threads")})


def _locust(scenario: Scenario, host_url: str | list[str], run_dir: Path, t0: float) -> LoadRunner:
    from harness.load import LocustRun  # only when a real run needs it

    return LocustRun(scenario, host_url, run_dir, t0)


@dataclass(frozen=True)
class AppliedFault:
    """A fault in force during a phase: what to log when it ends, and how to undo it."""

    label: str  # the toxic's name, or container-<action>-<target>
    fields: dict[str, Any]  # the fault_removed event's fields
    undo: Callable[[], None]


class Run:
    """The state of one run; ``execute()`` drives it start to finish.

    ``backend`` and ``load`` default to the one ``options.backend`` names and to Locust;
    unit tests pass ``harness.testing.FakeBackend`` and ``FakeLoad`` instead.
    """

    def __init__(self, scenario: Scenario, options: RunOptions, *,
                 backend: Backend | None = None, load: LoadFactory | None = None,
                 stop: StopRequest | None = None) -> None:
        self.scenario = scenario
        self.options = options
        # preflight: everything that can be checked is checked before anything starts
        # the files the scenario names (the targets' only when the local backend starts them)
        problems = path_problems(scenario, targets=backend is None and options.backend == "local")
        if problems:
            raise ScenarioError(f"scenario {scenario.name!r}", problems)
        self.backend = backend if backend is not None else make_backend(options.backend, scenario)
        self._load_factory: LoadFactory = load or _locust
        try:
            self.run_dir = new_run_dir(scenario, options)
        except BaseException:
            if backend is None:  # what it reserved (a network namespace's record) is let go
                self.backend.down()
            raise
        # every child inherits this: tests (and people) can find anything a run left behind
        os.environ[RUN_ID_ENV] = str(self.run_dir.resolve())
        self.t0 = time.time()
        self.events = EventLog(self.run_dir / "events.jsonl", self.t0)
        # the CLI passes the process-wide request: a signal before the run began counts too
        self.stop = stop if stop is not None else StopRequest()
        self._teardown_failure: EnvironmentFailure | None = None
        self.manifest: dict[str, Any] = {
            "schema_version": 1,
            "scenario": scenario.name,
            "variant": scenario.variant,
            "backend": options.backend,
            "t0": self.t0,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.t0)),
            "ended_at": None,
            "status": "running",
            "reason": "",
            "harness": identity(),  # pid + start time: is the harness of this run still alive?
            "reported": False,  # true once the report is written in full
            "versions": _versions(self.backend),
            **(options.provenance or provenance(None, options.backend)).manifest_fields(),
            "argv": sys.argv,
            "targets": [],
            "proxies": {},
        }
        (self.run_dir / "scenario.yaml").write_text(
            yaml.safe_dump(scenario.model_dump(mode="json", exclude_none=True), sort_keys=False),
            encoding="utf-8")
        self._save_manifest()
        self.sampler: Sampler | None = None
        self.locust: LoadRunner | None = None
        self.topology: Topology | None = None
        self.watchdog: Watchdog | None = None
        self._alive_at = time.time()  # when _check_processes last found every process alive
        self.progress = Progress(scenario.name, quiet=options.quiet, live=options.live)

    def _save_manifest(self) -> None:
        write_json_atomic(self.run_dir / "run.json", self.manifest)

    def _set_status(self, status: RunStatus, reason: str = "") -> None:
        if self.manifest["status"] in ("running", "completed"):
            self.manifest["status"] = status
            self.manifest["reason"] = reason

    # ------------------------------------------------------------------ driving

    def execute(self) -> RunOutcome:
        """Drive the run, tear down, write the report; signals are deferred all along."""
        with exit_signals(self.stop):
            env_error = self._drive()
            self.progress.log("analysing and writing the report...")
            try:
                summary = finish(self.run_dir, self.scenario)
            except ReportNotWritten as exc:
                if env_error is not None:  # both: the run's own failure first
                    raise EnvironmentFailure(f"{env_error}\n{exc}") from exc
                raise
            self.manifest["reported"] = True
            # only saves the next run some work: if this write fails, it finishes the folder again
            with contextlib.suppress(OSError):
                self._save_manifest()
        if env_error is not None:
            raise env_error
        return RunOutcome(summary, self.run_dir)

    def _drive(self) -> HarnessError | None:
        """Up, timeline, teardown; the environment failure that ended the run, if any."""
        env_error: HarnessError | None = None
        trace = ""
        with self.progress:
            self.events.emit(EventKind.RUN_START, scenario=self.scenario.name, variant=self.scenario.variant,
                             backend=self.options.backend, run_dir=str(self.run_dir))
            self.progress.log(f"run folder: {self.run_dir}")
            self._open_files()
            try:
                if not self.stop.requested:
                    self._up()
                if not self.stop.requested:
                    self._timeline()
                self._check_writes()
                if self.manifest["status"] == "running" and not self.stop.requested:
                    self._set_status("completed")
            except EnvironmentFailure as exc:
                env_error = exc
                if isinstance(exc, ToolFrozen):
                    self._tool_failed(exc.tool, exc.what, exc.since)
            except KeyboardInterrupt:  # only outside the main thread (no handlers there)
                self.stop.set("SIGINT")
            except OSError as exc:  # a write of our own (run.json, evidence) failed
                env_error = RunFolderWriteError(f"writing the run folder {self.run_dir} "
                                                f"failed: {exc}")
                env_error.__cause__ = exc
            except Exception as exc:  # a harness bug: still tear down and write the data so far
                env_error = EnvironmentFailure(f"the harness failed: {exc!r}")
                env_error.__cause__ = exc
                trace = traceback.format_exc()
            finally:
                if env_error is not None:
                    self._set_status("error", str(env_error))
                    self.events.emit(EventKind.ERROR, message=str(env_error),
                                     **({"traceback": trace} if trace else {}))
                if self.stop.requested:
                    self._set_status("interrupted", f"stopped by {self.stop.signal_name}")
                    self.events.emit(EventKind.INTERRUPTED, signal=self.stop.signal_name)
                self._teardown()
        if env_error is None:
            # a write that failed during teardown still means the data is not all there
            failure = self._teardown_failure or self._write_failure()
            if failure is not None:
                env_error = failure
                self._set_status("error", str(failure))
                with contextlib.suppress(OSError):
                    self._save_manifest()
        return env_error

    def _open_files(self) -> None:
        """Soft open-file limit up to the hard one, before any child starts (they inherit
        it); a hard limit below the scenario's estimate is said plainly, even with -q."""
        limit = raise_open_files(needed_fds(self.scenario, self.backend.toxiproxy_processes))
        self.events.emit(EventKind.FD_LIMIT, before=limit.before, soft=limit.soft,
                         hard=limit.hard, needed=limit.needed)
        self.progress.log(limit.message())
        if self.backend.toxiproxy_processes > 1:
            self.progress.log(f"toxiproxy: {self.backend.toxiproxy_processes} toxiproxy-server "
                              "processes share the proxies (two FDs per connection each)")
        if limit.too_low:
            print(f"harness: {limit.message()}", file=sys.stderr, flush=True)

    def _write_failure(self) -> RunFolderWriteError | None:
        """The first failed write of the sampler or the event log, as an error."""
        for what, error in (("samples", self.sampler.error if self.sampler else None),
                            ("events", self.events.error)):
            if error is not None:
                failure = RunFolderWriteError(
                    f"the run folder {self.run_dir} could not be written ({what}): {error}")
                failure.__cause__ = error
                return failure
        return None

    def _check_writes(self) -> None:
        failure = self._write_failure()
        if failure is not None:
            raise failure

    def _up(self) -> None:
        tools = "toxiproxy and " if self.backend.toxiproxy_processes else ""
        self.progress.log(f"starting {self.options.backend} backend: {tools}"
                          f"{len(self.scenario.all_targets)} target(s)")
        ctx = BackendContext(scenario=self.scenario, run_dir=self.run_dir, events=self.events)
        self.topology = topo = self.backend.up(ctx)
        self.sampler = Sampler(self.run_dir, self.t0, self.scenario.sample_interval, self.events)
        controls = [*topo.controls.values(), self_handle()]
        self.sampler.add([*topo.targets.values(), *controls])
        self.sampler.start()
        self.manifest["targets"] = [h.describe() for h in [*topo.targets.values(), *controls]]
        self.manifest["proxies"] = {k: f"{h}:{p}" for k, (h, p) in topo.proxies.items()}
        if topo.listeners:  # several toxiproxy-server processes: every listen address
            self.manifest["proxy_listeners"] = {k: [f"{h}:{p}" for h, p in v]
                                                for k, v in topo.listeners.items()}
        self._save_manifest()
        self.locust = locust = self._load_factory(self.scenario, self._host_url(topo),
                                                  self.run_dir, self.t0)
        locust.start()
        self.progress.log("waiting for Locust...")
        if not locust.wait_ready(LOCUST_READY_TIMEOUT):
            why = locust.failure or f"Locust did not start within {LOCUST_READY_TIMEOUT:g}s"
            raise EnvironmentFailure(why)
        pid = locust.pid
        if pid is not None:
            handle = TargetHandle(name="locust", role="control", pid=pid, sources={
                k: ProcSource(pid, k, tree=False) for k in ("fds", "rss", "threads")})
            self.sampler.add([handle])
            self.manifest["targets"].append(handle.describe())
            self._save_manifest()

    def _host_url(self, topo: Topology) -> str | list[str]:
        """Where the load goes: a URL, or one per listen address of a proxy that several
        toxiproxy-server processes serve (Locust spreads its users over them)."""
        host = self.scenario.load.host
        if host and "://" in host:
            return host
        name = host or (self.scenario.proxies[0].name if self.scenario.proxies else None)
        if name is not None:
            urls = [f"http://{h}:{p}" for h, p in topo.listen_addresses(name)]
            return urls if len(urls) > 1 else urls[0]
        first = next(iter(topo.targets.values()))
        return f"http://{first.host}:{first.port}"

    def _timeline(self) -> None:
        assert self.topology is not None and self.sampler is not None
        assert self.locust is not None
        locust = self.locust
        load_start = time.time()
        locust.begin(load_start)
        # at least four probes inside the silence that counts as frozen
        self.watchdog = Watchdog(self.backend.probe, locust.last_alive,
                                 every=min(PROBE_EVERY, self.options.tool_timeout / 4),
                                 frozen_after=self.options.tool_timeout)
        phases = self.scenario.phase_starts()
        last_busy = max((i for i, (p, _, _) in enumerate(phases)
                         if p.any_faults or self.scenario.users_in(p)), default=0)
        tail = LatencyTail(self.run_dir / "latency.csv")
        for index, (phase, _start, end) in enumerate(phases):
            users = self.scenario.users_in(phase)
            steps = self.scenario.arrival_steps(phase)
            level = f"{'/'.join(f'{r:g}' for r in steps)} requests/s" if steps else f"{users} users"
            self.events.emit(EventKind.PHASE_START, phase=phase.name, index=index, users=users,
                             planned_s=phase.duration,
                             **({"arrival_rate": steps} if steps else {}))
            labels = ([f.label for f in phase.faults] + [f.label for f in phase.network_faults]
                      + [f.label for f in phase.pod_faults])
            self.progress.log(f"phase {phase.name}: {phase.duration:g}s, {level}"
                              + (f", faults: {', '.join(labels)}" if labels else ""))
            applied: list[AppliedFault] = []
            try:
                self._apply_faults(phase, applied)
                ended = self._wait_until(load_start + end, phase.name, load_start, tail, labels)
            finally:
                self._undo_faults(phase.name, applied)
            self.events.emit(EventKind.PHASE_END, phase=phase.name, index=index)
            if index == 0:
                self.sampler.snapshot_evidence("baseline")
            if index == last_busy:
                self.sampler.snapshot_evidence("peak")
            if not ended:
                return
        # the shape stops Locust at the end of the plan: give it a moment to flush
        wait_until(lambda: locust.exited() is not None, timeout=10, interval=POLL)

    def _apply_faults(self, phase: Phase, applied: list[AppliedFault]) -> None:
        """Apply the phase's faults, appending each to ``applied`` as soon as it is in force."""
        assert self.topology is not None
        client = self.topology.toxiproxy
        for j, fault in enumerate(phase.faults):
            toxic = client.add_fault(fault.proxy, fault,
                                     name=f"{phase.name}-{j}-{fault.type}-{fault.stream}")
            applied.append(AppliedFault(
                toxic, {"proxy": fault.proxy, "type": fault.type, "toxic": toxic},
                partial(client.remove_fault, fault.proxy, toxic)))
            self.events.emit(EventKind.FAULT_ADDED, phase=phase.name, proxy=fault.proxy,
                             type=fault.type, stream=fault.stream, toxicity=fault.toxicity,
                             attributes=dict(fault.attributes), toxic=toxic)
        for cfault in phase.container_faults:
            self.backend.apply_container_fault(cfault)
            label = f"container-{cfault.action}-{cfault.target}"
            fields = {"proxy": "container", "type": cfault.action, "target": cfault.target,
                      "toxic": label}
            applied.append(AppliedFault(
                label, fields, partial(self.backend.remove_container_fault, cfault)))
            self.events.emit(EventKind.FAULT_ADDED, phase=phase.name, **fields,
                             attributes={"signal": cfault.signal} if cfault.action == "kill"
                             else {})
        for j, nfault in enumerate(phase.network_faults):
            label = f"{phase.name}-{j}-{nfault.type}-{nfault.direction}"
            before = self.backend.network_counters(nfault.target)
            self.backend.apply_network_fault(nfault, label)
            fields = {"proxy": f"netns:{nfault.target}", "type": nfault.type,
                      "target": nfault.target, "toxic": label}
            applied.append(AppliedFault(label, fields, partial(
                self._remove_network_fault, phase.name, nfault, label, before)))
            self.events.emit(EventKind.FAULT_ADDED, phase=phase.name, **fields,
                             stream=nfault.direction, attributes=nfault.attributes)

        for j, pfault in enumerate(phase.pod_faults):
            label = f"{phase.name}-{j}-{pfault.type}-{pfault.target}"
            self.progress.log(f"pod fault: {pfault.label}")
            # one that fails half-way (scaled, then the call failed) is undone by down()
            done = self.backend.apply_pod_fault(pfault, label)
            fields = {"proxy": f"kube:{pfault.target}", "type": pfault.type,
                      "target": pfault.target, "toxic": label}
            applied.append(AppliedFault(label, fields, partial(
                self._remove_pod_fault, phase.name, pfault, label)))
            self.events.emit(EventKind.FAULT_ADDED, phase=phase.name, **fields,
                             attributes=pfault.attributes, **done)

    def _remove_pod_fault(self, phase: str, fault: PodFault, label: str) -> None:
        """Undo one pod fault; what it did (replicas back) goes in a pod_fault_undone event."""
        done = self.backend.remove_pod_fault(fault, label)
        if done:
            self.events.emit(EventKind.POD_FAULT_UNDONE, phase=phase, target=fault.target,
                             type=fault.type, toxic=label, **done)

    def _remove_network_fault(self, phase: str, fault: NetworkFault, label: str,
                              before: dict[str, int]) -> None:
        """Remove one network fault and log what it cost in the namespace's TCP counters."""
        self.backend.remove_network_fault(fault, label)
        after = self.backend.network_counters(fault.target)
        delta = {k: after[k] - before[k] for k in ("RetransSegs", "OutSegs", "InSegs")
                 if k in after and k in before}
        self.events.emit(EventKind.NETNS_COUNTERS, phase=phase, target=fault.target,
                         label=label, counters={"before": before, "after": after}, delta=delta)

    def _undo_faults(self, phase: str, applied: list[AppliedFault]) -> None:
        """Undo every applied fault; one that cannot be undone is logged (teardown retries)."""
        for fault in applied:
            try:
                fault.undo()
            except HarnessError as exc:  # teardown's clear() retries it
                self.events.emit(EventKind.ERROR, message=f"removing {fault.label}: {exc}")
                continue
            self.events.emit(EventKind.FAULT_REMOVED, phase=phase, **fault.fields)

    def _wait_until(self, until: float, phase: str, load_start: float, tail: LatencyTail,
                    faults: list[str]) -> bool:
        """Wait for the phase's end; False when the run must stop (signal or crash)."""
        assert self.sampler is not None
        total = self.scenario.duration
        # no slower than the watchdog's probes (a short tool_timeout probes more often)
        poll = min(PHASE_POLL, self.watchdog.every) if self.watchdog is not None else PHASE_POLL
        while time.time() < until:
            if self.stop.requested:
                return False
            if not self._check_processes(phase):
                return False
            self._check_writes()
            if self.watchdog is not None:
                self.watchdog.check()
            requests, p99 = tail.poll()
            targets: dict[str, dict[str, float]] = {}
            for (target, metric), value in list(self.sampler.latest.items()):
                targets.setdefault(target, {})[metric] = value
            self.progress.update(Status(
                phase=phase, elapsed=time.time() - load_start, total=total, rps=requests,
                p99_ms=p99, errors=tail.failures, faults=faults, targets=targets))
            self.stop.event.wait(min(poll, max(0.0, until - time.time())))
        return True

    def _check_processes(self, phase: str) -> bool:
        seen_alive, self._alive_at = self._alive_at, time.time()  # every process, last look
        for gone in self.backend.exited():
            self.events.emit(EventKind.PROCESS_EXIT, process=gone.name, role=gone.role,
                             returncode=gone.returncode, expected=False, phase=phase)
            if self.sampler is not None:
                self.sampler.remove(gone.name)
            if gone.role == "target":
                self._set_status("target_crashed", f"target {gone.name!r} exited with code "
                                 f"{gone.returncode} during phase {phase}")
                self.progress.log(f"target {gone.name!r} exited (code {gone.returncode}): "
                                  "ending the run")
                return False
            self._tool_failed(gone.name, f"exited with code {gone.returncode}", seen_alive)
            raise EnvironmentFailure(f"{gone.name} exited with code {gone.returncode} mid-run")
        code = self.locust.exited() if self.locust is not None else None
        if code is not None:
            assert self.locust is not None
            self.events.emit(EventKind.PROCESS_EXIT, process="locust", role="load",
                             returncode=code, expected=False, phase=phase)
            self._tool_failed("locust", f"exited early with code {code}",
                              min(self.locust.last_alive() or seen_alive, seen_alive))
            raise EnvironmentFailure(f"Locust exited early with code {code}\n{self.locust.tail()}")
        return True

    def _tool_failed(self, tool: str, what: str, since: float) -> None:
        """Record that a tool failed: the analysis trusts the run's data only before ``since``."""
        self.events.emit(EventKind.TOOL_FAILED, tool=tool, what=what,
                         since=round(max(0.0, since - self.t0), 3))
        self.progress.log(f"{tool} {what}: ending the run (a tool failure, not the target's)")

    def _late_arrivals(self) -> None:
        """Open model: a ``load_late`` event for every phase in which requests started late
        or were dropped (arrivals.csv, complete once Locust has stopped)."""
        if not self.scenario.open_model:
            return
        load = self.scenario.load
        for phase, counts in arrival_counts(self.run_dir).items():
            if counts["late"] or counts["dropped"]:
                self.events.emit(EventKind.LOAD_LATE, phase=phase, **counts,
                                 late_tolerance_s=load.late_tolerance,
                                 max_in_flight=load.max_in_flight)

    def _teardown(self) -> None:
        """Stop the load and the sampler, then ``backend.down()`` whatever happened before."""
        self.progress.log("stopping load, removing faults, stopping processes...")
        try:
            if self.locust is not None:
                self._teardown_step("stopping Locust", partial(self.locust.stop, grace=5.0))
                self._teardown_step("late arrivals", self._late_arrivals)
            if self.sampler is not None:
                sampler = self.sampler
                self._teardown_step("end evidence", partial(sampler.snapshot_evidence, "end"))
                self._teardown_step("stopping the sampler", sampler.stop)
        finally:
            try:
                problems = self.backend.down()
            except Exception as exc:  # processes or toxics may be left: the run is not clean
                problems = [f"stopping the {self.options.backend} backend failed: {exc!r}"]
                self._teardown_failure = EnvironmentFailure(problems[0])
                self._teardown_failure.__cause__ = exc
            for problem in problems or []:
                self.events.emit(EventKind.ERROR, message=f"teardown: {problem}")
            self.events.emit(EventKind.RUN_END, status=self.manifest["status"])
            self.manifest["ended_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            try:
                self._save_manifest()
            except OSError as exc:
                self._teardown_failure = self._teardown_failure or RunFolderWriteError(
                    f"writing {self.run_dir / 'run.json'} failed: {exc}")
            self.events.close()

    def _teardown_step(self, what: str, step: Callable[[], object]) -> None:
        """Run one teardown step; an error is recorded and the next step still runs."""
        try:
            step()
        except Exception as exc:
            self.events.emit(EventKind.ERROR, message=f"{what}: {exc!r}")


def run_scenario(scenario: Scenario, options: RunOptions | None = None, *,
                 backend: Backend | None = None, load: LoadFactory | None = None,
                 stop: StopRequest | None = None) -> RunOutcome:
    """Run one scenario end to end; see ``Run``."""
    return Run(scenario, options or RunOptions(), backend=backend, load=load,
               stop=stop).execute()
