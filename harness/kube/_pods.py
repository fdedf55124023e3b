"""What a target's pods hold, tick by tick: pure logic over pod states and cAdvisor series.

``PodTracker.observe(pods, series, now)`` turns one poll (the pods behind the selector, and
the cAdvisor series of the nodes they run on) into a ``Reading`` (a sum per metric, or the
reason there is none this tick, plus each container's own value) and the events to write.

Restarts are counted from the pod status, the only record that outlives a container: each
terminated container instance (``state.terminated`` / ``lastState.terminated``, keyed by its
container id) is one death, with its reason (``OOMKilled``, ``Error``, ...) and exit code;
``restartCount`` catches deaths that came and went between two polls. What a pod had already
restarted before the run began is its baseline, not counted; a pod created during the run
has a baseline of 0. cAdvisor's own counters reset with each new container: the per-container
CPU rate is taken between two measurements of the *same* container id, so a restart never
yields a negative or inflated rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.kube._cadvisor import CADVISOR_METRICS, CadvisorSeries

# kube:<alias> from the pod status rather than cAdvisor
STATUS_METRICS = ("restarts", "oom_kills", "ready", "pods")
KUBE_METRICS = (*CADVISOR_METRICS, *STATUS_METRICS)
# A measurement older than this (cAdvisor's housekeeping is 10-15 s) means the kubelet stopped
# measuring that container: a gap, not a level.
STALE_AFTER = 60.0
# Grace, in seconds, for a pod created just before the watch began (clock skew between the
# API server and us): its restarts count, since the run's deploy started it.
CREATED_GRACE = 5.0


@dataclass(frozen=True)
class Death:
    """One terminated container instance."""

    key: str  # its container id, or a stand-in when the status gives none
    reason: str
    exit_code: int | None
    finished_at: str | None


@dataclass(frozen=True)
class ContainerState:
    """One container of a pod, as its status says."""

    name: str
    container_id: str | None  # runtime id without the scheme (hex), None before it starts
    running: bool
    ready: bool
    restart_count: int
    waiting: str | None = None  # waiting reason (CrashLoopBackOff, ...)
    deaths: tuple[Death, ...] = ()  # state.terminated and lastState.terminated


@dataclass(frozen=True)
class PodState:
    """One pod behind the target's selector."""

    name: str
    uid: str
    node: str | None
    phase: str
    ready: bool
    created: float  # epoch seconds
    containers: tuple[ContainerState, ...]
    deleting: bool = False


@dataclass
class Reading:
    """One poll: the sum per metric (None with a reason: a gap), each container's values."""

    at: float
    values: dict[str, float | None] = field(default_factory=dict)
    gaps: dict[str, str] = field(default_factory=dict)  # alias -> why there is no value
    per_container: dict[str, dict[str, float]] = field(default_factory=dict)  # alias -> pod/c
    # alias -> what identifies the measurement behind the value (cAdvisor's timestamps of
    # every container summed): a source writes a row only when it changed
    stamps: dict[str, object] = field(default_factory=dict)


@dataclass
class _Seen:
    baseline: int  # restartCount when first seen (0 for a pod born during the run)
    deaths: set[str] = field(default_factory=set)
    counted: int = 0  # deaths seen during the run


class PodTracker:
    """Tracks one target's pods across polls (see the module docstring)."""

    def __init__(self, target: str, namespace: str, started_at: float,
                 container: str | None = None) -> None:
        self.target = target
        self.namespace = namespace
        self.started_at = started_at
        self.container = container  # only this container's series count (None: all)
        self._seen: dict[tuple[str, str], _Seen] = {}  # (pod uid, container) -> record
        self._pods: dict[str, PodState] = {}  # uid -> last state
        self._cpu: dict[str, tuple[float, float]] = {}  # container id -> (ts, seconds)
        self._rate: dict[str, float] = {}  # container id -> last cpu rate (cores)
        self._pod_view: tuple[tuple[str, bool], ...] | None = None
        self.restarts = 0
        self.oom_kills = 0

    # ------------------------------------------------------------------ pod status

    def _deaths(self, pod: PodState) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        born_here = pod.created >= self.started_at - CREATED_GRACE
        for c in pod.containers:
            key = (pod.uid, c.name)
            seen = self._seen.get(key)
            if seen is None:
                seen = self._seen[key] = _Seen(baseline=0 if born_here else c.restart_count)
                if not born_here:  # what died before the run is not this run's doing
                    seen.deaths.update(d.key for d in c.deaths)
            new = [d for d in c.deaths if d.key not in seen.deaths]
            seen.deaths.update(d.key for d in new)
            for death in new:
                seen.counted += 1
                self.restarts += 1
                oom = death.reason == "OOMKilled"
                self.oom_kills += oom
                events.append({"target": self.target, "pod": pod.name, "container": c.name,
                               "reason": death.reason, "exit_code": death.exit_code,
                               "finished_at": death.finished_at, "oom": oom,
                               "restart_count": c.restart_count})
            # restarts the status no longer shows one by one (two within a poll)
            unseen = c.restart_count - seen.baseline - seen.counted
            if unseen > 0:
                seen.counted += unseen
                self.restarts += unseen
                events.append({"target": self.target, "pod": pod.name, "container": c.name,
                               "reason": "unknown (restarted between two polls)",
                               "exit_code": None, "finished_at": None, "oom": False,
                               "count": unseen, "restart_count": c.restart_count})
        return events

    def _pods_event(self, pods: list[PodState]) -> dict[str, Any] | None:
        view = tuple(sorted((p.name, p.ready) for p in pods))
        if view == self._pod_view:
            return None
        before = {p.name for p in self._pods.values()}
        now_names = {p.name for p in pods}
        self._pod_view = view
        return {"target": self.target, "total": len(pods),
                "ready": sum(p.ready for p in pods),
                "pods": [{"pod": p.name, "node": p.node, "phase": p.phase, "ready": p.ready,
                          **({"deleting": True} if p.deleting else {}),
                          **({"waiting": w} if (w := _waiting(p)) else {})}
                         for p in sorted(pods, key=lambda p: p.name)],
                "added": sorted(now_names - before) if self._pods else [],
                "gone": sorted(before - now_names)}

    # ------------------------------------------------------------------ one poll

    def observe(self, pods: list[PodState], series: list[CadvisorSeries] | None, now: float,
                error: str | None = None) -> tuple[Reading, dict[str, list[dict[str, Any]]]]:
        """One poll -> the reading and the events to write (``{"restart": [...], "pods":
        [...]}``). ``series`` None: the node read failed (``error`` says why)."""
        events: dict[str, list[dict[str, Any]]] = {"restart": [], "pods": []}
        events["restart"] = [e for pod in pods for e in self._deaths(pod)]
        pods_event = self._pods_event(pods)
        if pods_event is not None:
            events["pods"].append(pods_event)
        self._pods = {p.uid: p for p in pods}
        reading = Reading(at=now)
        reading.values["restarts"] = float(self.restarts)
        reading.values["oom_kills"] = float(self.oom_kills)
        reading.values["ready"] = float(sum(p.ready for p in pods))
        reading.values["pods"] = float(len(pods))
        self._cadvisor(reading, pods, series, now, error)
        return reading, events

    def _cadvisor(self, reading: Reading, pods: list[PodState],
                  series: list[CadvisorSeries] | None, now: float, error: str | None) -> None:
        counted = [(p, c) for p in pods for c in p.containers
                   if c.running and (self.container is None or c.name == self.container)]
        if series is None or not counted:
            why = (error or "the node read failed") if series is None else (
                "no running pod matches" if not pods else
                f"no running container{' ' + repr(self.container) if self.container else ''} "
                f"in {len(pods)} pod(s)")
            for alias in CADVISOR_METRICS:
                reading.values[alias] = None
                reading.gaps[alias] = why
            return
        by_id: dict[tuple[str, str], CadvisorSeries] = {}
        by_name: dict[tuple[str, str, str, str], CadvisorSeries] = {}
        for s in series:
            if s.container_id:
                by_id[(s.alias, s.container_id)] = s
            if s.pod and s.container:
                by_name[(s.alias, s.namespace, s.pod, s.container)] = s
        for alias in CADVISOR_METRICS:
            total = 0.0
            stamps: list[float] = []
            per: dict[str, float] = {}
            missing: list[str] = []
            warming = False
            for pod, c in counted:
                who = f"{pod.name}/{c.name}"
                found = by_id.get((alias, c.container_id or "")) or by_name.get(
                    (alias, self.namespace, pod.name, c.name))
                if found is None:
                    missing.append(who)
                    continue
                stamp = found.timestamp if found.timestamp is not None else now
                if now - stamp > STALE_AFTER:
                    missing.append(f"{who} (last measured {now - stamp:.0f} s ago)")
                    continue
                value = found.value
                if alias == "cpu":
                    rate = self._cpu_rate(c.container_id or who, stamp, value)
                    if rate is None:  # one measurement of this container so far: no gap
                        warming = True
                        continue
                    value = rate
                total += value
                per[who] = value
                stamps.append(stamp)
            if missing:
                reading.values[alias] = None
                reading.gaps[alias] = "no cAdvisor series for " + ", ".join(missing)
                continue
            if warming:
                reading.values[alias] = None
                continue
            reading.values[alias] = total
            reading.per_container[alias] = per
            reading.stamps[alias] = tuple(stamps)

    def _cpu_rate(self, cid: str, stamp: float, seconds: float) -> float | None:
        """Cores used by one container between its last two measurements (same id only)."""
        last = self._cpu.get(cid)
        if last is None or stamp > last[0]:
            if last is not None and seconds >= last[1] and stamp > last[0]:
                self._rate[cid] = (seconds - last[1]) / (stamp - last[0])
            self._cpu[cid] = (stamp, seconds)
        return self._rate.get(cid)


def _waiting(pod: PodState) -> str | None:
    reasons = [f"{c.name}: {c.waiting}" for c in pod.containers if c.waiting]
    return "; ".join(reasons) or None


__all__ = ["KUBE_METRICS", "STATUS_METRICS", "ContainerState", "Death", "PodState",
           "PodTracker", "Reading"]
