"""Small helpers shared by the check builders: units, number formatting, targets."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from harness.runfolder import RunRecord
from harness.scenario import Scenario, Threshold

Category = Literal["target", "tool", "run"]
CONTROL_TARGETS = ("toxiproxy", "locust")
UNITS = {
    "tasks": "tasks",
    "goroutines": "goroutines",
    "fds": "fds",
    "threads": "threads",
    "rss": "bytes",
}


def unit_of(alias: str) -> str:
    """The unit a metric alias is counted in (``bytes`` for rss, else the alias)."""
    return UNITS.get(alias, alias)


def num(value: float | None, digits: int = 3) -> str:
    """A number for a human sentence: ``12.3``, ``0.00412``, ``1.2e+06``; ``n/a`` for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if value == 0:
        return "0"
    if abs(value) >= 1e6 or abs(value) < 1e-3:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:.0f}"


def finite(value: float) -> float | None:
    """``None`` for NaN/inf (JSON-safe observed values)."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class TargetRef:
    """A target whose series a threshold applies to."""

    name: str
    category: Category
    aliases: frozenset[str]


def scenario_targets(scenario: Scenario) -> list[TargetRef]:
    """The scenario's targets with the metric aliases each one declares."""
    from harness.samples import SAMPLES

    out: list[TargetRef] = []
    for target in scenario.all_targets:
        aliases = set(target.metrics)
        if target.sample and target.sample in SAMPLES:
            aliases |= set(SAMPLES[target.sample].metrics)
        out.append(TargetRef(target.name, "target", frozenset(aliases)))
    return out


def control_targets(run: RunRecord) -> list[TargetRef]:
    """Control targets (toxiproxy, locust) with the aliases sampled for them in this run."""
    names = set(CONTROL_TARGETS)
    for entry in run.manifest.get("targets") or []:
        if isinstance(entry, dict) and entry.get("role") == "control" and entry.get("name"):
            names.add(str(entry["name"]))
    out: list[TargetRef] = []
    for name in sorted(names):
        aliases = frozenset(alias for (target, alias) in run.series if target == name)
        if aliases:
            out.append(TargetRef(name, "tool", aliases))
    return out


def targets_for(
    key: str, threshold: Threshold, scenario: Scenario, run: RunRecord
) -> list[TargetRef]:
    """Targets a resource threshold applies to: declared aliases, filtered by ``targets:``."""
    refs = [t for t in scenario_targets(scenario) if key in t.aliases]
    if threshold.targets is not None:
        wanted = set(threshold.targets)
        refs = [t for t in refs if t.name in wanted]
        controls = {t.name for t in control_targets(run)} | set(CONTROL_TARGETS)
        refs += [TargetRef(n, "tool", frozenset({key})) for n in sorted(wanted & controls)]
    return refs
