"""Kubernetes: the API the harness reads and faults a workload through (``target.kube``)."""

from harness.kube._api import REQUEST_TIMEOUT, KubeApi, connect, selector_of
from harness.kube._cadvisor import CADVISOR_METRICS, CadvisorSeries, container_id_of, parse_cadvisor
from harness.kube._faults import PodFaults, caught_signals, choose_signal, scale_back
from harness.kube._pods import KUBE_METRICS, ContainerState, Death, PodState, PodTracker, Reading
from harness.kube._watch import POLL_TIMEOUT, KubeSource, KubeWatch, pod_state

__all__ = [
    "CADVISOR_METRICS",
    "KUBE_METRICS",
    "POLL_TIMEOUT",
    "REQUEST_TIMEOUT",
    "CadvisorSeries",
    "ContainerState",
    "Death",
    "KubeApi",
    "KubeSource",
    "KubeWatch",
    "PodFaults",
    "PodState",
    "PodTracker",
    "Reading",
    "caught_signals",
    "choose_signal",
    "connect",
    "container_id_of",
    "parse_cadvisor",
    "pod_state",
    "scale_back",
    "selector_of",
]
