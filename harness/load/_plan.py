"""The load plan: the scenario's phases as user counts over time (pure, no Locust import).

The parent resolves the plan from the scenario and hands it to the Locust process through
``HARNESS_PLAN``; ``PhaseShape`` reads it back and asks :func:`decide` what to run.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from harness.scenario import Scenario

PLAN_ENV: Final = "HARNESS_PLAN"
RUN_DIR_ENV: Final = "HARNESS_RUN_DIR"
T0_ENV: Final = "HARNESS_T0"
RAW_ENV: Final = "HARNESS_LOAD_RAW"  # test-only: every raw response time to run_dir/raw/
READY_FILE: Final = ".locust-ready"
LOAD_START_FILE: Final = ".load-start"
HEARTBEAT_FILE: Final = ".locust-heartbeat"  # touched every 1 s: heartbeat_alive() reads it
LOAD_START_TIMEOUT: Final = 120.0  # seconds the shape waits for .load-start before giving up


def heartbeat_alive(path: Path) -> float | None:
    """The load side's last sign of life (epoch) from its heartbeat file, None when it
    cannot be read. The master (or standalone) process touches the file every second and
    rewrites its JSON ({"time", "pid", "role", "workers_ok", "missing", "workers"}) only
    when what it says changes: the beat is the file's modification time (or the "time" it
    was written, if later), and while a worker is missing, the last time none was
    ("workers_ok") if that is older."""
    try:
        touched = path.stat().st_mtime
        beat = json.loads(path.read_text(encoding="utf-8"))
        alive = max(touched, float(beat["time"]))
        if beat.get("missing"):
            alive = min(alive, float(beat["workers_ok"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return alive


@dataclass(frozen=True)
class PlanPhase:
    """One phase as Locust sees it: how long, how many users, how fast to get there."""

    name: str
    duration: float
    users: int
    spawn_rate: float
    # open model: the phase's users (schedulers) start before load start and wait for it,
    # so the first arrivals are not late by the spawn time
    prestart: bool = False


def plan_from_scenario(scenario: Scenario) -> list[PlanPhase]:
    """Phases with ``users``/``spawn_rate`` left out taken from ``scenario.load``.

    Open model (``arrival_rate``): one scheduler user per Locust process in every phase
    (the rate itself travels in ``HARNESS_ARRIVAL``, see ``_arrival.py``).
    """
    load = scenario.load
    if scenario.open_model:
        schedulers = max(load.workers, 1)
        return [PlanPhase(p.name, float(p.duration), schedulers, float(schedulers), True)
                for p in scenario.phases]
    return [
        PlanPhase(
            name=p.name,
            duration=float(p.duration),
            users=load.users if p.users is None else p.users,
            spawn_rate=load.spawn_rate if p.spawn_rate is None else p.spawn_rate,
        )
        for p in scenario.phases
    ]


def encode_plan(plan: list[PlanPhase]) -> str:
    return json.dumps([asdict(p) for p in plan])


def decode_plan(text: str) -> list[PlanPhase]:
    """The plan from ``HARNESS_PLAN``; raises ValueError naming the problem."""
    try:
        raw = json.loads(text)
        plan = [
            PlanPhase(str(p["name"]), float(p["duration"]), int(p["users"]), float(p["spawn_rate"]),
                      bool(p.get("prestart", False)))
            for p in raw
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{PLAN_ENV}: not a plan ({exc})") from exc
    if not plan:
        raise ValueError(f"{PLAN_ENV}: the plan has no phases")
    return plan


def plan_from_env() -> list[PlanPhase]:
    text = os.environ.get(PLAN_ENV)
    if not text:
        raise RuntimeError(f"{PLAN_ENV} is not set: this locustfile runs under harness.load only")
    return decode_plan(text)


@dataclass(frozen=True)
class Wait:
    """Load has not begun yet: hold zero users (``users`` schedulers in the open model)."""

    spawn_rate: float
    users: int = 0


@dataclass(frozen=True)
class InPhase:
    """In a phase: hold ``users`` at ``spawn_rate``; ``edge_in`` seconds until the phase ends."""

    phase: PlanPhase
    index: int
    edge_in: float

    @property
    def tick(self) -> tuple[int, float]:
        return (self.phase.users, self.phase.spawn_rate)


Decision = Wait | InPhase | None  # None: the plan is over (or load never began): stop


def phase_at(plan: list[PlanPhase], elapsed: float) -> InPhase | None:
    """The phase running ``elapsed`` seconds after load start; None once the plan is over."""
    if elapsed < 0:
        return None
    end = 0.0
    for index, phase in enumerate(plan):
        end += phase.duration
        if elapsed < end:
            return InPhase(phase, index, end - elapsed)
    return None


def decide(
    plan: list[PlanPhase],
    now: float,
    load_start: float | None,
    waiting_since: float,
    wait_limit: float = LOAD_START_TIMEOUT,
) -> Decision:
    """What the shape should do at ``now`` (epoch s).

    Before ``load_start`` is known or reached: :class:`Wait` (zero users), up to
    ``wait_limit`` seconds after ``waiting_since``; then None. During the plan: the phase's
    :class:`InPhase`. After the last phase: None.
    """
    if load_start is None or now < load_start:
        if load_start is None and now - waiting_since > wait_limit:
            return None
        return Wait(plan[0].spawn_rate, plan[0].users if plan[0].prestart else 0)
    return phase_at(plan, now - load_start)
