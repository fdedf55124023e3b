"""The sampler: every ``interval`` seconds, every source of every target, to samples.csv.

Runs in its own thread, on an absolute schedule (no drift), flushing each row, so a run
killed at any second leaves every sample taken so far. A tick that raises (a full disk) stops
the thread with the exception in ``error``; the run polls it and ends as an environment
failure. Keeps only the latest value of each series in memory (flat memory over a 24 h soak).

A source summed over a process tree (``proc:fds`` of a master and its workers) also says
what each process holds: those rows go to ``processes.csv`` (t,target,pid,name,metric,value,
created at the first such row), so samples.csv keeps one row per series and tick.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from harness.backends import TargetHandle
from harness.events import EventKind
from harness.runfolder import PROCESSES_HEADER, SAMPLES_HEADER, EventLog, LineWriter, fmt
from harness.typing import ProcessBreakdown


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
        self._processes: LineWriter | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.latest: dict[tuple[str, str], float] = {}
        self.error: Exception | None = None  # why the sampler stopped early (the run ends)
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
                t = f"{time.time() - self.t0:.3f}"
                self._writer.write_row((t, handle.name, alias, fmt(value)))
                self.latest[(handle.name, alias)] = value
                if isinstance(source, ProcessBreakdown):
                    self._write_processes(t, handle.name, alias, source)
        self.ticks += 1

    def _write_processes(self, t: str, target: str, alias: str, source: ProcessBreakdown) -> None:
        rows = source.per_process()
        if not rows:
            return
        if self._processes is None:
            self._processes = LineWriter(self.run_dir / "processes.csv", PROCESSES_HEADER)
        for pid, name, value in rows:
            self._processes.write_row((t, target, pid, name, alias, fmt(value)))

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.sample_once()
            except Exception as exc:  # a full disk, a source bug: recorded; the run ends on it
                self.error = exc
                if self.events is not None:
                    self.events.emit(EventKind.ERROR, message=f"the sampler stopped: {exc!r}")
                return
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
        """Stop the thread and close the files; never raises (a close error is ``error``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for writer in (self._writer, self._processes):
            if writer is None:
                continue
            try:
                writer.close()
            except OSError as exc:  # the last flush hit a full disk
                self.error = self.error or exc

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
