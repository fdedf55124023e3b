"""Before a run: how many samples each check will judge, and which checks never can.

``unjudgeable(scenario)`` plans every check of a scenario from its planned phase times (after
``--duration-scale`` and ``--set``): the samples a growth check fits after ``settle`` and
``ignore_first``, the baseline and recovery samples of a recovery check, the latency windows
of a latency check, the whole seconds of the request-rate baseline. A check that cannot get
enough of them on the planned timeline can never be judged: ``validate`` and ``run`` refuse
the scenario (exit 2) with one line per such check, naming the threshold and the phase.

The counts are the most a phase can give (a sample every ``sample_interval`` from its first
judged second; every 15 s for a ``kube:`` cAdvisor series, about cAdvisor's measurement
interval): a check refused here would be INCONCLUSIVE on every run. A check that only just
fits may still come out INCONCLUSIVE when a run is cut short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.analysis._latency import _phases_for
from harness.analysis._phases import (
    AUTO_SETTLE_FRACTION,
    AUTO_SETTLE_MAX,
    default_growth_phases,
    first_recovery_phase,
    load_phases,
)
from harness.analysis._rate import _ramp
from harness.analysis._recovery import MIN_BASELINE_POINTS
from harness.analysis._stats import MIN_TREND_POINTS
from harness.scenario import LATENCY_KEY, RATE_KEY, Scenario, Threshold, format_duration

WINDOW_S = 1.0  # latency windows are whole seconds
# A kube: cAdvisor series gets a sample per cAdvisor measurement: every 10 s at best (the
# kubelet's default --housekeeping-interval), 12-15 s for a steady container (cAdvisor backs
# off while nothing changes; 11-19 s measured), whatever sample_interval says: planned at 15 s.
CADVISOR_INTERVAL = 15.0
CADVISOR_SPECS = ("kube:fds", "kube:threads", "kube:sockets", "kube:memory", "kube:cpu",
                  "kube:oom_events")


def _interval(scenario: Scenario, key: str, th: Threshold) -> float:
    """The sample interval of ``key``'s series: cAdvisor's when every target it is judged on
    reads it from cAdvisor (a target.kube workload), else ``sample_interval``."""
    specs = [t.sampled_metrics().get(key) for t in scenario.all_targets
             if th.targets is None or t.name in th.targets]
    specs = [s for s in specs if s is not None]
    if specs and all(s in CADVISOR_SPECS for s in specs):
        return max(scenario.sample_interval, CADVISOR_INTERVAL)
    return scenario.sample_interval


@dataclass(frozen=True)
class Planned:
    """One check as planned: what it judges and how many samples it can get."""

    threshold: str  # ``thresholds.fds``
    check: str  # growth, recovery, latency, rate
    phases: tuple[str, ...]
    samples: int
    need: int
    problem: str  # empty when the check can be judged


def _count(seconds: float, interval: float) -> int:
    """The most samples ``seconds`` of data can hold (0 for an empty stretch)."""
    if seconds <= 0:
        return 0
    return math.ceil(seconds / interval - 1e-9)


def _settle(threshold: Threshold, duration: float) -> float:
    if threshold.settle is not None:
        return threshold.settle
    return min(AUTO_SETTLE_FRACTION * duration, AUTO_SETTLE_MAX)


def _quoted(names: list[str] | tuple[str, ...]) -> str:
    word = "phase" if len(names) == 1 else "phases"
    return f"{word} " + ", ".join(f"'{n}'" for n in names)


def _growth(scenario: Scenario, key: str, th: Threshold) -> Planned:
    names = th.phases or default_growth_phases(scenario)
    spans = {p.name: (start, end) for p, start, end in scenario.phase_starts()}
    interval = _interval(scenario, key, th)
    samples = 0
    for name in names:
        start, end = spans[name]
        first = max(start + _settle(th, end - start), th.ignore_first)
        samples += _count(end - first, interval)
    problem = ""
    if samples < MIN_TREND_POINTS:
        cut = "after settle and ignore_first" if th.ignore_first else "after settle"
        settles = ", ".join(format_duration(_settle(th, spans[n][1] - spans[n][0]))
                            for n in names)
        problem = (f"thresholds.{key}: {_quoted(names)} give{'s' if len(names) == 1 else ''} "
                   f"{samples} samples {cut} (need >= {MIN_TREND_POINTS} for a growth "
                   f"check; settle {settles}, sample_interval {format_duration(interval)}): "
                   "lengthen "
                   + ("it" if len(names) == 1 else "them")
                   + (" or lower settle" if th.settle is None or th.settle > 0 else "")
                   + (" or ignore_first" if th.ignore_first else ""))
    return Planned(f"thresholds.{key}", "growth", tuple(names), samples, MIN_TREND_POINTS,
                   problem)


def _recovery(scenario: Scenario, key: str, th: Threshold) -> list[Planned]:
    recovery = first_recovery_phase(scenario)
    if recovery is None or th.recover_within is None:
        return []  # SKIP: said in the report, nothing to refuse
    interval = _interval(scenario, key, th)
    spans = {p.name: (start, end) for p, start, end in scenario.phase_starts()}
    first = scenario.phases[0].name
    w_start, w_end = spans[first]
    base = _count(w_end - max(w_start, th.ignore_first), interval)
    out = []
    problem = ""
    if base < MIN_BASELINE_POINTS:
        problem = (f"thresholds.{key}: phase '{first}' gives {base} baseline samples"
                   + (" after ignore_first" if th.ignore_first else "")
                   + f" (need >= {MIN_BASELINE_POINTS} for a recovery check): lengthen it"
                   + (" or lower ignore_first" if th.ignore_first else ""))
    out.append(Planned(f"thresholds.{key}", "recovery baseline", (first,), base,
                       MIN_BASELINE_POINTS, problem))
    r_start, r_end = spans[recovery]
    judged = _count(min(th.recover_within, r_end - r_start) + 1e-9, interval)
    problem = ""
    if judged < 1 or r_end <= th.ignore_first:
        problem = (f"thresholds.{key}: phase '{recovery}' gives no samples for the recovery "
                   "check: lengthen it or recover_within")
    out.append(Planned(f"thresholds.{key}", "recovery", (recovery,), judged, 1, problem))
    return out


def _latency(scenario: Scenario, key: str, th: Threshold) -> list[Planned]:
    """One per phase: a phase with no whole window after ignore_first is never judged."""
    if th.max is None:
        return []
    out = []
    spans = {p.name: (start, end) for p, start, end in scenario.phase_starts()}
    for name in _phases_for(th, scenario):
        start, end = spans[name]
        windows = math.floor(end - max(start, th.ignore_first) + 1e-9) // int(WINDOW_S)
        windows = max(0, windows)
        problem = ""
        if windows < 1:
            problem = (f"thresholds.{key}: phase '{name}' gives no whole second of requests "
                       f"after ignore_first {format_duration(th.ignore_first)}: lengthen it "
                       "or lower ignore_first")
        check = "latency" if not th.names else f"latency per name ({', '.join(th.names)})"
        out.append(Planned(f"thresholds.{key}", check, (name,), windows, 1, problem))
    return out


def _rate(scenario: Scenario) -> list[Planned]:
    """The request-rate check (on by default) needs a whole second of its baseline phase
    after the users' ramp."""
    th = scenario.thresholds.get(RATE_KEY)
    names = (list(th.phases) if th is not None and th.phases else None) or load_phases(scenario)
    if not names:
        return []
    index = next((i for i, p in enumerate(scenario.phases) if not p.any_faults
                  and scenario.users_in(p) > 0), None)
    if index is None:
        return []
    phase = scenario.phases[index]
    start, end = next((s, e) for p, s, e in scenario.phase_starts() if p.name == phase.name)
    not_before = th.ignore_first if th is not None else 0.0
    ramp = _ramp(scenario, index)
    windows = max(0, math.floor(end - max(start + ramp, not_before) + 1e-9))
    problem = ""
    if windows < 1:
        problem = (f"thresholds.{RATE_KEY}: phase '{phase.name}' (the request-rate baseline) "
                   f"gives no whole second after its users' ramp ({format_duration(ramp)}): "
                   "lengthen it or raise spawn_rate")
    return [Planned(f"thresholds.{RATE_KEY}", "rate baseline", (phase.name,), windows, 1,
                    problem)]


def plan_checks(scenario: Scenario) -> list[Planned]:
    """Every check the scenario's thresholds ask for, with its planned sample count."""
    out: list[Planned] = []
    for key, th in scenario.thresholds.items():
        if key == RATE_KEY:
            continue
        if LATENCY_KEY.match(key) or key == "error_ratio":
            out += _latency(scenario, key, th)
            continue
        if th.max_growth_per_min is not None or th.max_growth_per_1k_requests is not None:
            out.append(_growth(scenario, key, th))
        out += _recovery(scenario, key, th)
    out += _rate(scenario)
    return out


def unjudgeable(scenario: Scenario) -> list[str]:
    """One line per check the scenario can never judge (empty: every check can be)."""
    seen: list[str] = []
    for planned in plan_checks(scenario):
        if planned.problem and planned.problem not in seen:
            seen.append(planned.problem)
    return seen
