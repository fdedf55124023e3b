"""Backends: where the topology runs. ``local`` (default), ``compose``, ``attach``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.backends._base import (
    Backend,
    BackendContext,
    FaultInjector,
    ProcessExit,
    TargetHandle,
    TargetPlan,
    Topology,
)
from harness.backends._docker import (
    ContainerStats,
    DockerEngine,
    DockerError,
    DockerStatSource,
    DockerUnavailable,
    cpu_percent,
    memory_of,
    pids_of,
    published_port,
)
from harness.backends._netns import Addresses as NetnsAddresses
from harness.backends._netns import Netns
from harness.backends._netns import leftovers as netns_leftovers
from harness.backends._netns import machine_problems as netns_problems
from harness.backends._netns import release as release_netns
from harness.backends._netns import reserve as reserve_netns
from harness.backends._netns import sweep as sweep_netns
from harness.errors import InputError

if TYPE_CHECKING:
    from harness.scenario import Scenario

BACKENDS = ("local", "compose", "attach")


def pod_fault_problems(name: str, scenario: Scenario) -> list[str]:
    """Why ``scenario``'s pod faults cannot run on backend ``name`` (``harness validate``
    asks too): they act through the Kubernetes API on a ``target.kube``, attach only."""
    if name == "attach":
        return []
    return [f"phases[{i}].pod_faults: pod faults act on a Kubernetes workload and need "
            f"--backend attach (this run uses --backend {name})"
            for i, phase in enumerate(scenario.phases) if phase.pod_faults]


def make_backend(name: str, scenario: Scenario) -> Backend:
    """The backend called ``name``, planned for ``scenario`` (fails before starting anything)."""
    pod_problems = pod_fault_problems(name, scenario)
    if pod_problems:
        raise InputError(pod_problems[0])
    if name != "attach":
        for i, target in enumerate(scenario.all_targets):
            if target.kube is not None:
                raise InputError(
                    f"targets[{i}] ({target.name}).kube: a Kubernetes workload named by "
                    f"reference needs --backend attach (this run uses --backend {name})")
    if name != "local":
        for i, target in enumerate(scenario.all_targets):
            if target.netns:
                raise InputError(
                    f"targets[{i}] ({target.name}).netns: a target in its own network "
                    f"namespace needs --backend local (this run uses --backend {name})")
    if name != "compose":
        for i, phase in enumerate(scenario.phases):
            if phase.container_faults:
                raise InputError(
                    f"phases[{i}].container_faults: container kill/pause needs --backend compose "
                    f"(this run uses --backend {name})"
                )
    if name == "local":
        from harness.backends.local import LocalBackend

        return LocalBackend(scenario)
    if name == "compose":
        from harness.backends.compose import ComposeBackend

        return ComposeBackend(scenario)
    if name == "attach":
        from harness.backends.attach import AttachBackend

        return AttachBackend(scenario)
    raise InputError(f"--backend: unknown backend {name!r}; use one of {', '.join(BACKENDS)}")



__all__ = [
    "BACKENDS",
    "Backend",
    "BackendContext",
    "ContainerStats",
    "DockerEngine",
    "DockerError",
    "DockerStatSource",
    "DockerUnavailable",
    "FaultInjector",
    "Netns",
    "NetnsAddresses",
    "ProcessExit",
    "TargetHandle",
    "TargetPlan",
    "Topology",
    "cpu_percent",
    "make_backend",
    "memory_of",
    "netns_leftovers",
    "netns_problems",
    "pids_of",
    "pod_fault_problems",
    "published_port",
    "release_netns",
    "reserve_netns",
    "sweep_netns",
]
