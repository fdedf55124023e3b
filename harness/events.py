"""The run's event vocabulary: every line of ``events.jsonl`` has one of these kinds.

Writers (``EventLog.emit``) and readers (analysis, report) name kinds only through
``EventKind``, so a kind cannot be misspelt on one side and silently missed on the other.
The fields each kind carries are listed beside it; docs/run-folder.md has the same table.
"""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    """What happened. The value is what ``events.jsonl`` stores in ``"kind"``."""

    RUN_START = "run_start"  # scenario, variant, backend, run_dir
    RUN_END = "run_end"  # status
    # the open-file limit at start: before (soft found), soft (now), hard, needed (estimate)
    FD_LIMIT = "fd_limit"
    INTERRUPTED = "interrupted"  # signal
    ERROR = "error"  # message
    # a tool (toxiproxy, locust) exited or stopped answering mid-run: tool, what, since (the
    # run time of its last sign of life: the analysis judges the target only before it)
    TOOL_FAILED = "tool_failed"
    PHASE_START = "phase_start"  # phase, index, users, planned_s[, arrival_rate: steps/s]
    PHASE_END = "phase_end"  # phase, index
    # phase, proxy, type, stream, toxicity, attributes, toxic | target; a network fault:
    # proxy "netns:<target>", target, stream (its direction: in/out/both), attributes, toxic
    FAULT_ADDED = "fault_added"
    FAULT_REMOVED = "fault_removed"  # phase, proxy, type, toxic | target
    # a pod fault (fault_added with proxy "kube:<target>", target, type delete | kill |
    # scale_zero, attributes, toxic, and what it did: pods (names); kill: kills [{pod,
    # container, signal, restarts_before, restarts_after, restarted_within_s}]; scale_zero:
    # replicas_before) is undone at its phase's end: phase, target, type, toxic, replicas
    # (scale_zero: the count put back). Before fault_removed.
    POD_FAULT_UNDONE = "pod_fault_undone"
    PROCESS_START = "process_start"  # process, role, pid, ...
    PROCESS_EXIT = "process_exit"  # process, role, returncode, expected, phase
    PROXY_CREATED = "proxy_created"  # proxy, listen, upstream[, server: one per toxiproxy process]
    TOXIPROXY_ATTACHED = "toxiproxy_attached"  # url, version
    TARGET_ATTACHED = "target_attached"  # target, metrics, ...
    COMPOSE_UP = "compose_up"  # project, file, ...
    METRIC_UNAVAILABLE = "metric_unavailable"  # target, metric, spec, reason
    # a target's own network namespace: target, netns, veth, chain, host, service, control, block
    NETNS_CREATED = "netns_created"
    # TCP counters of a target's namespace when a network fault ends: phase, target, label,
    # counters ({RetransSegs, OutSegs, InSegs, ...} read at the fault's start and end), delta
    NETNS_COUNTERS = "netns_counters"
    EVIDENCE = "evidence"  # target, label, file, total
    # written by Locust's master (or standalone) process itself (one appended line each):
    # more distinct request names than the cap; later ones are folded into "(other)":
    # cap, first ("TYPE name" of the first folded, or null when a worker folded it),
    # folded_requests (so far), final (false at the first fold, true at the end of the run)
    LATENCY_NAMES_FOLDED = "latency_names_folded"
    # the locustfile's own LoadTestShape sets the user count: shape (class name), state
    # ("following" at load start, "ended" when it returned None before the phases ended)
    LOAD_SHAPE = "load_shape"
    # the open model could not start every request on time in a phase (written once the load
    # stopped, from arrivals.csv): phase, intended, started, late (started more than
    # late_tolerance_s after the intended time), dropped (max_in_flight requests were already
    # in flight), late_tolerance_s, max_in_flight. Only phases with a late or dropped request.
    LOAD_LATE = "load_late"
    # a Kubernetes target (target.kube), written by its pod watch (harness/kube/_watch.py):
    # the pods behind its selector changed (set or readiness): target, total, ready,
    # pods [{pod, node, phase, ready[, deleting][, waiting]}], added, gone
    KUBE_PODS = "kube_pods"
    # a container of the target died during the run: target, pod, container, reason
    # (OOMKilled, Error, ...), exit_code, finished_at, oom, restart_count[, count]
    KUBE_RESTART = "kube_restart"
    # the kube: series stopped (state "start", reason) or resumed (state "end", reason: the
    # gap's): target, state, reason
    KUBE_GAP = "kube_gap"


def kind_of(event: dict[str, object]) -> EventKind | None:
    """The kind of a read event, or None for a kind this version does not know."""
    try:
        return EventKind(str(event.get("kind")))
    except ValueError:
        return None


__all__ = ["EventKind", "kind_of"]
