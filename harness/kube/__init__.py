"""Kubernetes: the API the harness reads and faults a workload through (``target.kube``)."""

from harness.kube._api import REQUEST_TIMEOUT, KubeApi, connect, selector_of
from harness.kube._cadvisor import CADVISOR_METRICS, CadvisorSeries, container_id_of, parse_cadvisor
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
    "PodState",
    "PodTracker",
    "Reading",
    "connect",
    "container_id_of",
    "parse_cadvisor",
    "pod_state",
    "selector_of",
]
