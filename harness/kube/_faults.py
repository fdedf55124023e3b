"""Pod faults (``phases[].pod_faults``) through the Kubernetes API: delete pods, kill a pod's
main container in place, scale a Deployment to zero and back.

``PodFaults`` remembers every fault in force, so ``restore()`` (called by the attach
backend's ``down()`` on every way a run ends) puts back what the phase's end did not: a
Deployment scaled to zero gets its replica count again even when the run was interrupted or
failed mid-phase.

Killing the main container: a signal sent from inside a container's own pid namespace to its
PID 1 is dropped by the kernel unless PID 1 has a handler for it (SIGKILL included), and the
API has no "restart this container" call. So the harness reads PID 1's caught-signal mask
(``SigCgt`` in ``/proc/1/status``) through an exec, sends the first of TERM/INT/QUIT it
handles (or the one the scenario names, refused when not handled), and waits for the
container's ``restartCount`` to rise: a kill that changed nothing is an EnvironmentFailure
(exit 3) naming the pod, never a silent no-op.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.errors import EnvironmentFailure
from harness.kube._api import REQUEST_TIMEOUT, KubeApi, connect, selector_of

if TYPE_CHECKING:
    from harness.scenario import KubeRef, PodFault

SIGNAL_NUMBERS = {"TERM": 15, "INT": 2, "QUIT": 3}
# PID 1's caught-signal mask, read with shell builtins only (no cat, grep in the image)
READ_SIGCGT = ("while read -r key value; do "
               "if [ \"$key\" = SigCgt: ]; then echo \"$value\"; fi; done < /proc/1/status")
POLL = 0.5
# the exec's WebSocket takes one number (the (connect, read) pair fails inside the client)
EXEC_TIMEOUT = REQUEST_TIMEOUT[1]


def caught_signals(mask_hex: str) -> set[int]:
    """Signal numbers set in a ``SigCgt`` mask (bit n-1 is signal n)."""
    mask = int(mask_hex.strip(), 16)
    return {n for n in range(1, 65) if mask >> (n - 1) & 1}


def choose_signal(wanted: str, caught: set[int]) -> str | None:
    """The signal to send PID 1: ``wanted`` if it handles it (``auto``: the first of
    TERM/INT/QUIT it handles), else None (the kernel would drop it)."""
    names = list(SIGNAL_NUMBERS) if wanted == "auto" else [wanted]
    return next((n for n in names if SIGNAL_NUMBERS[n] in caught), None)


def label_selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


@dataclass
class _InForce:
    fault: PodFault
    ref: KubeRef
    replicas: int | None = None  # scale_zero: the count to put back


@dataclass
class PodFaults:
    """Apply and undo pod faults; ``restore()`` undoes whatever is still in force."""

    api_factory: Callable[[], KubeApi] = connect
    _api: KubeApi | None = None
    _in_force: dict[str, _InForce] = field(default_factory=dict)

    @property
    def api(self) -> KubeApi:
        if self._api is None:
            self._api = self.api_factory()
        return self._api

    def apply(self, fault: PodFault, ref: KubeRef, label: str) -> dict[str, Any]:
        """Apply ``fault`` to the workload ``ref`` names; what it did, for the event."""
        if fault.type == "scale_zero":
            return self._scale_zero(fault, ref, label)
        if fault.type == "delete":
            return self._delete(fault, ref)
        return self._kill(fault, ref)

    def remove(self, label: str) -> dict[str, Any]:
        """Undo the fault applied as ``label`` (only scale_zero has something to undo)."""
        entry = self._in_force.get(label)
        if entry is None:
            return {}
        details: dict[str, Any] = {}
        if entry.replicas is not None:
            self._scale(entry.ref, entry.replicas)
            details = {"replicas": entry.replicas}
        del self._in_force[label]
        return details

    def restore(self) -> list[str]:
        """Undo every fault still in force; the problems met (never raises)."""
        problems = []
        for label in list(self._in_force):
            try:
                self.remove(label)
            except Exception as exc:  # teardown goes on; the problem is reported
                problems.append(f"{label}: {exc}")
        return problems

    def check(self, ref: KubeRef) -> None:
        """Before the run: the API answers and ``ref``'s workload exists (and its pods are
        selectable); EnvironmentFailure (exit 3) says which."""
        selector_of(self.api, ref)

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    # ------------------------------------------------------------------ the kinds

    def _scale_zero(self, fault: PodFault, ref: KubeRef, label: str) -> dict[str, Any]:
        assert ref.deployment is not None  # the scenario's validation: scale_zero needs one
        scale = self._call(f"reading the scale of deployment {ref.deployment}", ref,
                           self.api.apps.read_namespaced_deployment_scale, ref.deployment,
                           ref.namespace)
        replicas = int(scale.spec.replicas or 0)
        # remembered before the patch: an answer lost in transit still gets undone
        self._in_force[label] = _InForce(fault, ref, replicas)
        self._scale(ref, 0)
        return {"replicas_before": replicas}

    def _scale(self, ref: KubeRef, replicas: int) -> None:
        assert ref.deployment is not None
        self._call(f"scaling deployment {ref.deployment} to {replicas}", ref,
                   self.api.apps.patch_namespaced_deployment_scale, ref.deployment,
                   ref.namespace, {"spec": {"replicas": replicas}})

    def _victims(self, fault: PodFault, ref: KubeRef) -> list[Any]:
        """The ``count`` oldest running pods of the target not being deleted already."""
        selector = label_selector(selector_of(self.api, ref))
        pods = self._call(f"listing pods {selector}", ref, self.api.core.list_namespaced_pod,
                          ref.namespace, label_selector=selector).items
        alive = sorted((p for p in pods if p.metadata.deletion_timestamp is None
                        and p.status.phase == "Running"),
                       key=lambda p: (p.metadata.creation_timestamp, p.metadata.name))
        if not alive:
            raise EnvironmentFailure(
                f"pod fault {fault.type} on {ref.namespace}/{selector}: no running pod to "
                f"{fault.type} ({len(pods)} pod(s) match, none running)")
        return alive[: fault.count]

    def _delete(self, fault: PodFault, ref: KubeRef) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        names = []
        for pod in self._victims(fault, ref):
            name = pod.metadata.name
            try:
                self._call(f"deleting pod {name}", ref, self.api.core.delete_namespaced_pod,
                           name, ref.namespace, grace_period_seconds=fault.grace_period)
            except EnvironmentFailure as exc:
                cause = exc.__cause__
                if isinstance(cause, ApiException) and cause.status == 404:
                    continue  # gone on its own meanwhile: what we wanted
                raise
            names.append(name)
        return {"pods": names}

    def _kill(self, fault: PodFault, ref: KubeRef) -> dict[str, Any]:
        killed = []
        for pod in self._victims(fault, ref):
            killed.append(self._kill_one(fault, ref, pod))
        return {"pods": [k["pod"] for k in killed], "kills": killed}

    def _kill_one(self, fault: PodFault, ref: KubeRef, pod: Any) -> dict[str, Any]:
        name = pod.metadata.name
        container = ref.container or pod.spec.containers[0].name
        where = f"pod {ref.namespace}/{name} container {container}"
        if pod.spec.share_process_namespace:
            raise EnvironmentFailure(
                f"kill on {where}: the pod shares one pid namespace (shareProcessNamespace), "
                "so PID 1 is the pause process, not the main container's")
        before = self._restarts(ref, name, container)
        mask = self._exec(ref, name, container, ["sh", "-c", READ_SIGCGT]).strip()
        try:
            caught = caught_signals(mask)
        except ValueError as exc:
            raise EnvironmentFailure(f"kill on {where}: could not read PID 1's signal "
                                     f"handlers (/proc/1/status SigCgt): {mask[-200:]!r}") from exc
        signal = choose_signal(fault.signal, caught)
        if signal is None:
            wanted = "TERM, INT or QUIT" if fault.signal == "auto" else f"SIG{fault.signal}"
            raise EnvironmentFailure(
                f"kill on {where}: its PID 1 handles no {wanted}; the kernel drops such a "
                "signal sent from inside the container, so the kill could not work (use "
                "type: delete, or a main process that handles SIGTERM)")
        started = time.monotonic()
        self._exec(ref, name, container, ["sh", "-c", f"kill -s {signal} 1"])
        deadline = started + fault.verify_within
        after = before
        while time.monotonic() < deadline:
            after = self._restarts(ref, name, container)
            if after > before:
                break
            time.sleep(POLL)
        took = time.monotonic() - started
        if after <= before:
            raise EnvironmentFailure(
                f"kill on {where}: SIG{signal} sent to PID 1 had no effect: its restartCount "
                f"stayed {before} for {fault.verify_within:g}s (the process handles the signal "
                "without exiting?). The fault did not happen: a tool failure, not a pass")
        return {"pod": name, "container": container, "signal": signal,
                "restarts_before": before, "restarts_after": after,
                "restarted_within_s": round(took, 2)}

    def _restarts(self, ref: KubeRef, pod: str, container: str) -> int:
        status = self._call(f"reading pod {pod}", ref, self.api.core.read_namespaced_pod,
                            pod, ref.namespace).status
        for cs in status.container_statuses or []:
            if cs.name == container:
                return int(cs.restart_count or 0)
        raise EnvironmentFailure(f"pod {ref.namespace}/{pod}: no container named {container!r}"
                                 " (target.kube.container)")

    def _exec(self, ref: KubeRef, pod: str, container: str, command: list[str]) -> str:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import stream

        try:
            out = stream(self.api.core.connect_get_namespaced_pod_exec, pod, ref.namespace,
                         container=container, command=command, stdin=False, stdout=True,
                         stderr=True, tty=False, _request_timeout=EXEC_TIMEOUT)
        except ApiException as exc:
            raise self._failure(f"exec in pod {pod} ({' '.join(command)[:60]})", ref,
                                exc) from exc
        except Exception as exc:  # the websocket client's own errors (refused, closed)
            raise EnvironmentFailure(f"exec in pod {ref.namespace}/{pod} container "
                                     f"{container} failed: {exc!r}") from exc
        return str(out)

    def _call(self, what: str, ref: KubeRef, fn: Callable[..., Any], *args: Any,
              **kwargs: Any) -> Any:
        """``fn(*args, **kwargs, _request_timeout=...)``; an API refusal or a network error
        becomes an EnvironmentFailure naming ``what``."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn(*args, **kwargs, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            raise self._failure(what, ref, exc) from exc
        except (HTTPError, OSError) as exc:
            raise EnvironmentFailure(f"Kubernetes: {what} in {ref.namespace}: {exc!r} "
                                     f"({self.api.where})") from exc

    def _failure(self, what: str, ref: KubeRef, exc: Any) -> EnvironmentFailure:
        hint = ""
        if getattr(exc, "status", None) == 403:
            hint = (" (RBAC: the chart's pod-fault Role grants it in the release's namespace "
                    "when faults.pods.enabled is true)")
        return EnvironmentFailure(f"Kubernetes: {what} in {ref.namespace}: "
                                  f"{exc.status} {exc.reason}{hint} ({self.api.where})")


def scale_back(ref: KubeRef, replicas: int,
               api_factory: Callable[[], KubeApi] = connect) -> str:
    """Put back a Deployment that a killed run left scaled to zero (``scale_zero`` in force
    when its harness died): to ``replicas`` if it is still at 0 (someone may have scaled it
    since: then it is left alone). What was done, as a sentence; EnvironmentFailure when the
    API cannot be reached or refuses."""
    faults = PodFaults(api_factory=api_factory)
    try:
        assert ref.deployment is not None
        scale = faults._call(f"reading the scale of deployment {ref.deployment}", ref,
                             faults.api.apps.read_namespaced_deployment_scale,
                             ref.deployment, ref.namespace)
        now = int(scale.spec.replicas or 0)
        where = f"deployment {ref.namespace}/{ref.deployment}"
        if now != 0:
            return f"{where} is at {now} replicas, not 0: left alone"
        faults._scale(ref, replicas)
        return f"{where} scaled back from 0 to {replicas} replicas"
    finally:
        faults.close()

