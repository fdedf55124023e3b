"""The scenario: typed, validated in full before anything starts."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.scenario._deploy import AttachSettings, ContainerFault
from harness.scenario._faults import Fault, NetworkFault, PodFault, did_you_mean
from harness.scenario._thresholds import RATE_KEY, Threshold, is_latency_key
from harness.scenario._types import Duration

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
METRIC_SOURCE = re.compile(
    r"^(proc:(fds|rss|threads|conns|close_wait)(:self)?"
    r"|prometheus:[A-Za-z_:][A-Za-z0-9_:]*(\{.*\})?"
    r"|pprof:goroutine"
    r"|docker:[a-z_]+"
    r"|net:retrans"
    r"|kube:(fds|threads|sockets|memory|cpu|oom_events|restarts|oom_kills|ready|pods))$"
)
Variant = Literal["leaky", "fixed"]
RESERVED_TARGETS = ("toxiproxy", "locust", "harness")


def is_reserved(name: str) -> bool:
    """A name of the harness's control series: ``toxiproxy``, ``locust``, ``harness``, and
    ``toxiproxy-2``... (the further toxiproxy-server processes of a run)."""
    return name in RESERVED_TARGETS or re.fullmatch(r"toxiproxy-\d+", name) is not None
# Below 0.1 s the sampler is a busy loop (and /proc reads of a tree take longer than that).
MIN_SAMPLE_INTERVAL = 0.1
MAX_SAMPLE_INTERVAL = 3600.0
# More Locust users than this is a typo: 64 workers could not run them.
MAX_USERS = 100_000
# Requests/s: more than this is a typo (a 2-core machine sustains ~10,000 with no wait).
MAX_ARRIVAL_RATE = 1_000_000.0
# Open model: the bundled user classes that schedule requests at an arrival rate.
OPEN_USERS = ("OpenHttpUser",)
# An arrival rate: one rate for the whole phase, or steps of equal length ([50, 100, 150]).
ArrivalRate = Annotated[
    float | list[Annotated[float, Field(ge=0, le=MAX_ARRIVAL_RATE)]],
    Field(description="requests/s: a number, or a list of equal-length steps"),
]


def arrival_steps(rate: float | list[float] | None) -> list[float]:
    """A phase's arrival rate as its list of steps ([] when none is set)."""
    if rate is None:
        return []
    return [float(r) for r in rate] if isinstance(rate, list) else [float(rate)]


def _rate_problems(where: str, rate: float | list[float] | None) -> list[str]:
    if rate is None:
        return []
    steps = arrival_steps(rate)
    if not steps:
        return [f"{where}: give a rate in requests/s, or a non-empty list of steps"]
    if any(not 0 <= r <= MAX_ARRIVAL_RATE for r in steps):
        return [f"{where}: each rate must be between 0 and {MAX_ARRIVAL_RATE:g} requests/s"]
    return []
# What a ``command:`` target with no ``metrics:`` is sampled for (local backend): its whole
# process tree, so a master holding none of the connections cannot pass for a quiet service.
DEFAULT_COMMAND_METRICS = {
    "fds": "proc:fds",
    "rss": "proc:rss",
    "threads": "proc:threads",
    "conns": "proc:conns",
    "close_wait": "proc:close_wait",
}
# What a ``kube:`` target is sampled for (its pods' containers, read through the API server:
# the kubelets' cAdvisor and the pod status), overridden alias by alias by ``metrics:``.
KUBE_DEFAULT_METRICS = {
    "fds": "kube:fds",
    "threads": "kube:threads",
    "sockets": "kube:sockets",
    "rss": "kube:memory",
    "cpu": "kube:cpu",
    "restarts": "kube:restarts",
    "oom_kills": "kube:oom_kills",
    "ready": "kube:ready",
}
# What a target in its own network namespace is sampled for besides (``netns: true``).
NETNS_METRICS = {"retrans": "net:retrans"}


def _rate_threshold_problems(key: str, threshold: Threshold) -> list[str]:
    """``request_rate`` takes min (a fraction of the baseline rate), lasting, phases and
    ignore_first; ``lasting`` belongs to it alone."""
    if key != RATE_KEY:
        if threshold.lasting is not None:
            return [f"thresholds.{key}.lasting: only thresholds.{RATE_KEY} takes lasting"]
        return []
    problems = []
    if threshold.min is None or not 0.0 <= threshold.min <= 1.0:
        problems.append(f"thresholds.{key}.min: give the fraction of the baseline rate below "
                        "which the rate has collapsed, between 0 and 1 (e.g. 0.1)")
    others = [name for name in ("max", "max_growth_per_min", "max_growth_per_1k_requests",
                                "recover_within") if getattr(threshold, name) is not None]
    if others:
        problems.append(f"thresholds.{key}: {', '.join(others)} do not apply to the request "
                        "rate (it takes min, lasting, phases, ignore_first)")
    if threshold.lasting is not None and threshold.lasting <= 0:
        problems.append(f"thresholds.{key}.lasting: must be longer than 0s")
    return problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _check_name(value: str) -> str:
    if not NAME.match(value):
        raise ValueError(f"{value!r} must be lowercase letters, digits, '-', '_' or '.'")
    return value


class Health(_Strict):
    """How to tell a target is up: an HTTP GET answering < 500, or a TCP connect."""

    http: str | None = Field(None, description="path, e.g. /healthz")
    tcp: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> Health:
        if self.http is None and not self.tcp:
            raise ValueError("give http: /path or tcp: true")
        if self.http is not None and not self.http.startswith("/"):
            raise ValueError("http: must be a path starting with '/'")
        return self


K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class KubeRef(_Strict):
    """A workload already running in Kubernetes, named by reference (``--backend attach``):
    its pods are found by a Deployment's selector or a label selector, in one namespace."""

    namespace: str
    deployment: str | None = None
    selector: dict[str, str] | None = Field(None, description="pod labels (matchLabels)")
    port: int = Field(ge=1, le=65535, description="the port the target's Service serves")
    service: str | None = Field(
        None, description="the Service in front of the pods (default: the deployment's name)")
    container: str | None = Field(
        None, description="the main container (default: the pod's first container)")

    @field_validator("namespace", "deployment", "service", "container")
    @classmethod
    def _dns_label(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 63 or not K8S_NAME.match(value)):
            raise ValueError(f"{value!r} is not a Kubernetes name (lowercase letters, digits "
                             "and '-', at most 63)")
        return value

    @property
    def service_address(self) -> str | None:
        """``<service>.<namespace>.svc:<port>``: where the load reaches the pods (the
        Service defaults to the deployment's name; None for a selector without one)."""
        service = self.service or self.deployment
        return f"{service}.{self.namespace}.svc:{self.port}" if service else None

    @property
    def describe(self) -> str:
        """``kube ns/deployment`` or ``kube ns/{k=v}`` (for one-line summaries)."""
        what = self.deployment or "{" + ",".join(
            f"{k}={v}" for k, v in sorted((self.selector or {}).items())) + "}"
        return f"kube {self.namespace}/{what}"

    @model_validator(mode="after")
    def _one_way(self) -> KubeRef:
        if (self.deployment is None) == (self.selector is None):
            raise ValueError("give exactly one of deployment: NAME or selector: {label: value}")
        if self.selector is not None and not self.selector:
            raise ValueError("selector: must name at least one label")
        return self


class Target(_Strict):
    """A service under test: a bundled sample, any command, or a Kubernetes workload."""

    name: str = "target"
    sample: str | None = None
    variant: Variant | None = None
    command: list[str] | None = None
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    port: int | None = Field(None, ge=1, le=65535, description="default: a free loopback port")
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    health: Health | None = None
    start_timeout: Duration = Field(20.0, gt=0)
    metrics: dict[str, str] = Field(default_factory=dict)
    metrics_url: str | None = None
    pprof_url: str | None = None
    debug_url: str | None = None
    kube: KubeRef | None = Field(
        None, description="a workload running in Kubernetes, by reference (--backend attach)")
    netns: bool = Field(
        False, description="run in its own network namespace (local backend, root, Linux): "
        "network_faults (blackhole, packet_loss, partition) then apply below TCP")

    _name = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))

    @field_validator("sample")
    @classmethod
    def _known_sample(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from harness.samples import SAMPLES

        if value not in SAMPLES:
            raise ValueError(
                f"unknown sample {value!r}{did_you_mean(value, tuple(SAMPLES))}; "
                f"known: {', '.join(sorted(SAMPLES))}"
            )
        return value

    @field_validator("metrics")
    @classmethod
    def _sources(cls, value: dict[str, str]) -> dict[str, str]:
        for alias, source in value.items():
            _check_name(alias)
            if not METRIC_SOURCE.match(source):
                raise ValueError(
                    f"{alias}: unknown metric source {source!r}; use proc:fds, proc:rss, "
                    "proc:threads, proc:conns, proc:close_wait (each also as proc:<kind>:self), "
                    "prometheus:<metric>, pprof:goroutine, docker:<stat>, net:retrans or "
                    "kube:<fds|threads|sockets|memory|cpu|oom_events|restarts|oom_kills|ready|"
                    "pods>"
                )
        return value

    @property
    def what(self) -> str:
        """The sample's name, the command's program, or ``kube ns/deployment``."""
        if self.kube is not None:
            return self.kube.describe
        return self.sample or (self.command[0] if self.command else "?")

    def sampled_metrics(self) -> dict[str, str]:
        """Alias -> source this target is sampled for: a sample's defaults overridden by
        ``metrics:``; a command's ``metrics:``, or ``DEFAULT_COMMAND_METRICS`` when it gives none."""
        if self.sample:
            from harness.samples import SAMPLES

            metrics = {**SAMPLES[self.sample].metrics, **self.metrics}
        elif self.kube is not None:
            metrics = {**KUBE_DEFAULT_METRICS, **self.metrics}
        else:
            metrics = dict(self.metrics) or dict(DEFAULT_COMMAND_METRICS)
        if self.netns:  # the namespace's own TCP counters: what a fault below TCP costs
            metrics = {**NETNS_METRICS, **metrics}
        return metrics

    @model_validator(mode="after")
    def _sample_or_command(self) -> Target:
        given = [k for k in ("sample", "command", "kube") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of sample: NAME, command: [...] or "
                             "kube: {namespace, deployment | selector, port}"
                             + (f" (got {' and '.join(given)})" if given else ""))
        if self.kube is not None and self.netns:
            raise ValueError("netns: a Kubernetes target runs in its pods' namespaces, not ours")
        if self.command is not None and not self.command:
            raise ValueError("command: must not be empty")
        if is_reserved(self.name):
            raise ValueError(f"name {self.name!r} is reserved for the harness's control series")
        if self.kube is None:
            for alias, source in self.metrics.items():
                if source.startswith("kube:"):
                    raise ValueError(f"metrics.{alias}: {source} reads a Kubernetes target's "
                                     "pods; this target has no kube:")
        if not self.netns:
            for alias, source in self.metrics.items():
                if source.startswith("net:"):
                    raise ValueError(f"metrics.{alias}: {source} reads the target's own "
                                     "network namespace; set netns: true")
        return self


class Proxy(_Strict):
    """A Toxiproxy proxy in front of a target (or any host:port)."""

    name: str
    upstream: str = Field(description="a target name, or host:port")
    listen_port: int | None = Field(None, ge=1, le=65535)

    _name = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))


class Load(_Strict):
    """Locust: which user classes, how many users, where it sends traffic."""

    user: str | list[str] | None = Field(
        None, description="Locust User class name, or a list of them; omitted: every User "
        "class of load.locustfile (as Locust itself would run them)"
    )
    locustfile: str | None = Field(
        None, description="path or module holding the user classes; default: bundled users"
    )
    weights: dict[str, int] = Field(
        default_factory=dict, description="user class -> weight (replaces the class's own)"
    )
    fixed_counts: dict[str, int] = Field(
        default_factory=dict, description="user class -> fixed number of users (fixed_count)"
    )
    tags: list[str] = Field(default_factory=list, description="run only tasks with these tags")
    exclude_tags: list[str] = Field(
        default_factory=list, description="run no task with these tags"
    )
    shape: Literal["auto", "phases", "locustfile"] = Field(
        "auto", description="who sets the user count: the scenario's phases, or the "
        "locustfile's own LoadTestShape (auto: the latter when the locustfile has one)"
    )
    users: int = Field(10, ge=0, le=MAX_USERS)
    spawn_rate: float = Field(10.0, gt=0, le=MAX_USERS)
    host: str | None = Field(None, description="proxy name (default: the first proxy) or a URL")
    workers: int = Field(0, ge=0, le=64, description="0: one process; N: master + N workers")
    options: dict[str, Any] = Field(default_factory=dict, description="passed to the users")
    # open model (docs/scenarios: load.arrival_rate): requests start on a schedule
    arrival_rate: ArrivalRate | None = Field(
        None, description="open model: requests/s for phases that give none")
    max_in_flight: int = Field(
        1000, ge=1, le=MAX_USERS,
        description="open model: requests in flight at most (split across workers); an "
                    "arrival that finds them all busy is dropped and counted")
    late_tolerance: Duration = Field(
        0.1, gt=0, le=10.0,
        description="open model: a request starting later than this after its intended "
                    "time is counted late")
    max_late_ratio: float = Field(
        0.01, ge=0, le=1,
        description="open model: late + dropped arrivals above this fraction of the "
                    "scheduled ones: the load was not delivered (tool failure, exit 3)")

    @property
    def open_model(self) -> bool:
        """True when the scenario sets an arrival rate (here or on a phase)."""
        return self.arrival_rate is not None

    @property
    def user_classes(self) -> list[str] | None:
        """The named user classes; None: every class of the locustfile."""
        if self.user is None:
            return None
        return [self.user] if isinstance(self.user, str) else list(self.user)

    @model_validator(mode="after")
    def _users_named(self) -> Load:
        errors: list[str] = []
        names = self.user_classes
        if names is None and self.locustfile is None:
            errors.append("user: name a user class (the bundled users need one), or give "
                          "load.locustfile to run every User class in it")
        if names is not None and not names:
            errors.append("user: the list is empty")
        for name in [*(names or []), *self.weights, *self.fixed_counts]:
            if not name.isidentifier():
                errors.append(f"user: {name!r} is not a Python class name")
        for field, mapping in (("weights", self.weights), ("fixed_counts", self.fixed_counts)):
            for name, value in mapping.items():
                if names is not None and name not in names:
                    errors.append(f"{field}: {name!r} is not one of load.user "
                                  f"({', '.join(names)}){did_you_mean(name, names)}")
                if value < (1 if field == "weights" else 0):
                    errors.append(f"{field}.{name}: must be >= {1 if field == 'weights' else 0}")
        for dup in {n for n in names or [] if (names or []).count(n) > 1}:
            errors.append(f"user: {dup!r} named twice")
        if self.shape == "locustfile" and self.locustfile is None:
            errors.append("shape: 'locustfile' needs load.locustfile (a file with a "
                          "LoadTestShape class)")
        if errors:
            raise ValueError("\n".join(errors))
        return self


class Phase(_Strict):
    """A stretch of the timeline with its load level and faults."""

    name: str
    duration: Duration
    users: int | None = Field(None, ge=0, le=MAX_USERS)
    spawn_rate: float | None = Field(None, gt=0, le=MAX_USERS)
    arrival_rate: ArrivalRate | None = Field(
        None, description="open model: requests/s in this phase (default load.arrival_rate)")
    faults: list[Fault] = Field(default_factory=list)
    container_faults: list[ContainerFault] = Field(
        default_factory=list, description="kill/pause a target's container (compose backend)"
    )
    network_faults: list[NetworkFault] = Field(
        default_factory=list,
        description="below TCP, on a target with netns: true (local backend, root)")
    pod_faults: list[PodFault] = Field(
        default_factory=list,
        description="delete / kill / scale to zero the pods of a target.kube (attach backend)")

    _name = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))

    @property
    def any_faults(self) -> bool:
        """Toxics, network or pod faults in force (how the analysis tells a faulty phase).
        Container faults are not counted here, as before they existed."""
        return bool(self.faults or self.network_faults or self.pod_faults)

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be longer than 0s")
        return value


def _open_user_problems(load: Load, open_model: bool) -> list[str]:
    if load.locustfile is not None:
        return []  # your own class: checked when Locust imports it
    if open_model and load.user not in OPEN_USERS:
        return [f"load.user: {load.user!r} runs closed-model (users in a loop); with "
                f"arrival_rate use {' or '.join(OPEN_USERS)}, or your own subclass of it"]
    if not open_model and load.user in OPEN_USERS:
        return [f"load.user: {load.user} needs an arrival rate (load.arrival_rate or "
                "phases[].arrival_rate, requests/s)"]
    return []


def _used_twice(section: str, names: list[str]) -> list[str]:
    """``section: name 'x' used twice`` for every name given more than once."""
    return [f"{section}: name {dup!r} used twice"
            for dup in sorted({n for n in names if names.count(n) > 1})]


def _fault_target(targets: list[Target], name: str, where: str,
                  errors: list[str]) -> Target | None:
    """The target a fault names, or None with ``where: no target named ...`` in ``errors``."""
    owner = next((t for t in targets if t.name == name), None)
    if owner is None:
        errors.append(f"{where}: no target named {name!r}"
                      f"{did_you_mean(name, [t.name for t in targets])}")
    return owner


class Scenario(_Strict):
    """One soak: targets, proxies, load, the phase timeline and the thresholds."""

    name: str
    description: str = ""
    target: Target | None = None
    targets: list[Target] = Field(default_factory=list)
    proxies: list[Proxy] = Field(default_factory=list)
    load: Load
    phases: list[Phase] = Field(min_length=1)
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    sample_interval: Duration = Field(
        1.0, ge=MIN_SAMPLE_INTERVAL, le=MAX_SAMPLE_INTERVAL,
        description="seconds between resource samples (0.1s to 1h)")
    variant: Variant | None = Field(None, description="the variant this scenario was resolved to")
    attach: AttachSettings | None = Field(
        None, description="endpoints of a running topology, for --backend attach"
    )
    toxiproxy_processes: int | None = Field(
        None, ge=1, le=16,
        description="--backend local: toxiproxy-server processes, each proxy listening in "
        "all of them and the load spread over them; omitted: as many as the open-file hard "
        "limit needs (two FDs per proxied connection)")

    _name = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))

    @property
    def all_targets(self) -> list[Target]:
        """``target`` and ``targets`` together, in start order."""
        return ([self.target] if self.target else []) + list(self.targets)

    @property
    def duration(self) -> float:
        """Planned length of the timeline in seconds."""
        return sum(p.duration for p in self.phases)

    def phase_starts(self) -> list[tuple[Phase, float, float]]:
        """Each phase with its planned start and end (seconds from load start)."""
        out, t = [], 0.0
        for phase in self.phases:
            out.append((phase, t, t + phase.duration))
            t += phase.duration
        return out

    @property
    def open_model(self) -> bool:
        """Requests start on an arrival-rate schedule (``arrival_rate`` set somewhere)."""
        return self.load.open_model or any(p.arrival_rate is not None for p in self.phases)

    def arrival_steps(self, phase: Phase) -> list[float]:
        """Open model: the phase's rate steps (requests/s); [0.0] when it sets none and
        ``load.arrival_rate`` is unset; [] in the closed model."""
        if not self.open_model:
            return []
        rate = phase.arrival_rate if phase.arrival_rate is not None else self.load.arrival_rate
        return arrival_steps(rate) or [0.0]

    def users_in(self, phase: Phase) -> int:
        """The phase's load level: its users (closed model), or its mean arrival rate
        rounded up (open model), so a phase with 0 is unloaded in both."""
        if self.open_model:
            steps = self.arrival_steps(phase)
            return math.ceil(sum(steps) / len(steps))
        return self.load.users if phase.users is None else phase.users

    def metric_aliases(self) -> set[str]:
        """Every metric alias some target is sampled for (samples' and commands' defaults
        included)."""
        names: set[str] = set()
        for target in self.all_targets:
            names |= set(target.sampled_metrics())
        return names

    def _open_model_problems(self) -> list[str]:
        errors = _rate_problems("load.arrival_rate", self.load.arrival_rate)
        for i, phase in enumerate(self.phases):
            errors += _rate_problems(f"phases[{i}].arrival_rate", phase.arrival_rate)
            if self.open_model:
                errors += [f"phases[{i}].{field}: the open model (arrival_rate) sets the load "
                           "in requests/s; users and spawn_rate do not apply"
                           for field in ("users", "spawn_rate")
                           if getattr(phase, field) is not None]
        if self.open_model:
            errors += [f"load.{field}: the open model (arrival_rate) sets the load in "
                       "requests/s; users and spawn_rate do not apply"
                       for field in ("users", "spawn_rate") if field in self.load.model_fields_set]
        return errors + _open_user_problems(self.load, self.open_model)

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        errors: list[str] = []
        targets = self.all_targets
        if not targets:
            errors.append("target: give a target (or targets: [...])")
        target_names = [t.name for t in targets]
        errors += _used_twice("targets", target_names)
        proxy_names = [p.name for p in self.proxies]
        errors += _used_twice("proxies", proxy_names)
        for i, proxy in enumerate(self.proxies):
            if proxy.upstream in target_names:
                continue
            address = re.match(r"^[\w.\-\[\]:]+:(\d+)$", proxy.upstream)
            if address is None:
                errors.append(
                    f"proxies[{i}].upstream: {proxy.upstream!r} is neither a target"
                    f"{did_you_mean(proxy.upstream, target_names)} nor host:port"
                )
            elif not 1 <= int(address.group(1)) <= 65535:
                errors.append(f"proxies[{i}].upstream: port {address.group(1)} of "
                              f"{proxy.upstream!r} is out of range (1-65535)")
        phase_names = [p.name for p in self.phases]
        errors += _used_twice("phases", phase_names)
        for i, phase in enumerate(self.phases):
            for j, cfault in enumerate(phase.container_faults):
                _fault_target(targets, cfault.target,
                              f"phases[{i}].container_faults[{j}].target", errors)
            for j, nfault in enumerate(phase.network_faults):
                where = f"phases[{i}].network_faults[{j}].target"
                owner = _fault_target(targets, nfault.target, where, errors)
                if owner is not None and not owner.netns:
                    errors.append(f"{where}: target {nfault.target!r} does not run in its own "
                                  f"network namespace; set netns: true on it (faults below TCP "
                                  f"need one)")
                up = nfault.upstream
                if up is not None and ":" not in up and (up not in target_names
                                                         or up == nfault.target):
                    errors.append(f"phases[{i}].network_faults[{j}].upstream: {up!r} is neither "
                                  f"another target{did_you_mean(up, target_names)} nor host:port")
            for j, pfault in enumerate(phase.pod_faults):
                where = f"phases[{i}].pod_faults[{j}].target"
                owner = _fault_target(targets, pfault.target, where, errors)
                if owner is None:
                    continue
                if owner.kube is None:
                    errors.append(f"{where}: target {pfault.target!r} has no kube: reference; "
                                  "pod faults act on a Kubernetes workload (target.kube)")
                elif pfault.type == "scale_zero" and owner.kube.deployment is None:
                    errors.append(f"{where}: scale_zero scales a Deployment; target "
                                  f"{pfault.target!r} names its pods by selector (give "
                                  "kube.deployment)")
            for j, fault in enumerate(phase.faults):
                if fault.proxy not in proxy_names:
                    errors.append(
                        f"phases[{i}].faults[{j}].proxy: no proxy named {fault.proxy!r}"
                        f"{did_you_mean(fault.proxy, proxy_names)}"
                    )
        errors += self._open_model_problems()
        host = self.load.host
        port = re.match(r"^\w+://[^/]*:(\d+)(/|$)", host or "")
        if port and not 1 <= int(port.group(1)) <= 65535:
            errors.append(f"load.host: port {port.group(1)} is not in 1-65535")
        if host is not None and "://" not in host and host not in proxy_names:
            errors.append(
                f"load.host: {host!r} is neither a proxy{did_you_mean(host, proxy_names)} nor a URL"
            )
        if host is None and not self.proxies and not any(t.port for t in targets):
            pass  # the first target's port is used
        aliases = self.metric_aliases()
        for key, threshold in self.thresholds.items():
            errors += _rate_threshold_problems(key, threshold)
            if threshold.names is not None and (key == RATE_KEY or not is_latency_key(key)):
                errors.append(f"thresholds.{key}.names: request names are judged only by "
                              "latency (p<NN>_ms) and error_ratio thresholds")
            if not is_latency_key(key) and key not in aliases:
                known = [*sorted(aliases), "p99_ms", "error_ratio"]
                errors.append(
                    f"thresholds.{key}: no target samples a metric named {key!r}"
                    f"{did_you_mean(key, known)}; known: {', '.join(known)}"
                )
            for named in threshold.phases or []:
                if named not in phase_names:
                    errors.append(
                        f"thresholds.{key}.phases: no phase named {named!r}"
                        f"{did_you_mean(named, phase_names)}"
                    )
            for target in threshold.targets or []:
                if target not in target_names and not is_reserved(target):
                    errors.append(
                        f"thresholds.{key}.targets: no target named {target!r}"
                        f"{did_you_mean(target, target_names)}"
                    )
        if errors:
            raise ValueError("\n".join(errors))
        return self
