"""The sampler: every ``interval`` seconds, every source of every target, to samples.csv.

Runs in its own thread, on an absolute schedule (no drift), flushing each row, so a run
killed at any second leaves every sample taken so far. Keeps only the latest value of
each series in memory (flat memory over a 24 h soak).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from harness.backends import TargetHandle
from harness.events import EventKind
from harness.runfolder import SAMPLES_HEADER, EventLog, LineWriter, fmt


class Sampler:
    """Samples ``handles`` at ``interval`` s into ``<run_dir>/samples.csv``."""

    def __init__(
        self, run_dir: Path, t0: float, interval: float, events: EventLog | None = None
    ) -> None:
        self.run_dir = run_dir
        self.t0 = t0
        self.interval = interval
        self.events = events
        self._handles: dict[str, TargetHandle] = {}
        self._lock = threading.Lock()
        self._writer = LineWriter(run_dir / "samples.csv", SAMPLES_HEADER)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.latest: dict[tuple[str, str], float] = {}
        self.ticks = 0

    def add(self, handles: Iterable[TargetHandle]) -> None:
        """Start sampling these handles too (e.g. Locust once it has started)."""
        with self._lock:
            for handle in handles:
                self._handles[handle.name] = handle

    def remove(self, name: str) -> None:
        """Stop sampling a handle (its process exited)."""
        with self._lock:
            self._handles.pop(name, None)

    def sample_once(self) -> None:
        """Read every source now and write one row per value."""
        with self._lock:
            handles = list(self._handles.values())
        for handle in handles:
            for alias, source in handle.sources.items():
                value = source.read()
                if value is None:
                    continue
                t = time.time() - self.t0
                self._writer.write_row((f"{t:.3f}", handle.name, alias, fmt(value)))
                self.latest[(handle.name, alias)] = value
        self.ticks += 1

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.sample_once()
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay < 0:  # a slow tick: skip ahead rather than burst
                next_at = time.monotonic()
                delay = 0
            self._stop.wait(delay)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._writer.close()

    def snapshot_evidence(self, label: str) -> None:
        """Write ``evidence/<label>.<target>.json`` for every target that offers it."""
        folder = self.run_dir / "evidence"
        with self._lock:
            handles = [h for h in self._handles.values() if h.evidence is not None]
        for handle in handles:
            assert handle.evidence is not None
            snap = handle.evidence.snapshot()
            if snap is None:
                continue
            folder.mkdir(exist_ok=True)
            path = folder / f"{label}.{handle.name}.json"
            path.write_text(json.dumps(snap, indent=1), encoding="utf-8")
            if self.events is not None:
                self.events.emit(EventKind.EVIDENCE, target=handle.name, label=label,
                                 file=str(path.relative_to(self.run_dir)),
                                 total=snap.get("total"))
