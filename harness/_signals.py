"""SIGINT, SIGTERM and SIGHUP as stop requests, from the CLI's first line to the report's last byte.

The CLI calls ``install()`` before it parses a single argument: from then on a signal is
recorded in the process-wide ``STOP`` instead of killing the process. A run polls it, tears
down, and still analyses and writes its report (a second or third signal changes nothing:
teardown is bounded, every process gets TERM, a grace period, then KILL, and stopping it half
way would leave orphans and toxics behind). Commands with nothing to finish (validate, list,
compare, setup) call ``STOP.interruptible()``: a signal then raises ``KeyboardInterrupt``
there, and the CLI turns it into exit 4.

What no handler can cover is the interpreter's own start-up before the first line of the CLI
(tens of milliseconds): a signal there ends a process that has created nothing yet.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopRequest:
    """Set by the first SIGINT/SIGTERM/SIGHUP; the run loop polls it and tears down cleanly."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None
        self._raise = False  # interruptible(): the handler raises KeyboardInterrupt

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def set(self, name: str) -> None:
        if self.signal_name is None:
            self.signal_name = name
        self.event.set()

    def interruptible(self) -> None:
        """From now on a signal raises KeyboardInterrupt (at once, if one already came)."""
        self._raise = True
        if self.requested:
            raise KeyboardInterrupt(self.signal_name)

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        """The signal handler: record the signal; raise only when asked to."""
        self.set(signal.Signals(signum).name)
        if self._raise:
            raise KeyboardInterrupt(self.signal_name)


STOP = StopRequest()  # the process-wide request the CLI installs at its first line


def install(stop: StopRequest = STOP) -> StopRequest:
    """Route SIGINT, SIGTERM and SIGHUP to ``stop`` for the rest of the process (main thread)."""
    if threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            signal.signal(sig, stop.handle)
    return stop


@contextmanager
def exit_signals(stop: StopRequest) -> Iterator[StopRequest]:
    """Within the block the signals only set ``stop``; the old handlers come back after it.

    ``Run.execute`` holds this from before anything starts until the report is written, so
    a signal at any moment of a run (start-up, timeline, teardown, report) ends it with a
    report. Outside the main thread signals cannot be handled: the block just runs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
