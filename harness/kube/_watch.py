"""A Kubernetes target's pods, polled in a thread of their own: the ``kube:`` metric sources.

Each poll (every ``interval``, 1 s by default) is one ``list pods`` (the target's selector)
and one GET of ``/api/v1/nodes/<node>/proxy/metrics/cadvisor`` per node that runs one of its
pods, never one per pod; each call carries ``POLL_TIMEOUT``. The sampler never waits on the
API server: a source returns what the last poll read, and None (a gap in samples.csv) when
that poll failed, is older than ``3 x interval``, or has no series for one of the target's
containers. cAdvisor measures a container every 10-15 s (the kubelet's housekeeping), so a
cAdvisor series gets a row only when one of its containers has a new measurement: its
samples have cAdvisor's resolution, each a real measurement, none repeated.

Events (harness.events.EventKind): ``kube_pods`` when the set of pods or their readiness
changes, ``kube_restart`` for every container that died during the run (pod, container,
reason, exit code), ``kube_gap`` when the kube: series stop (``state: start`` with the reason)
and start again (``state: end``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from harness.errors import EnvironmentFailure, TargetUnhealthy
from harness.events import EventKind
from harness.kube._api import KubeApi, selector_of
from harness.kube._cadvisor import CADVISOR_METRICS, CadvisorSeries, parse_cadvisor, runtime_id
from harness.kube._pods import KUBE_METRICS, ContainerState, Death, PodState, PodTracker, Reading

if TYPE_CHECKING:
    from harness.runfolder import EventLog
    from harness.scenario import KubeRef

POLL_TIMEOUT = (1.0, 2.0)  # (connect, read) seconds for each call of a poll
STALE_POLLS = 3  # a reading older than this many intervals is a gap


def pod_state(pod: Any) -> PodState:
    """A ``V1Pod`` as the tracker sees it."""
    status = pod.status
    statuses = {c.name: c for c in (status.container_statuses or [])}
    containers: list[ContainerState] = []
    for spec in pod.spec.containers:
        c = statuses.get(spec.name)
        if c is None:
            containers.append(ContainerState(spec.name, None, False, False, 0, "not started"))
            continue
        deaths: list[Death] = []
        for state in (c.state, c.last_state):
            term = state.terminated if state is not None else None
            if term is None:
                continue
            key = runtime_id(term.container_id) if term.container_id else (
                f"{pod.metadata.uid}/{spec.name}/{term.finished_at}")
            deaths.append(Death(key, term.reason or f"exit {term.exit_code}", term.exit_code,
                                _iso(term.finished_at)))
        waiting = c.state.waiting if c.state is not None else None
        containers.append(ContainerState(
            spec.name, runtime_id(c.container_id) if c.container_id else None,
            running=c.state is not None and c.state.running is not None,
            ready=bool(c.ready), restart_count=int(c.restart_count or 0),
            waiting=(waiting.reason or "waiting") if waiting is not None else None,
            deaths=tuple(deaths)))
    ready = any(cond.type == "Ready" and cond.status == "True"
                for cond in (status.conditions or []))
    created = pod.metadata.creation_timestamp
    return PodState(pod.metadata.name, pod.metadata.uid, pod.spec.node_name,
                    status.phase or "Unknown", ready,
                    created.timestamp() if isinstance(created, datetime) else 0.0,
                    tuple(containers), deleting=pod.metadata.deletion_timestamp is not None)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


class KubeWatch:
    """Polls one target's pods and their nodes' cAdvisor pages (see the module docstring)."""

    def __init__(self, api: KubeApi, ref: KubeRef, target: str, events: EventLog | None,
                 interval: float = 1.0, clock: Callable[[], float] = time.time,
                 sampled: Iterable[str] | None = None) -> None:
        self.api = api
        # the cAdvisor series this target is sampled for: only their absence is a gap (a
        # kubelet that exports no container_oom_events_total must not blank the others)
        wanted = set(CADVISOR_METRICS) if sampled is None else set(sampled)
        self.watched = [a for a in CADVISOR_METRICS if a in wanted]
        self.ref = ref
        self.target = target
        self.events = events
        self.interval = interval
        self._clock = clock
        self.tracker = PodTracker(target, ref.namespace, clock(), ref.container)
        self.selector: dict[str, str] | None = None
        self._lock = threading.Lock()
        self._latest: Reading | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gap: str | None = None  # the open gap's reason
        self.last_error: str | None = None
        self.pods: list[PodState] = []

    @property
    def label_selector(self) -> str:
        if self.selector is None:
            self.selector = selector_of(self.api, self.ref)
        return ",".join(f"{k}={v}" for k, v in sorted(self.selector.items()))

    # ------------------------------------------------------------------ reading the API

    def _list_pods(self) -> list[PodState]:
        from kubernetes.client.exceptions import ApiException

        try:
            listed = self.api.core.list_namespaced_pod(
                self.ref.namespace, label_selector=self.label_selector,
                _request_timeout=POLL_TIMEOUT)
        except ApiException as exc:
            raise _PollFailed(f"list pods in {self.ref.namespace} ({self.label_selector}): "
                              f"{exc.status} {exc.reason}") from exc
        except Exception as exc:  # urllib3 timeouts and connection errors, unwrapped
            raise _PollFailed(f"list pods in {self.ref.namespace}: {type(exc).__name__}: "
                              f"{exc}") from exc
        return [pod_state(p) for p in listed.items]

    def _node_series(self, node: str) -> list[CadvisorSeries]:
        from kubernetes.client.exceptions import ApiException

        try:
            # the raw response (_preload_content=False): no model decoding of a large page
            resp: Any = self.api.core.connect_get_node_proxy_with_path(
                node, "metrics/cadvisor", _request_timeout=POLL_TIMEOUT,
                _preload_content=False)
            try:
                text = resp.data.decode("utf-8", errors="replace")
            finally:
                resp.release_conn()
        except ApiException as exc:
            raise _PollFailed(f"GET nodes/{node}/proxy/metrics/cadvisor: {exc.status} "
                              f"{exc.reason}") from exc
        except Exception as exc:  # timeouts, connection errors
            raise _PollFailed(f"GET nodes/{node}/proxy/metrics/cadvisor: "
                              f"{type(exc).__name__}: {exc}") from exc
        return parse_cadvisor(text)

    def poll_once(self) -> Reading:
        """One poll: pods, then each of their nodes once; events written; never raises for
        what the cluster answers (a failed read is a reading with gaps)."""
        now = self._clock()
        series: list[CadvisorSeries] | None = None
        error: str | None = None
        try:
            pods = self._list_pods()
        except (_PollFailed, EnvironmentFailure) as exc:
            reading = Reading(at=now)
            for alias in KUBE_METRICS:
                reading.values[alias] = None
                reading.gaps[alias] = str(exc)
            self._publish(reading, {}, str(exc))
            return reading
        nodes = sorted({p.node for p in pods if p.node and p.phase == "Running"})
        if nodes:
            try:
                series = [s for node in nodes for s in self._node_series(node)]
            except _PollFailed as exc:
                error = str(exc)
        else:
            series = []
        reading, events = self.tracker.observe(pods, series, now, error)
        self.pods = pods
        self._publish(reading, events, error)
        return reading

    def _publish(self, reading: Reading, events: dict[str, list[dict[str, Any]]],
                 error: str | None) -> None:
        with self._lock:
            self._latest = reading
        self.last_error = error
        if self.events is None:
            return
        for fields in events.get("pods", []):
            self.events.emit(EventKind.KUBE_PODS, **fields)
        for fields in events.get("restart", []):
            self.events.emit(EventKind.KUBE_RESTART, **fields)
        gap = next((reading.gaps[a] for a in self.watched if a in reading.gaps), None)
        if gap != self._gap:
            if self._gap is not None:
                self.events.emit(EventKind.KUBE_GAP, target=self.target, state="end",
                                 reason=self._gap)
            if gap is not None:
                self.events.emit(EventKind.KUBE_GAP, target=self.target, state="start",
                                 reason=gap)
            self._gap = gap

    def latest(self) -> Reading | None:
        """The last poll's reading, None when there is none or it is stale."""
        with self._lock:
            reading = self._latest
        if reading is None or self._clock() - reading.at > STALE_POLLS * self.interval:
            return None
        return reading

    # ------------------------------------------------------------------ lifecycle

    def wait_ready(self, timeout: float) -> None:
        """Poll until at least one pod matches, every pod is Ready and every container has
        its cAdvisor series; TargetUnhealthy (exit 3) says what was missing at the end."""
        deadline = time.monotonic() + timeout
        while True:
            reading = self.poll_once()
            problem = self._not_ready(reading)
            if problem is None:
                return
            if time.monotonic() >= deadline:
                raise TargetUnhealthy(
                    f"target {self.target!r} (kube {self.ref.namespace}/"
                    f"{self.ref.deployment or self.label_selector}): {problem} after "
                    f"{timeout:g}s (attach.timeout)")
            time.sleep(min(self.interval, max(0.0, deadline - time.monotonic())))

    def _not_ready(self, reading: Reading) -> str | None:
        if "pods" in reading.gaps:
            return reading.gaps["pods"]
        if not self.pods:
            return f"no pod matches {self.label_selector} in namespace {self.ref.namespace}"
        unready = [p.name + (f" ({w})" if (w := _waiting_of(p)) else f" ({p.phase})")
                   for p in self.pods if not p.ready]
        if unready:
            return f"{len(unready)} of {len(self.pods)} pod(s) not ready: {', '.join(unready)}"
        gaps = sorted({reading.gaps[a] for a in self.watched if a in reading.gaps})
        if gaps:
            return f"no kubelet metrics yet: {'; '.join(gaps)}"
        return None

    def start(self) -> None:
        """Poll in the background until ``stop()``."""
        self._thread = threading.Thread(target=self._loop, name=f"kube-{self.target}",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # a bug must show as a gap, not kill sampling silently
                if self.events is not None:
                    self.events.emit(EventKind.ERROR,
                                     message=f"kube watch of {self.target}: {exc!r}")
                with self._lock:
                    self._latest = None
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay < 0:
                next_at, delay = time.monotonic(), 0.0
            self._stop.wait(delay)

    def stop(self) -> None:
        """Stop polling (joins the thread). Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def _waiting_of(pod: PodState) -> str | None:
    return "; ".join(f"{c.name}: {c.waiting}" for c in pod.containers if c.waiting) or None


class _PollFailed(Exception):
    """One call of a poll failed: the reading is a gap, with this as its reason."""


class KubeSource:
    """``kube:<alias>`` of one target: the sum over its pods' containers (see the module
    docstring); ``per_process()`` gives each container's own value as ``(0, "pod/container",
    value)`` rows (processes.csv)."""

    def __init__(self, watch: KubeWatch, alias: str) -> None:
        if alias not in KUBE_METRICS:
            raise ValueError(f"unknown metric source 'kube:{alias}' "
                             f"(known: {', '.join('kube:' + a for a in KUBE_METRICS)})")
        self.watch = watch
        self.alias = alias
        self.spec = f"kube:{alias}"
        self._last_key: object = None
        self._per: dict[str, float] = {}

    def read(self) -> float | None:
        reading = self.watch.latest()
        if reading is None:
            self._per = {}
            return None
        value = reading.values.get(self.alias)
        if value is None:
            self._per = {}
            return None
        key = reading.stamps.get(self.alias, reading.at)
        if key == self._last_key:  # no new measurement since the last row
            self._per = {}
            return None
        self._last_key = key
        self._per = reading.per_container.get(self.alias, {})
        return value

    def per_process(self) -> list[tuple[int, str, float]]:
        return [(0, who, value) for who, value in sorted(self._per.items())]


__all__ = ["POLL_TIMEOUT", "KubeSource", "KubeWatch", "pod_state"]
