"""The open model's schedule: when each request should start (pure, no Locust import).

In the open model (``arrival_rate`` in the scenario) requests start on a schedule that does
not wait for responses, so a slow service meets a growing queue, as real clients make one.
The parent hands the schedule to the Locust processes through ``HARNESS_ARRIVAL``; each
process that runs users holds one scheduler user (``harness.load.users.OpenHttpUser``) and
sends ``1/workers`` of every rate. Latency is measured from each request's intended start
(coordinated omission corrected); what could not start on time is counted in
``arrivals.csv`` (:data:`ARRIVALS_FILE`, columns :data:`ARRIVALS_COLUMNS`).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

from harness.scenario import Scenario

ARRIVAL_ENV: Final = "HARNESS_ARRIVAL"
ARRIVALS_FILE: Final = "arrivals.csv"
# t: run time (s) of the whole second the arrivals were due in; phase: the phase they were
# due in; intended: arrivals due; started: of them, started; late: started more than
# late_tolerance after their intended time; dropped: never started (max_in_flight reached).
# A (t, phase, source) may have several rows (a late start lands in a later write): sum them.
ARRIVALS_COLUMNS: Final = ("t", "phase", "source", "intended", "started", "late", "dropped")


@dataclass(frozen=True)
class Step:
    """``rate`` requests/s from ``start`` to ``end`` (seconds from load start) in ``phase``."""

    start: float
    end: float
    rate: float
    phase: str = ""


@dataclass(frozen=True)
class ArrivalPlan:
    """The whole run's schedule, and how each Locust process takes its share."""

    steps: list[Step]
    workers: int = 1  # processes that share every rate (Locust workers; 1 standalone)
    max_in_flight: int = 1000  # for the whole run, split across the processes
    late_tolerance: float = 0.1
    end: float = field(default=0.0)

    def share(self) -> ArrivalPlan:
        """One process's part: every rate and the in-flight cap divided by ``workers``."""
        n = max(self.workers, 1)
        return ArrivalPlan([Step(s.start, s.end, s.rate / n, s.phase) for s in self.steps], 1,
                           max(1, math.ceil(self.max_in_flight / n)), self.late_tolerance,
                           self.end)


def arrival_plan(scenario: Scenario) -> ArrivalPlan | None:
    """The scenario's schedule; None in the closed model."""
    if not scenario.open_model:
        return None
    steps: list[Step] = []
    for phase, start, end in scenario.phase_starts():
        rates = scenario.arrival_steps(phase)
        width = (end - start) / len(rates)
        steps += [Step(start + i * width, start + (i + 1) * width, r, phase.name)
                  for i, r in enumerate(rates)]
    load = scenario.load
    return ArrivalPlan(steps, max(load.workers, 1), load.max_in_flight, load.late_tolerance,
                       scenario.duration)


def encode_arrival(plan: ArrivalPlan) -> str:
    return json.dumps(asdict(plan))


def decode_arrival(text: str) -> ArrivalPlan:
    """The plan from ``HARNESS_ARRIVAL``; ValueError naming the problem."""
    try:
        raw = json.loads(text)
        steps = [Step(float(s["start"]), float(s["end"]), float(s["rate"]), str(s["phase"]))
                 for s in raw["steps"]]
        return ArrivalPlan(steps, int(raw["workers"]), int(raw["max_in_flight"]),
                           float(raw["late_tolerance"]), float(raw["end"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{ARRIVAL_ENV}: not an arrival plan ({exc})") from exc


def arrival_from_env() -> ArrivalPlan:
    text = os.environ.get(ARRIVAL_ENV)
    if not text:
        raise RuntimeError(f"{ARRIVAL_ENV} is not set: an open-model user runs only in a "
                           "scenario with arrival_rate, under harness.load")
    return decode_arrival(text)


def intended_offsets(steps: list[Step], phase_shift: float = 0.0) -> Iterator[tuple[float, str]]:
    """Every intended start, in seconds from load start, in order, with its phase.

    Step ``rate`` r starts one request at ``start + (k + phase_shift) / r`` for k = 0, 1, ...
    while that is before ``end``: computed from the step's start, so no error accumulates.
    ``phase_shift`` in [0, 1) staggers processes that share a rate.
    """
    for step in steps:
        if step.rate <= 0:
            continue
        k = 0
        while (t := step.start + (k + phase_shift) / step.rate) < step.end:
            yield t, step.phase
            k += 1


def requested(steps: list[Step], start: float, end: float) -> float:
    """Requests the schedule asks for between ``start`` and ``end`` (seconds from load start)."""
    return sum(s.rate * max(0.0, min(end, s.end) - max(start, s.start)) for s in steps)


ARRIVAL_COUNTS: Final = ("intended", "started", "late", "dropped")


def arrival_counts(run_dir: Path) -> dict[str, dict[str, int]]:
    """``arrivals.csv`` summed per phase (in the file's order of first sight): every count of
    ``ARRIVAL_COUNTS``. Empty when the file is missing; a torn line (a killed run) is
    skipped."""
    path = Path(run_dir) / ARRIVALS_FILE
    out: dict[str, dict[str, int]] = {}
    try:
        fh = path.open(encoding="utf-8", errors="replace", newline="")
    except FileNotFoundError:
        return out
    with fh:
        for raw in csv.DictReader(fh):
            try:
                counts = {k: int(float(raw[k])) for k in ARRIVAL_COUNTS}
                phase = str(raw["phase"])
            except (KeyError, TypeError, ValueError):
                continue
            total = out.setdefault(phase, dict.fromkeys(ARRIVAL_COUNTS, 0))
            for key, value in counts.items():
                total[key] += value
    return out
