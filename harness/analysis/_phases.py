"""Which phases a check covers, and the samples that fall inside them.

Phase roles come from the scenario (load level and faults); phase times come from the run
(``run.phases``, the spans as they actually ran, so a run cut short judges what it has).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.events import EventKind
from harness.runfolder import PhaseSpan, RunRecord
from harness.scenario import Phase, Scenario


@dataclass(frozen=True)
class Span:
    """A phase as it ran, with the scenario's view of it."""

    name: str
    start: float
    end: float  # the data end when the phase was cut short
    cut_short: bool
    users: int
    has_faults: bool
    tool_cut: bool = False  # cut at a tool's failure: missing data is not the target's


def effective_users(scenario: Scenario, phase: Phase) -> int:
    """Users during a phase (``None`` means the scenario's ``load.users``); in the open
    model, the phase's mean arrival rate rounded up (``Scenario.users_in``)."""
    return scenario.users_in(phase)


def recovery_phase_names(scenario: Scenario) -> list[str]:
    """Phases with no load and no faults that follow a phase with load or faults.

    The first phase is never a recovery phase (it is the baseline).
    """
    names: list[str] = []
    active_before = False
    for phase in scenario.phases:
        idle = effective_users(scenario, phase) == 0 and not phase.any_faults
        if idle and active_before:
            names.append(phase.name)
        if not idle:
            active_before = True
    return names


def first_recovery_phase(scenario: Scenario) -> str | None:
    """The recovery phase that is judged: the first one after the last active phase."""
    last_active = max(
        (i for i, p in enumerate(scenario.phases)
         if p.any_faults or effective_users(scenario, p) > 0),
        default=None,
    )
    if last_active is None:
        return None
    recovery = set(recovery_phase_names(scenario))
    for phase in scenario.phases[last_active + 1 :]:
        if phase.name in recovery:
            return phase.name
    return None


def default_growth_phases(scenario: Scenario) -> list[str]:
    """Every phase except the first (the warmup baseline) and trailing recovery phases.

    A one-phase scenario judges its only phase.
    """
    phases = [p.name for p in scenario.phases]
    recovery = set(recovery_phase_names(scenario))
    while len(phases) > 1 and phases[-1] in recovery:
        phases.pop()
    return phases[1:] if len(phases) > 1 else phases


def load_phases(scenario: Scenario) -> list[str]:
    """Phases with users > 0 (latency and error-ratio checks cover these by default)."""
    return [p.name for p in scenario.phases if effective_users(scenario, p) > 0]


def trusted_until(run: RunRecord) -> float | None:
    """The run time of the first tool's last sign of life, when a tool failed mid-run
    (a ``tool_failed`` event); None when every tool held. Data after it is not judged."""
    times = [float(e.get("since", e.get("t", 0.0))) for e in run.events
             if e.get("kind") == EventKind.TOOL_FAILED]
    return min(times, default=None)


def spans(run: RunRecord, scenario: Scenario) -> dict[str, Span]:
    """Phases that started in this run, by name, with their scenario attributes.

    After a tool failed (toxiproxy or Locust froze or exited) nothing it carried can be
    trusted: phases are cut at its last sign of life, and those that started later are
    left out (their checks say the phase never ran), so the target is never judged on
    data a broken tool produced.
    """
    by_name = {p.name: p for p in scenario.phases}
    out: dict[str, Span] = {}
    t_end = run.t_end
    limit = trusted_until(run)
    for span in run.phases:
        phase = by_name.get(span.name)
        end, cut, tool_cut = _end(span, t_end), span.end is None, False
        if limit is not None:
            if span.start >= limit:
                continue
            if end > limit:
                end, cut, tool_cut = limit, True, True
        out[span.name] = Span(
            name=span.name,
            start=span.start,
            end=end,
            cut_short=cut,
            users=effective_users(scenario, phase) if phase else 0,
            has_faults=phase.any_faults if phase else bool(span.faults),
            tool_cut=tool_cut,
        )
    return out


def _end(span: PhaseSpan, t_end: float) -> float:
    return span.end if span.end is not None else max(t_end, span.start)


AUTO_SETTLE_FRACTION = 0.2
AUTO_SETTLE_MAX = 30.0


def settle_for(span: Span, settle: float | None) -> float:
    """Seconds left out at the start of a judged phase: given, or 20% of it (<= 30 s)."""
    if settle is not None:
        return settle
    return min(AUTO_SETTLE_FRACTION * (span.end - span.start), AUTO_SETTLE_MAX)


def select(
    t: np.ndarray,
    chosen: list[Span],
    *,
    not_before: float = 0.0,
    settle: float | None = 0.0,
) -> np.ndarray:
    """Mask of times inside a chosen span (start + settle <= t < end) and t >= not_before.

    ``settle=None`` is the automatic settle time of :func:`settle_for`.
    """
    mask = np.zeros(len(t), dtype=bool)
    for span in chosen:
        mask |= (t >= span.start + settle_for(span, settle)) & (t < span.end)
    if not_before > 0:
        mask &= t >= not_before
    return mask


def covered(names: list[str], available: dict[str, Span]) -> tuple[list[Span], list[str]]:
    """(spans that ran, names that never started) for the phases a check asks for."""
    ran = [available[n] for n in names if n in available]
    missing = [n for n in names if n not in available]
    return ran, missing
