"""Kubernetes: the API the harness reads and faults a workload through (``target.kube``)."""

from harness.kube._api import REQUEST_TIMEOUT, KubeApi, connect, selector_of

__all__ = ["REQUEST_TIMEOUT", "KubeApi", "connect", "selector_of"]
