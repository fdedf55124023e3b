"""The kubelet's cAdvisor metrics (``/api/v1/nodes/<node>/proxy/metrics/cadvisor``), parsed.

Only the series a leak hunt needs are kept (``CADVISOR_METRICS``); every other line of the
page (hundreds per container) is skipped by its name before any label is parsed.

Which container a series belongs to: by its cgroup path (label ``id``), whose last component
is the runtime's container id (``.../pod<uid>/<64 hex>`` with the cgroupfs driver,
``.../cri-containerd-<64 hex>.scope`` with systemd, ``crio-``/``docker-`` likewise), matched
against the pod status's ``containerID``. That holds even when the kubelet's cAdvisor could
not reach the runtime and labels nothing (``container=""``, ``pod=""``: a kubelet whose
containerd socket is not the default one). Series without a container id (the pod's own
cgroup, the node's) are kept with ``container_id=None`` and the labels they carry.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# alias (kube:<alias>) -> cAdvisor series name
CADVISOR_METRICS: dict[str, str] = {
    "fds": "container_file_descriptors",
    "threads": "container_threads",
    "sockets": "container_sockets",
    "memory": "container_memory_working_set_bytes",
    "cpu": "container_cpu_usage_seconds_total",  # a counter: read as cores (its rate)
    "oom_events": "container_oom_events_total",  # a counter, per container lifetime
}
COUNTERS = frozenset({"cpu", "oom_events"})
_BY_NAME = {name: alias for alias, name in CADVISOR_METRICS.items()}
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_CONTAINER_ID = re.compile(r"(?:^|[-/])([0-9a-f]{64})(?:\.scope)?$")


@dataclass(frozen=True)
class CadvisorSeries:
    """One value of one wanted series for one cgroup."""

    alias: str  # a key of CADVISOR_METRICS
    value: float
    container_id: str | None  # the runtime's id from the cgroup path, when it names one
    namespace: str
    pod: str
    container: str
    cgroup: str
    timestamp: float | None = None  # epoch seconds of the measurement, when the page says


def container_id_of(cgroup: str) -> str | None:
    """The 64-hex container id a cgroup path ends in, or None (a pod's or the node's cgroup)."""
    match = _CONTAINER_ID.search(cgroup.rstrip("/"))
    return match.group(1) if match else None


def runtime_id(container_id: str) -> str:
    """``containerd://<hex>`` (a pod status's ``containerID``) -> ``<hex>``."""
    return container_id.rpartition("://")[2]


def parse_cadvisor(text: str) -> list[CadvisorSeries]:
    """The wanted series of a cAdvisor exposition page (text format 0.0.4).

    ``container_cpu_usage_seconds_total`` is kept only for ``cpu="total"`` (or no cpu label).
    A line that does not parse is skipped: the page is the kubelet's, not ours to reject.
    """
    out: list[CadvisorSeries] = []
    for line in text.splitlines():
        if not line.startswith("container_"):
            continue
        brace = line.find("{")
        name = line[:brace] if brace > 0 else line.split(" ", 1)[0]
        alias = _BY_NAME.get(name)
        if alias is None:
            continue
        labels: dict[str, str] = {}
        rest = line[len(name):]
        if brace > 0:
            close = line.rfind("}")
            if close < brace:
                continue
            labels = dict(_LABEL.findall(line[brace + 1:close]))
            rest = line[close + 1:]
        fields = rest.split()
        if not fields:
            continue
        try:
            value = float(fields[0])
        except ValueError:
            continue
        if not math.isfinite(value):
            continue
        if alias == "cpu" and labels.get("cpu", "total") != "total":
            continue
        stamp: float | None = None
        if len(fields) > 1:
            try:
                stamp = int(fields[1]) / 1000.0
            except ValueError:
                stamp = None
        cgroup = labels.get("id", "")
        out.append(CadvisorSeries(alias, value, container_id_of(cgroup),
                                  labels.get("namespace", ""), labels.get("pod", ""),
                                  labels.get("container", ""), cgroup, stamp))
    return out


__all__ = ["CADVISOR_METRICS", "COUNTERS", "CadvisorSeries", "container_id_of",
           "parse_cadvisor", "runtime_id"]
