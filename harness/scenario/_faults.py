"""Faults: the seven toxics of Toxiproxy 2.12 plus ``down`` (the proxy disabled).

Attribute names, units and meanings follow Toxiproxy's README and source (v2.12.0).
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# type -> {attribute: (description, minimum)}; every attribute is an integer in Toxiproxy.
TOXIC_ATTRIBUTES: dict[str, dict[str, tuple[str, int]]] = {
    "latency": {"latency": ("delay in ms", 0), "jitter": ("+/- ms", 0)},
    "bandwidth": {"rate": ("KB/s; <= 0 means no limit, not a stall", 0)},
    "slow_close": {"delay": ("ms before the close is passed on", 0)},
    "timeout": {"timeout": ("ms before closing; 0 = black hole until removed", 0)},
    "reset_peer": {"timeout": ("ms before the TCP RST", 0)},
    "slicer": {
        "average_size": ("bytes per slice", 1),
        "size_variation": ("bytes +/-", 0),
        "delay": ("microseconds between slices", 0),
    },
    "limit_data": {"bytes": ("bytes passed before the connection is closed", 0)},
}
REQUIRED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "latency": ("latency",),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": (),
    "reset_peer": (),
    "slicer": ("average_size",),
    "limit_data": ("bytes",),
}
FAULT_TYPES: tuple[str, ...] = (*TOXIC_ATTRIBUTES, "down")
# Toxiproxy reads attributes as Go integers; a bigger number is refused by its API mid-run.
MAX_ATTRIBUTE = 2**31 - 1


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'latency'?)`` when a close match exists, else ``''``."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def known(value: str, choices: tuple[str, ...], what: str) -> str:
    """``value`` if it is one of ``choices``, else a ValueError naming the close match."""
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}{did_you_mean(value, choices)}; "
                         f"known: {', '.join(choices)}")
    return value


class Fault(BaseModel):
    """One fault applied to one proxy while its phase runs."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    proxy: str
    type: str
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: float = Field(1.0, ge=0.0, le=1.0)
    attributes: dict[str, int] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return known(value, FAULT_TYPES, "toxic")

    @model_validator(mode="before")
    @classmethod
    def _check_attributes(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kind = data.get("type")
        attrs = data.get("attributes") or {}
        if kind not in FAULT_TYPES or not isinstance(attrs, dict):
            return data
        if kind == "down":
            if attrs:
                raise ValueError("'down' takes no attributes (it disables the proxy)")
            return data
        allowed = TOXIC_ATTRIBUTES[kind]
        for name, value in attrs.items():
            if name not in allowed:
                raise ValueError(
                    f"attributes.{name}: not an attribute of {kind!r}"
                    f"{did_you_mean(name, tuple(allowed))}; known: {', '.join(allowed)}"
                )
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"attributes.{name}: must be an integer, got {value!r}")
            minimum = allowed[name][1]
            if value < minimum:
                raise ValueError(f"attributes.{name}: must be >= {minimum}, got {value}")
            if value > MAX_ATTRIBUTE:
                raise ValueError(f"attributes.{name}: must be <= {MAX_ATTRIBUTE}, got {value}")
        missing = [a for a in REQUIRED_ATTRIBUTES[kind] if a not in attrs]
        if missing:
            raise ValueError(f"{kind!r} needs attributes: {', '.join(missing)}")
        if kind == "bandwidth" and attrs.get("rate", 1) <= 0:
            raise ValueError(
                "attributes.rate: bandwidth with rate <= 0 means no limit in Toxiproxy, "
                "not a stall; use 'timeout' with timeout: 0 for a stall"
            )
        return data

    @property
    def label(self) -> str:
        """Short human label: ``latency(latency=100) on front/downstream``."""
        attrs = ",".join(f"{k}={v}" for k, v in self.attributes.items())
        where = self.proxy if self.type == "down" else f"{self.proxy}/{self.stream}"
        return f"{self.type}({attrs}) on {where}"


# ---------------------------------------------------------------------------- below TCP

NETWORK_FAULT_TYPES: tuple[str, ...] = ("blackhole", "packet_loss", "partition")


class NetworkFault(BaseModel):
    """A fault below TCP on a target that runs in its own network namespace (``netns: true``,
    local backend): iptables rules in the namespace's own chain, for one phase.

    - ``blackhole``: every packet of the target's service address dropped in ``direction``
      (``in``: what peers send, ``out``: what the target sends, ``both``). Peers vanish
      without FIN or RST. Unless ``heal: true``, the connections it caught stay dropped
      after the phase (their peers are gone for good, as a phone that left the network);
      connections made after the phase work.
    - ``packet_loss``: ``percent`` of the packets dropped at random in ``direction``.
    - ``partition``: the target cannot reach ``upstream`` (``host:port``, or another target
      by name: its port, at the address it has from this namespace) for the phase.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    target: str
    type: str
    direction: Literal["in", "out", "both"] = "both"
    percent: float | None = Field(None, gt=0, le=100)
    upstream: str | None = None
    heal: bool = False

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return known(value, NETWORK_FAULT_TYPES, "network fault")

    @model_validator(mode="after")
    def _fields_of_type(self) -> NetworkFault:
        if self.type == "packet_loss" and self.percent is None:
            raise ValueError("packet_loss needs percent: (0 < percent <= 100)")
        if self.type != "packet_loss" and self.percent is not None:
            raise ValueError(f"percent: only packet_loss takes it, not {self.type!r}")
        if self.type == "partition":
            if self.upstream is None:
                raise ValueError("partition needs upstream: host:port (what the target "
                                 "must not reach)")
            match = re.match(r"^(?P<host>[\w.\-]+):(?P<port>\d{1,5})$", self.upstream)
            bare = re.match(r"^[a-z0-9][a-z0-9_.-]*$", self.upstream)  # a target's name
            if not bare and (not match or not 1 <= int(match.group("port")) <= 65535):
                raise ValueError(f"upstream: {self.upstream!r} must be host:port (IPv4) or "
                                 "a target's name")
            if self.direction != "both":
                raise ValueError("direction: a partition cuts both ways; leave it out")
        elif self.upstream is not None:
            raise ValueError(f"upstream: only partition takes it, not {self.type!r}")
        if self.heal and self.type != "blackhole":
            raise ValueError(f"heal: only blackhole takes it, not {self.type!r}")
        return self

    @property
    def attributes(self) -> dict[str, object]:
        """What the fault_added event records beside type and direction."""
        out: dict[str, object] = {}
        if self.percent is not None:
            out["percent"] = self.percent
        if self.upstream is not None:
            out["upstream"] = self.upstream
        if self.type == "blackhole":
            out["heal"] = self.heal
        return out

    @property
    def label(self) -> str:
        """Short human label: ``packet_loss(percent=20) on netns:stream/in``."""
        attrs = ",".join(f"{k}={v}" for k, v in self.attributes.items())
        return f"{self.type}({attrs}) on netns:{self.target}/{self.direction}"


# ---------------------------------------------------------------------------- Kubernetes pods

POD_FAULT_TYPES: tuple[str, ...] = ("delete", "kill", "scale_zero")
# what ``kill`` sends PID 1 of the main container, in order of preference, when ``signal``
# is ``auto``: the first one the process has a handler for (a signal PID 1 does not handle
# is dropped by the kernel when it comes from inside its own pid namespace)
KILL_SIGNALS: tuple[str, ...] = ("TERM", "INT", "QUIT")


class PodFault(BaseModel):
    """A fault on the pods of a Kubernetes target (``target.kube``, ``--backend attach``)
    for one phase.

    - ``delete``: delete ``count`` of the target's pods (the oldest ready ones first) with
      ``grace_period`` seconds to stop (default: the pods' own); their controller makes new
      ones. Nothing to undo at the phase end; the run sees the recovery in its load.
    - ``kill``: end the main container of ``count`` pods in place (the kubelet restarts it:
      its restartCount rises). The harness execs ``kill -s SIG 1`` in the container, SIG the
      first of TERM/INT/QUIT its PID 1 handles (``signal: auto``) or the one named, and waits
      up to ``verify_within`` for the restartCount to rise: a kill with no effect is a tool
      failure (exit 3), never a silent no-op. Needs ``sh`` and ``kill`` in the image.
    - ``scale_zero``: scale the target's Deployment to 0 replicas; at the phase end, and on
      every way the run ends (Ctrl-C, SIGTERM, an error), back to the count it had.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    target: str
    type: str
    count: int = Field(1, ge=1, le=1000, description="delete, kill: how many pods")
    grace_period: int | None = Field(
        None, ge=0, le=3600, description="delete: seconds the pods get to stop")
    signal: str = Field("auto", description="kill: auto, TERM, INT or QUIT")
    verify_within: float = Field(
        60.0, gt=0, le=600, description="kill: seconds for the restartCount to rise")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return known(value, POD_FAULT_TYPES, "pod fault")

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        name = value.upper().removeprefix("SIG")
        if value != "auto" and name not in KILL_SIGNALS:
            raise ValueError(f"unknown signal {value!r}; use auto or one of "
                             f"{', '.join(KILL_SIGNALS)} (PID 1 must handle it)")
        return "auto" if value == "auto" else name

    @model_validator(mode="after")
    def _fields_of_type(self) -> PodFault:
        set_ = self.model_fields_set
        only = {"grace_period": ("delete",), "signal": ("kill",), "verify_within": ("kill",),
                "count": ("delete", "kill")}
        for name, types in only.items():
            if name in set_ and self.type not in types:
                raise ValueError(f"{name}: only {' and '.join(types)} take it, "
                                 f"not {self.type!r}")
        return self

    @property
    def attributes(self) -> dict[str, object]:
        """What the fault_added event records beside type and target."""
        if self.type == "delete":
            return {"count": self.count, **({"grace_period": self.grace_period}
                                           if self.grace_period is not None else {})}
        if self.type == "kill":
            return {"count": self.count, "signal": self.signal}
        return {}

    @property
    def label(self) -> str:
        """Short human label: ``delete(count=1) on kube:web``."""
        attrs = ",".join(f"{k}={v}" for k, v in self.attributes.items())
        return f"{self.type}({attrs}) on kube:{self.target}"
