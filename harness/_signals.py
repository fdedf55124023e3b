"""Turn SIGINT/SIGTERM into a stop request for the run loop, and restore the old handlers."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class StopRequest:
    """Set by the first SIGINT/SIGTERM; the run loop polls it and tears down cleanly."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def set(self, name: str) -> None:
        if self.signal_name is None:
            self.signal_name = name
        self.event.set()


@contextmanager
def exit_signals(stop: StopRequest) -> Iterator[StopRequest]:
    """Within the block, SIGINT and SIGTERM request a clean stop instead of killing us.

    A second signal while tearing down is ignored on purpose: teardown is bounded (every
    process gets TERM, a grace period, then KILL), and stopping it half-way would leave
    orphans and toxics behind.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
