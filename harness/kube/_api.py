"""One way in to the Kubernetes API: config, clients, request timeouts, readable errors.

Inside a pod the service account's token (in-cluster config); elsewhere ``KUBECONFIG`` (or
``~/.kube/config``) and its current context. Every call the harness makes passes
``_request_timeout=REQUEST_TIMEOUT``: the client's default is to wait forever, and a sampler
tick must never hang on a stuck API server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.errors import EnvironmentFailure

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, AppsV1Api, CoreV1Api

    from harness.scenario import KubeRef

REQUEST_TIMEOUT = (3.0, 10.0)  # (connect, read) seconds, for every API call


@dataclass(frozen=True)
class KubeApi:
    """The typed clients over one authenticated connection."""

    client: ApiClient
    core: CoreV1Api
    apps: AppsV1Api
    where: str  # "in-cluster" or the kubeconfig's path and context, for messages

    def close(self) -> None:
        self.client.close()


def connect(kubeconfig: str | None = None, context: str | None = None) -> KubeApi:
    """Clients for the cluster: in-cluster when run in a pod (and no kubeconfig is given),
    else ``kubeconfig`` / ``KUBECONFIG`` / ``~/.kube/config``. EnvironmentFailure (exit 3)
    names what is missing."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    conf = client.Configuration()
    try:
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST") \
                and not os.environ.get("KUBECONFIG"):
            config.load_incluster_config(client_configuration=conf)
            where = "in-cluster (service account)"
        else:
            path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser(
                "~/.kube/config")
            config.load_kube_config(config_file=path, context=context,
                                    client_configuration=conf)
            where = f"kubeconfig {path}" + (f" (context {context})" if context else "")
    except (ConfigException, OSError, TypeError) as exc:
        raise EnvironmentFailure(
            f"Kubernetes: no usable configuration ({exc}): run in a pod with a service "
            "account, or set KUBECONFIG") from exc
    api = client.ApiClient(conf)
    return KubeApi(api, client.CoreV1Api(api), client.AppsV1Api(api), where)


def selector_of(api: KubeApi, ref: KubeRef) -> dict[str, str]:
    """The pod labels ``ref`` names: its selector, or its Deployment's ``matchLabels``."""
    if ref.selector is not None:
        return dict(ref.selector)
    from kubernetes.client.exceptions import ApiException

    assert ref.deployment is not None  # KubeRef: exactly one of selector, deployment
    try:
        deployment = api.apps.read_namespaced_deployment(
            ref.deployment, ref.namespace, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        raise EnvironmentFailure(
            f"Kubernetes: deployment {ref.namespace}/{ref.deployment}: {exc.status} "
            f"{exc.reason} ({api.where})") from exc
    labels = deployment.spec.selector.match_labels or {}
    if not labels:
        raise EnvironmentFailure(
            f"Kubernetes: deployment {ref.namespace}/{ref.deployment} selects its pods by "
            "matchExpressions only: name them with target.kube.selector")
    return dict(labels)
