"""The sampler: every ``interval`` seconds, every source of every target, to samples.csv.

Runs in its own thread, on a fixed schedule (tick ``n`` starts at ``start + n * interval``:
no drift however long the readings take), flushing each row, so a run killed at any second
leaves every sample taken so far. Every row of a tick is stamped with the tick's start, as
Prometheus stamps a scrape: the series of one tick share one time, and the spacing of the
times is the schedule's (a reading that takes 300 ms does not move its series by 300 ms).
A tick that overruns its interval is followed at once by the next, which keeps to the
schedule; ticks that could not start at all (an overrun past a whole interval) are skipped,
and show as a gap. In the thread, the handles of a tick whose last reading took 10 ms or
more (or that were never read) are read side by side (a few worker threads): most of such
a reading is the kernel's (``/proc`` fd folders of 10,000 entries, a sock_diag dump), so the
tick takes about its slowest handle rather than the sum, and on a busy machine it is not
one thread queuing for CPU behind everyone else's. The quick ones are read by the sampler
thread itself meanwhile (a hand-over to a thread and back cost more than their reading).
The rows are written in handle order by the sampler thread. With a ``harness`` handle (the
run's own control series) each tick also writes ``harness,tick_s``: the seconds the tick's
readings took, so a slow sampler is seen.

A tick that raises (a full disk) stops the thread with the exception in ``error``; the run
polls it and ends as an environment failure. Keeps only the latest value of each series in
memory (flat memory over a 24 h soak).

A source summed over a process tree (``proc:fds`` of a master and its workers) also says
what each process holds: those rows go to ``processes.csv`` (t,target,pid,name,metric,value,
created at the first such row), so samples.csv keeps one row per series and tick.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeGuard

from harness.backends import TargetHandle
from harness.events import EventKind
from harness.runfolder import PROCESSES_HEADER, SAMPLES_HEADER, EventLog, LineWriter, fmt
from harness.typing import MetricSource, ProcessBreakdown

SELF = "harness"  # the harness's own control series (harness.run.self_handle)
TICK_METRIC = "tick_s"


def next_tick(last: float, interval: float, now: float) -> float:
    """When the tick after the one scheduled at ``last`` starts: ``last + interval``, or,
    when ``now`` is already a whole interval past that, the latest point of the schedule not
    after ``now`` (the ticks in between are skipped rather than run in a burst)."""
    due = last + interval
    if now - due >= interval:
        due += (now - due) // interval * interval
    return due


READERS = 4  # threads reading the handles of one tick side by side
SLOW_READ = 0.01  # seconds: a handle whose last reading took longer is read beside the rest


def _read_handle(handle: TargetHandle) -> list[tuple[str, MetricSource, float]]:
    """Every source of one handle that has a value now: ``(alias, source, value)``."""
    out = []
    for alias, source in handle.sources.items():
        value = source.read()
        if value is not None:
            out.append((alias, source, value))
    return out


_BREAKS_DOWN: dict[type, bool] = {}


def _breaks_down(source: MetricSource) -> TypeGuard[ProcessBreakdown]:
    """``isinstance(source, ProcessBreakdown)``, once per class: a runtime-checkable
    protocol's check walks its attributes on every call (a tenth of the sampler's own
    time, every value of every tick)."""
    kind = type(source)
    known = _BREAKS_DOWN.get(kind)
    if known is None:
        known = _BREAKS_DOWN[kind] = isinstance(source, ProcessBreakdown)
    return known


def _timed_read(handle: TargetHandle) -> tuple[list[tuple[str, MetricSource, float]], float]:
    """:func:`_read_handle` and the seconds it took."""
    started = time.monotonic()
    values = _read_handle(handle)
    return values, time.monotonic() - started


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
        self._pool: ThreadPoolExecutor | None = None  # while the thread runs
        self._took: dict[str, float] = {}  # handle name -> seconds its last reading took

    def add(self, handles: Iterable[TargetHandle]) -> None:
        """Start sampling these handles too (e.g. Locust once it has started)."""
        with self._lock:
            for handle in handles:
                self._handles[handle.name] = handle

    def remove(self, name: str) -> None:
        """Stop sampling a handle (its process exited)."""
        with self._lock:
            self._handles.pop(name, None)

    def sample_once(self, at: float | None = None) -> None:
        """Read every source and write one row per value, every row stamped ``at`` (the
        tick's start, ``time.time()``; default: now)."""
        started = time.monotonic()
        t = f"{(time.time() if at is None else at) - self.t0:.3f}"
        with self._lock:
            handles = list(self._handles.values())
        # Handles whose last reading was slow (or that were never read) go to the pool, to
        # be read side by side; the quick ones (most: a few /proc files, one scrape) are
        # read here meanwhile: handing each to a thread and back cost more than reading
        # it, and every hand-over is a wake-up beside the load on a busy machine.
        pool, last = self._pool, self._took
        beside = {h.name for h in handles if last.get(h.name, SLOW_READ) >= SLOW_READ
                  } if pool is not None and len(handles) > 1 else set()
        futures = {h.name: pool.submit(_timed_read, h) for h in handles if h.name in beside
                   } if pool is not None else {}
        timed = {h.name: _timed_read(h) for h in handles if h.name not in beside}
        timed.update({name: future.result() for name, future in futures.items()})  # or raise
        for handle in handles:
            values, last[handle.name] = timed[handle.name]
            for alias, source, value in values:
                self._writer.write_row((t, handle.name, alias, fmt(value)))
                self.latest[(handle.name, alias)] = value
                if _breaks_down(source):
                    self._write_processes(t, handle.name, alias, source)
        if any(h.name == SELF for h in handles):
            took = time.monotonic() - started
            self._writer.write_row((t, SELF, TICK_METRIC, fmt(took)))
            self.latest[(SELF, TICK_METRIC)] = took
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
        # the schedule in monotonic time; a tick's stamp is the wall clock at its start
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.sample_once(at=time.time())
            except Exception as exc:  # a full disk, a source bug: recorded; the run ends on it
                self.error = exc
                if self.events is not None:
                    self.events.emit(EventKind.ERROR, message=f"the sampler stopped: {exc!r}")
                return
            next_at = next_tick(next_at, self.interval, time.monotonic())
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="sampler-read")
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close the files; never raises (a close error is ``error``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
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
