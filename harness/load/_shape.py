"""``PhaseShape``: drives Locust's user count from the harness plan.

Runs inside the Locust process (master or standalone). Before the orchestrator writes
``<run_dir>/.load-start`` it holds zero users; then it runs the phase for
``time.time() - load_start``; after the last phase it calls ``on_plan_end`` (the plugin's
drain: stop users, collect the last windows) and returns None, so headless Locust quits.

Locust calls ``tick()`` about once a second; to keep phase edges sharp the tick waits
(cooperatively) for an edge less than a second away, and polls for ``.load-start`` in
short steps.

With the locustfile's own shape (``load.shape``, ``own_shape`` in _userclass.py) set as
``PhaseShape.inner``, the user count comes from that shape instead: its run time counts from
the harness's load start, the harness's phases still time the faults and the judged
windows, and when the inner shape returns None before the plan ends the users drop to zero
until the plan's end (Locust must not quit under the harness's timeline).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import gevent
from locust import LoadTestShape

from harness.load._plan import (
    LOAD_START_FILE,
    LOAD_START_TIMEOUT,
    RUN_DIR_ENV,
    InPhase,
    Wait,
    decide,
    plan_from_env,
)

log = logging.getLogger("harness.load")
POLL = 0.05  # seconds between looks at .load-start
EDGE_WINDOW = 0.95  # an edge closer than this is waited for inside the tick


def read_load_start(path: Path) -> float | None:
    """The epoch in ``.load-start``, or None while it is absent (or mid-rename)."""
    try:
        return float(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


class PhaseShape(LoadTestShape):
    """The scenario's phases, started when the harness says so."""

    on_plan_end: ClassVar[Callable[[], None] | None] = None
    stop_requested: ClassVar[bool] = False  # set on SIGTERM: end the plan at the next tick
    inner: ClassVar[type[LoadTestShape] | None] = None  # the locustfile's own shape, followed
    on_own_shape: ClassVar[Callable[[str, str], None] | None] = None  # (shape, state) events

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.plan = plan_from_env()
        self.start_file = Path(os.environ.get(RUN_DIR_ENV, ".")) / LOAD_START_FILE
        self.waiting_since = time.time()
        self.load_start: float | None = None
        self.current: str | None = None
        inner = type(self).inner
        self.own: LoadTestShape | None = inner() if inner is not None else None
        self.own_ended = False
        self.own_said = False

    def _sleep(self, seconds: float) -> None:
        """Sleep cooperatively, waking early when a stop is requested."""
        deadline = time.monotonic() + seconds
        while not type(self).stop_requested and (left := deadline - time.monotonic()) > 0:
            gevent.sleep(min(POLL, left))

    def _poll_start(self, budget: float) -> None:
        deadline = time.monotonic() + budget
        while self.load_start is None and not type(self).stop_requested:
            self.load_start = read_load_start(self.start_file)
            if self.load_start is not None or time.monotonic() >= deadline:
                return
            gevent.sleep(POLL)

    def tick(self) -> tuple[int, float] | None:
        if self.load_start is None:
            self._poll_start(EDGE_WINDOW)
        now = time.time()
        if self.load_start is not None and 0 < self.load_start - now < EDGE_WINDOW:
            self._sleep(self.load_start - now)  # phase 0 begins on the dot
            now = time.time()
        decision = decide(self.plan, now, self.load_start, self.waiting_since)
        if isinstance(decision, InPhase) and decision.edge_in < EDGE_WINDOW:
            self._sleep(decision.edge_in)  # the next phase begins on the dot
            decision = decide(self.plan, time.time(), self.load_start, self.waiting_since)
        if type(self).stop_requested:
            log.warning("stop requested: ending the plan early")
            self._end()
            return None
        if isinstance(decision, Wait):
            return (decision.users, decision.spawn_rate)
        if isinstance(decision, InPhase):
            if decision.phase.name != self.current:
                self.current = decision.phase.name
                log.info("phase %s: %d users", decision.phase.name, decision.phase.users)
            if self.own is not None:
                return self._own_tick(decision)
            return decision.tick
        if self.load_start is None:
            log.error("no %s after %.0f s: giving up", self.start_file, LOAD_START_TIMEOUT)
        self._end()
        return None

    def _own_tick(self, decision: InPhase) -> tuple[int, float] | tuple[Any, ...]:
        """The locustfile's shape, on the harness's clock (run time from load start)."""
        own = self.own
        assert own is not None and self.load_start is not None
        own.runner = self.runner
        own.start_time = time.perf_counter() - (time.time() - self.load_start)
        if not self.own_ended:
            if not self.own_said:
                self.own_said = True
                self._say(type(own).__name__, "following")
            result = own.tick()
            if result is not None:
                return tuple(result)
            self.own_ended = True
            log.warning("the locustfile's shape %s ended at %.1f s, before the scenario's "
                        "phases: zero users until they end", type(own).__name__,
                        time.time() - self.load_start)
            self._say(type(own).__name__, "ended")
        return (0, decision.phase.spawn_rate)

    def _say(self, shape: str, state: str) -> None:
        hook = type(self).on_own_shape
        if hook is not None:
            hook(shape, state)

    def _end(self) -> None:
        """The plan is over: let the plugin drain while Locust still waits on this shape."""
        hook = type(self).on_plan_end
        if hook is not None:
            hook()
