"""The run's watchdog: a tool that stops answering ends the run as a tool failure.

A frozen tool does not exit, so ``Backend.exited()`` never sees it: a SIGSTOPped
toxiproxy-server holds every proxied connection silent (the load sees a hung target), a
frozen Locust stops sending and recording (the windows go quiet). Either would be judged as
the target's doing, or worse, as a quiet PASS. The watchdog asks, from the run loop:

- every ``every`` seconds, the backend's tools (``Backend.probe(timeout)``: the Toxiproxy
  API's ``/version`` within ``timeout`` seconds);
- the load side's last sign of life (``LoadRunner.last_alive()``: the heartbeat the Locust
  plugin writes every second, with every worker connected).

A tool silent for longer than ``frozen_after`` seconds raises ``ToolFrozen`` (exit 3) naming
the tool, what it stopped doing and since when; the run then tears down and writes its
report, judging the target only on the data from before the silence.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.errors import ToolFrozen

PROBE_EVERY = 2.0  # seconds between two probes of the backend's tools
PROBE_TIMEOUT = 1.0  # seconds a probe waits for an answer
FROZEN_AFTER = 10.0  # seconds of silence after which a tool is frozen (RunOptions.tool_timeout)


class Watchdog:
    """Call :meth:`check` often (the run loop does, every 0.2 s); it raises ``ToolFrozen``."""

    def __init__(
        self,
        probe: Callable[[float], dict[str, str]],
        last_alive: Callable[[], float | None],
        *,
        every: float = PROBE_EVERY,
        timeout: float = PROBE_TIMEOUT,
        frozen_after: float = FROZEN_AFTER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.probe = probe
        self.last_alive = last_alive
        self.every = every
        self.timeout = timeout
        self.frozen_after = frozen_after
        self.clock = clock
        self.started = clock()
        self._next_probe = self.started
        self._answered = self.started  # when the last probe found every tool answering
        self._silent: dict[str, tuple[float, str]] = {}  # tool -> (last sign of life, what)

    def check(self) -> None:
        """Probe when due; raise ``ToolFrozen`` for a tool silent over ``frozen_after``."""
        now = self.clock()
        if now >= self._next_probe:
            silent = self.probe(self.timeout)
            after = self.clock()  # a silent probe takes up to ``timeout``
            self._next_probe = after + self.every
            for tool in [t for t in self._silent if t not in silent]:
                del self._silent[tool]
            for tool, what in silent.items():
                since = self._silent[tool][0] if tool in self._silent else self._answered
                self._silent[tool] = (since, what)
            if not silent:
                self._answered = now
            now = after
        for tool, (since, what) in self._silent.items():
            if now - since > self.frozen_after:
                raise ToolFrozen(tool, f"{what}; silent for {now - since:.0f}s "
                                       f"(the limit is {self.frozen_after:g}s)", since)
        alive = self.last_alive()
        since = max(alive if alive is not None else self.started, self.started)
        if now - since > self.frozen_after:
            raise ToolFrozen(
                "locust", f"no heartbeat from the load generator for {now - since:.0f}s "
                f"(the limit is {self.frozen_after:g}s): it stopped running its users and "
                "writing latency windows", since)
