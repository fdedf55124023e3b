"""``analyze(run, scenario) -> list[Check]``: every check a scenario asks for, plus run and
tool checks. A pure function of the run folder data and the scenario; it never raises on
missing or partial data (an interrupted run, a dead target): such checks get ERROR or SKIP
with the reason in ``detail``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from harness.analysis._common import TargetRef, control_targets, targets_for
from harness.analysis._completion import alive_checks, completed_check
from harness.analysis._delivery import delivery_checks
from harness.analysis._kube import kube_checks
from harness.analysis._latency import error_ratio_checks, latency_checks
from harness.analysis._level import level_check
from harness.analysis._names import name_checks
from harness.analysis._phases import Span, default_growth_phases, spans
from harness.analysis._rate import rate_checks
from harness.analysis._recovery import recovery_check
from harness.analysis._trend import growth_check, growth_per_1k_check
from harness.runfolder import RunRecord
from harness.scenario import LATENCY_KEY, RATE_KEY, Scenario, Threshold
from harness.verdicts import Check, Verdict

# Growth limits for the control series (toxiproxy-server, Locust): generous, a tool problem
# must be a real climb, not a ramp. Only what is the tool's own is judged by default: its
# memory and threads. Its FDs and goroutines track the connections it carries (Toxiproxy
# holds two sockets and goroutines per client connection; Locust keeps vanished-peer sockets
# open on purpose), so they follow the target's own connection leaks and the load level:
# they are sampled and charted as context, and judged only when a threshold names the tool
# in ``targets:``.
TOOL_GROWTH_PER_MIN: dict[str, float] = {
    "threads": 3.0,
    "rss": 10 * 1024 * 1024,  # bytes: 10 MiB/min
}
# field defaults (alpha, settle, ...) for tools the scenario sets no threshold for
TOOL_DEFAULT = Threshold.model_validate({"max_growth_per_min": 1.0})


def _guard(
    name: str, metric: str, target: str | None, build: Callable[[], list[Check]]
) -> list[Check]:
    """Run one check builder; an unexpected failure becomes a visible ERROR check."""
    try:
        return build()
    except Exception as exc:  # a bug or unreadable data must not hide the other verdicts
        return [Check(name=name, metric=metric, target=target, kind="error",
                      verdict=Verdict.ERROR,
                      detail=f"analysis failed: {type(exc).__name__}: {exc}")]


def _resource_checks(
    run: RunRecord, scenario: Scenario, sp: dict[str, Span], key: str, th: Threshold,
    ref: TargetRef,
) -> list[Check]:
    out: list[Check] = []
    if th.max_growth_per_min is not None:
        out.append(growth_check(run, scenario, sp, key, th, ref, th.max_growth_per_min))
    if th.max_growth_per_1k_requests is not None:
        out.append(growth_per_1k_check(run, scenario, sp, key, th, ref,
                                       th.max_growth_per_1k_requests))
    if th.recover_within is not None:
        out.append(recovery_check(run, scenario, sp, key, th, ref, th.recover_within))
    if th.max is not None:
        out.append(level_check(run, scenario, sp, key, th, ref, "max", th.max))
    if th.min is not None:
        out.append(level_check(run, scenario, sp, key, th, ref, "min", th.min))
    return out


def _load_side(
    run: RunRecord, scenario: Scenario, sp: dict[str, Span], key: str, th: Threshold
) -> list[Check]:
    if th.names:
        return name_checks(run, scenario, sp, key, th)
    if LATENCY_KEY.match(key):
        return latency_checks(run, scenario, sp, key, th)
    return error_ratio_checks(run, scenario, sp, th)


def _one_growth(
    run: RunRecord, scenario: Scenario, sp: dict[str, Span], key: str, th: Threshold,
    ref: TargetRef, limit: float,
) -> list[Check]:
    return [growth_check(run, scenario, sp, key, th, ref, limit)]


def _tool_checks(run: RunRecord, scenario: Scenario, sp: dict[str, Span]) -> list[Check]:
    """Growth checks on the control series, category ``tool``."""
    explicit = {
        (t, key)
        for key, th in scenario.thresholds.items()
        for t in th.targets or []
    }
    out: list[Check] = []
    # Only phases without faults: under a fault Toxiproxy buffers (latency, bandwidth) and
    # Locust holds stalled requests by design, so their growth there is the fault's doing.
    quiet = [p.name for p in scenario.phases
             if p.name in default_growth_phases(scenario) and not p.any_faults]
    if not quiet:
        return [Check(name="tools", metric="-", kind="growth", category="tool",
                      verdict=Verdict.SKIP,
                      detail="the tools (toxiproxy, locust, the harness) are judged only in loaded phases "
                             "without faults, and this scenario has none; their series are "
                             "in the tools chart")]
    tool_th = TOOL_DEFAULT.model_copy(update={"phases": quiet})
    for ref in control_targets(run):
        for alias in sorted(ref.aliases):
            if (ref.name, alias) in explicit:
                continue  # the scenario names this tool explicitly: judged with its threshold
            # the scenario's thresholds are sized for its targets, not for the tools
            limit = TOOL_GROWTH_PER_MIN.get(alias)
            if limit is None:
                continue
            out += _guard(f"{alias}.growth[{ref.name}]", alias, ref.name,
                          partial(_one_growth, run, scenario, sp, alias, tool_th, ref, limit))
    return out


def analyze(run: RunRecord, scenario: Scenario) -> list[Check]:
    """Every check for one run: run checks, the scenario's thresholds, tool checks."""
    sp = spans(run, scenario)
    checks: list[Check] = []
    checks += _guard("run.completed", "run", None,
                     lambda: [completed_check(run, scenario, sp)])
    checks += _guard("target.alive", "alive", None, lambda: alive_checks(run, scenario, sp))
    # a Kubernetes target: containers that died, and stretches the harness could not see
    checks += _guard("target.kube", "restarts", None, lambda: kube_checks(run, scenario, sp))
    # on by default: a collapsed request rate is never a PASS (docs/thresholds.md)
    checks += _guard(RATE_KEY, RATE_KEY, None,
                     lambda: rate_checks(run, scenario, sp, scenario.thresholds.get(RATE_KEY)))
    # open model: requests not started on time make the run a tool failure, never a PASS
    checks += _guard("load.delivery", "late_starts", None,
                     lambda: delivery_checks(run, scenario, sp))
    for key, th in scenario.thresholds.items():
        if key == RATE_KEY:
            continue
        if LATENCY_KEY.match(key) or key == "error_ratio":
            checks += _guard(key, key, None, partial(_load_side, run, scenario, sp, key, th))
            continue
        for ref in targets_for(key, th, scenario, run):
            checks += _guard(f"{key}[{ref.name}]", key, ref.name,
                             partial(_resource_checks, run, scenario, sp, key, th, ref))
    checks += _tool_checks(run, scenario, sp)
    return checks
