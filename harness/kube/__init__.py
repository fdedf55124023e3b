"""Kubernetes: the API the harness reads and faults a workload through (``target.kube``)."""

from harness.kube._api import REQUEST_TIMEOUT, KubeApi, connect, selector_of
from harness.kube._faults import PodFaults, caught_signals, choose_signal, scale_back

__all__ = ["REQUEST_TIMEOUT", "KubeApi", "PodFaults", "caught_signals", "choose_signal",
           "connect", "scale_back", "selector_of"]
