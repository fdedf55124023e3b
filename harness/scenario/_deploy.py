"""Backend settings: where an already-running topology lives (attach) and how compose runs.

``attach:`` is a scenario section because it names the endpoints of one deployment (the
Helm chart writes it into the scenario ConfigMap)::

    attach:
      toxiproxy: http://toxiproxy:8474
      proxies:
        front: {listen: "toxiproxy:8666", upstream: "gateway:8080"}
      targets:
        gateway: {metrics_url: "http://gateway:8080/metrics", debug_url: "http://gateway:8080/debug/tasks"}

``listen`` is the proxy's address *as the load sees it*; Toxiproxy binds ``bind`` (default
``0.0.0.0:<listen port>``) and dials ``upstream`` *as Toxiproxy sees it*.

Compose settings are not scenario keys: they describe the machine, not the soak. They come
from ``HARNESS_COMPOSE_*`` environment variables (``ComposeSettings.from_env``).

``ContainerFault`` (kill / pause a target's container for a phase) is only meaningful with
``--backend compose``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.scenario._types import Duration

if TYPE_CHECKING:
    from harness.scenario._model import Scenario

HOST_PORT = re.compile(r"^(?P<host>[\w.\-]+|\[[0-9a-fA-F:.]+\]):(?P<port>\d{1,5})$")
URL = re.compile(r"^https?://[\w.\-\[\]:]+(:\d{1,5})?(/\S*)?$")
ATTACH_SOURCES = re.compile(r"^(prometheus:[A-Za-z_:][A-Za-z0-9_:]*(\{.*\})?|pprof:goroutine)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _host_port(value: str) -> str:
    match = HOST_PORT.match(value)
    if not match or not 1 <= int(match.group("port")) <= 65535:
        raise ValueError(f"{value!r} must be host:port (e.g. 'toxiproxy:8666')")
    return value


def _url(value: str | None) -> str | None:
    if value is not None and not URL.match(value):
        raise ValueError(f"{value!r} must be an http:// or https:// URL")
    return value


def split_host_port(value: str) -> tuple[str, int]:
    """``'toxiproxy:8666'`` -> ``('toxiproxy', 8666)`` (brackets of IPv6 kept off)."""
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class AttachProxy(_Strict):
    """One proxy on a running Toxiproxy: where the load connects, where Toxiproxy dials."""

    listen: str = Field(description="host:port the load connects to, e.g. toxiproxy:8666")
    upstream: str | None = Field(
        None, description="host:port Toxiproxy dials; default: the scenario proxy's upstream"
    )
    bind: str | None = Field(
        None, description="address Toxiproxy listens on; default 0.0.0.0:<port>"
    )

    _listen = field_validator("listen")(classmethod(lambda cls, v: _host_port(v)))

    @field_validator("upstream", "bind")
    @classmethod
    def _optional_host_port(cls, value: str | None) -> str | None:
        return None if value is None else _host_port(value)

    @property
    def bind_address(self) -> str:
        """What Toxiproxy listens on (``0.0.0.0:<listen port>`` unless ``bind`` says)."""
        return self.bind or f"0.0.0.0:{split_host_port(self.listen)[1]}"


class AttachTarget(_Strict):
    """Where a running target's instrumentation answers."""

    metrics_url: str | None = Field(None, description="Prometheus /metrics URL")
    pprof_url: str | None = Field(None, description="Go /debug/pprof/goroutine URL")
    debug_url: str | None = Field(None, description="the samples' /debug/tasks URL")
    health_url: str | None = Field(None, description="GET must answer < 500 before load starts")
    metrics: dict[str, str] = Field(
        default_factory=dict, description="alias -> prometheus:<m> | pprof:goroutine (overrides)"
    )

    @field_validator("metrics_url", "pprof_url", "debug_url", "health_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _url(value)

    @field_validator("metrics")
    @classmethod
    def _remote_sources(cls, value: dict[str, str]) -> dict[str, str]:
        for alias, spec in value.items():
            if not ATTACH_SOURCES.match(spec):
                raise ValueError(
                    f"{alias}: {spec!r} cannot be read from a remote target; "
                    "use prometheus:<metric> or pprof:goroutine"
                )
        return value


class AttachLocust(_Strict):
    """``attach.locust``: Locust workers run elsewhere (pods) and connect to the harness's master.

    With it the harness starts the Locust master only, listening on ``bind``, and waits up
    to ``timeout`` for ``load.workers`` workers (``locust --worker -f - --master-host <this
    host> --master-port <bind port>``: they fetch the run's locustfile from the master).
    """

    bind: str = Field("0.0.0.0:5557", description="host:port the master listens on for workers")
    timeout: Duration = Field(120.0, gt=0, description="how long to wait for every worker")

    _bind = field_validator("bind")(classmethod(lambda cls, v: _host_port(v)))


class AttachSettings(_Strict):
    """``attach:``: the Toxiproxy API, the proxies and the targets' endpoints."""

    toxiproxy: str = Field(description="Toxiproxy API URL, e.g. http://toxiproxy:8474")
    proxies: dict[str, AttachProxy] = Field(default_factory=dict)
    targets: dict[str, AttachTarget] = Field(default_factory=dict)
    locust: AttachLocust | None = Field(
        None, description="external Locust workers (load.workers of them) connect to the master"
    )
    timeout: Duration = Field(60.0, gt=0, description="how long to wait for Toxiproxy and health")

    @field_validator("toxiproxy")
    @classmethod
    def _api(cls, value: str) -> str:
        match = re.match(r"^http://(?P<hp>[\w.\-]+(:\d{1,5})?)/?$", value)
        if not match:
            raise ValueError(f"{value!r} must be http://host:port (the Toxiproxy API)")
        return value

    @property
    def toxiproxy_host_port(self) -> tuple[str, int]:
        """Host and port of the Toxiproxy API (port 8474 when the URL has none)."""
        hp = self.toxiproxy.removeprefix("http://").rstrip("/")
        if ":" not in hp:
            return hp, 8474
        return split_host_port(hp)


def attach_problems(scenario: Scenario) -> list[str]:
    """Cross-checks of ``attach:`` against the scenario, one line per problem (field named)."""
    attach = scenario.attach
    if attach is None:
        return ["attach: --backend attach needs an attach: section (toxiproxy, proxies, targets)"]
    problems: list[str] = []
    proxy_names = [p.name for p in scenario.proxies]
    target_names = [t.name for t in scenario.all_targets]
    # a Kubernetes target is reached at its Service unless attach says otherwise
    services = {t.name: t.kube.service_address for t in scenario.all_targets
                if t.kube is not None and t.kube.service_address}
    for i, proxy in enumerate(scenario.proxies):
        entry = attach.proxies.get(proxy.name)
        if entry is None:
            problems.append(
                f"attach.proxies: no entry for proxies[{i}] {proxy.name!r} "
                f"(give listen: host:port as the load sees it)"
            )
        elif (entry.upstream is None and not HOST_PORT.match(proxy.upstream)
              and proxy.upstream not in services):
            problems.append(
                f"attach.proxies.{proxy.name}.upstream: proxies[{i}].upstream is the target "
                f"{proxy.upstream!r}; give its address as Toxiproxy sees it (host:port)"
            )
    for name in attach.proxies:
        if name not in proxy_names:
            problems.append(
                f"attach.proxies.{name}: not a proxy of the scenario "
                f"(proxies: {', '.join(proxy_names) or 'none'})"
            )
    for name in attach.targets:
        if name not in target_names:
            problems.append(
                f"attach.targets.{name}: not a target of the scenario "
                f"(targets: {', '.join(target_names)})"
            )
    if attach.locust is not None and scenario.load.workers < 1:
        problems.append(
            "attach.locust: external workers need load.workers >= 1 "
            "(how many worker processes or pods connect to the master)"
        )
    return problems


# ---------------------------------------------------------------------------- compose

COMPOSE_ENV = "HARNESS_COMPOSE_"


class ComposeSettings(_Strict):
    """How ``--backend compose`` finds and drives the stack (env ``HARNESS_COMPOSE_<FIELD>``)."""

    file: str = Field("compose.yaml", description="the compose file")
    project: str = Field("soak", description="compose project name (-p)")
    manage: bool = Field(True, description="run `docker compose up`/`down`; false: already up")
    reach: Literal["published", "network"] = Field(
        "published",
        description="published: the harness runs on the host and uses published ports on "
        "127.0.0.1; network: the harness runs inside the compose network (service names)",
    )
    toxiproxy_service: str = "toxiproxy"
    toxiproxy_port: int = Field(8474, ge=1, le=65535)
    proxy_base_port: int = Field(8666, ge=1, le=65535, description="proxy i listens on base+i")
    proxy_bind: str = Field("0.0.0.0", description="host Toxiproxy binds proxies to (in its box)")
    target_port: int = Field(8080, ge=1, le=65535, description="targets' port inside containers")
    services: dict[str, str] = Field(
        default_factory=dict, description="target name -> compose service (default: sample name)"
    )
    wait_timeout: Duration = Field(180.0, gt=0, description="`up --wait` limit")

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not re.match(r"^[a-z0-9][a-z0-9_-]*$", value):
            raise ValueError(f"{value!r}: compose project names are lowercase, digits, '-', '_'")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ComposeSettings:
        """Settings from ``HARNESS_COMPOSE_*`` (``SERVICES`` as ``target=service,...``).

        Raises ValueError naming the variable when one is malformed.
        """
        env = os.environ if environ is None else environ
        raw: dict[str, object] = {}
        for name in cls.model_fields:
            value = env.get(COMPOSE_ENV + name.upper())
            if value is None or value == "":
                continue
            if name == "services":
                pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
                if any(len(p) != 2 for p in pairs):
                    raise ValueError(f"{COMPOSE_ENV}SERVICES: expected target=service,...")
                raw[name] = {k.strip(): v.strip() for k, v in pairs}
            elif name == "manage":
                raw[name] = value.strip().lower() not in ("0", "false", "no", "off")
            else:
                raw[name] = value
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            lines = [
                f"{COMPOSE_ENV}{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
                for err in exc.errors()
            ]
            raise ValueError("\n".join(lines)) from exc


class ContainerFault(_Strict):
    """Kill or pause a target's container while a phase runs (compose backend only).

    ``pause`` freezes every process of the container (SIGSTOP-like, cgroup freezer) and
    unpauses it at the phase end; ``kill`` sends ``signal`` and, with ``restart``, starts
    the container again at the phase end.
    """

    target: str
    action: Literal["kill", "pause"]
    signal: str = "SIGKILL"
    restart: bool = True

    @property
    def label(self) -> str:
        """Short human label: ``pause(container) on api``."""
        extra = f",signal={self.signal}" if self.action == "kill" else ""
        return f"{self.action}(container{extra}) on {self.target}"


__all__ = [
    "AttachLocust",
    "AttachProxy",
    "AttachSettings",
    "AttachTarget",
    "ComposeSettings",
    "ContainerFault",
    "attach_problems",
    "split_host_port",
]
