"""The run folder: written as the run goes, readable at any second.

Layout (the contract, see docs/run-folder.md)::

    <run>/run.json          manifest: scenario (as run), variant, t0 (epoch), status, versions,
                            targets (name, pid, port, metrics), proxies; rewritten on changes
    <run>/scenario.yaml     the scenario as run (overrides applied)
    <run>/samples.csv       t,target,metric,value          (t: seconds since t0)
    <run>/processes.csv     t,target,pid,name,metric,value  each process of a proc: tree source
    <run>/latency.csv       t,requests,failures,p50_ms,p95_ms,p99_ms,max_ms   (1 s windows)
    <run>/latency.hdr       t,<base64 HDR histogram of that window, microseconds>
    <run>/events.jsonl      {"t":..., "kind":..., ...} one JSON object a line
    <run>/evidence/         snapshots of task/goroutine listings (baseline.<target>.json, ...)
    <run>/logs/             stdout/stderr of every process
    <run>/summary.json, report.html, report.md, junit.xml, charts/*.png

Every writer appends a line and flushes it; a run killed at any second leaves files that
the readers below accept (a torn last line is dropped).
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import yaml

from harness.errors import RunDirError, ScenarioError
from harness.events import EventKind
from harness.scenario import Scenario, scenario_from_dict

SAMPLES_HEADER = ("t", "target", "metric", "value")
PROCESSES_HEADER = ("t", "target", "pid", "name", "metric", "value")
LATENCY_HEADER = ("t", "requests", "failures", "p50_ms", "p95_ms", "p99_ms", "max_ms")
HDR_HEADER = ("t", "histogram")


class LineWriter:
    """Append-only, line-buffered, flushed after every write: safe to kill at any time."""

    def __init__(self, path: Path, header: tuple[str, ...] | None = None) -> None:
        self.path = path
        new = not path.exists() or path.stat().st_size == 0
        self._fh: IO[str] = path.open("a", encoding="utf-8", newline="")
        if header and new:
            self.write_line(",".join(header))

    def write_line(self, line: str) -> None:
        self._fh.write(line + "\n")
        self._fh.flush()

    def write_row(self, row: tuple[object, ...] | list[object]) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(row)
        self.write_line(buf.getvalue())

    def write_json(self, obj: dict[str, Any]) -> None:
        self.write_line(json.dumps(obj, separators=(",", ":"), default=str))

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON through a temp file and rename: readers never see half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a half-written temp file must not fill a full disk more
        raise


def fmt(value: float) -> str:
    """Compact number formatting for CSV cells."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


class EventLog:
    """``events.jsonl``: timestamped run events (phases, faults, process exits, errors).

    ``emit`` never raises for a failed write (a full disk): error and teardown paths emit
    too, and must go on. The first failure is kept in ``error``; the run polls it and ends
    as an environment failure.
    """

    def __init__(self, path: Path, t0: float) -> None:
        self.t0 = t0
        self.path = path
        self.error: OSError | None = None
        self._lock = threading.Lock()  # the sampler thread emits too
        self._writer = LineWriter(path)

    def emit(self, kind: EventKind, **fields: Any) -> dict[str, Any]:
        now = time.time()
        event = {"t": round(now - self.t0, 3), "ts": _iso(now), "kind": kind.value, **fields}
        with self._lock:
            try:
                self._writer.write_json(event)
            except (OSError, ValueError) as exc:  # ValueError: closed by a failed flush
                if self.error is None:
                    self.error = exc if isinstance(exc, OSError) else OSError(str(exc))
        return event

    def close(self) -> None:
        with self._lock:
            try:
                self._writer.close()
            except OSError as exc:
                self.error = self.error or exc


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


# ---------------------------------------------------------------------------- readers


@dataclass(frozen=True)
class Series:
    """One sampled metric of one target: times (s since t0) and values."""

    target: str
    metric: str
    t: np.ndarray
    v: np.ndarray


@dataclass(frozen=True)
class PhaseSpan:
    """A phase as it actually ran (seconds since t0). ``end`` is None if cut short."""

    name: str
    start: float
    end: float | None
    faults: tuple[dict[str, Any], ...] = ()


@dataclass
class LatencyTable:
    """Per-second latency windows (columns as arrays)."""

    t: np.ndarray
    requests: np.ndarray
    failures: np.ndarray
    p50_ms: np.ndarray
    p95_ms: np.ndarray
    p99_ms: np.ndarray
    max_ms: np.ndarray


@dataclass
class RunRecord:
    """Everything the analysis and the report read from a run folder."""

    path: Path
    manifest: dict[str, Any]
    events: list[dict[str, Any]]
    series: dict[tuple[str, str], Series]
    latency: LatencyTable
    phases: list[PhaseSpan] = field(default_factory=list)

    @property
    def t_end(self) -> float:
        """Last time anything was recorded."""
        ends = [float(s.t[-1]) for s in self.series.values() if len(s.t)]
        if len(self.latency.t):
            ends.append(float(self.latency.t[-1]))
        ends += [float(e.get("t", 0.0)) for e in self.events[-1:]]
        return max(ends, default=0.0)

    def histograms(self, start: float, end: float) -> Iterator[tuple[float, str]]:
        """Encoded HDR histograms of the windows with start <= t < end."""
        path = self.path / "latency.hdr"
        if not path.exists():
            return
        with path.open(encoding="utf-8") as fh:
            next(fh, None)
            for line in fh:
                t_text, _, enc = line.rstrip("\n").partition(",")
                try:
                    t = float(t_text)
                except ValueError:
                    continue
                if start <= t < end and enc:
                    yield t, enc


def _read_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        lines.pop()  # torn last line (killed mid-write)
    return lines


def read_events(path: Path) -> list[dict[str, Any]]:
    events = []
    for line in _read_lines(path):
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def read_samples(path: Path) -> dict[tuple[str, str], Series]:
    """``samples.csv`` -> one Series per (target, metric), in time order."""
    cols: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    if path.exists():
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            for row in reader:
                if len(row) != 4:
                    continue
                try:
                    t, v = float(row[0]), float(row[3])
                except ValueError:
                    continue
                ts, vs = cols.setdefault((row[1], row[2]), ([], []))
                ts.append(t)
                vs.append(v)
    return {
        key: Series(key[0], key[1], np.asarray(ts, dtype=float), np.asarray(vs, dtype=float))
        for key, (ts, vs) in cols.items()
    }


@dataclass(frozen=True)
class ProcessLevel:
    """One process of a target's tree over a time window: its own first and last values.

    ``first`` is 0 when the process appeared after the window's first tick (a worker forked
    mid-run), ``last`` is 0 when it was gone by the window's last tick.
    """

    pid: int
    name: str
    first: float
    last: float
    t_first: float
    t_last: float

    @property
    def growth(self) -> float:
        return self.last - self.first


def read_process_levels(
    path: Path, target: str, metric: str, start: float, end: float
) -> list[ProcessLevel]:
    """Each process's first and last value of ``metric`` for ``target`` with start <= t <= end.

    Streams ``processes.csv`` (memory grows with the processes seen, not with the run's
    length); an empty list when the file is missing or holds no such rows.
    """
    seen: dict[tuple[int, str], list[float]] = {}  # -> [t_first, v_first, t_last, v_last]
    tick_first, tick_last = float("inf"), float("-inf")
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        for row in reader:
            if len(row) != len(PROCESSES_HEADER) or row[1] != target or row[4] != metric:
                continue
            try:
                t, pid, v = float(row[0]), int(row[2]), float(row[5])
            except ValueError:
                continue
            if not start <= t <= end:
                continue
            tick_first, tick_last = min(tick_first, t), max(tick_last, t)
            entry = seen.get((pid, row[3]))
            if entry is None:
                seen[(pid, row[3])] = [t, v, t, v]
            else:
                entry[2], entry[3] = t, v
    return [
        ProcessLevel(pid, name, v0 if t0 == tick_first else 0.0,
                     v1 if t1 == tick_last else 0.0, t0, t1)
        for (pid, name), (t0, v0, t1, v1) in seen.items()
    ]


def read_latency(path: Path) -> LatencyTable:
    rows: list[list[float]] = []
    if path.exists():
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            for row in reader:
                if len(row) != len(LATENCY_HEADER):
                    continue
                try:
                    rows.append([float(x) if x != "" else float("nan") for x in row])
                except ValueError:
                    continue
    arr = np.asarray(rows, dtype=float).reshape(-1, len(LATENCY_HEADER))
    return LatencyTable(*(arr[:, i] for i in range(len(LATENCY_HEADER))))


def phase_spans(events: list[dict[str, Any]]) -> list[PhaseSpan]:
    """Phases as they ran, from ``phase_start``/``phase_end`` and fault events."""
    spans: list[PhaseSpan] = []
    current: dict[str, Any] | None = None
    for event in events:
        kind = event.get("kind")
        if kind == EventKind.PHASE_START:
            if current is not None:
                spans.append(PhaseSpan(current["name"], current["start"], float(event["t"]),
                                       tuple(current["faults"])))
            current = {"name": event["phase"], "start": float(event["t"]), "faults": []}
        elif kind == EventKind.FAULT_ADDED and current is not None:
            current["faults"].append(event)
        elif kind == EventKind.PHASE_END and current is not None and event.get("phase") == current["name"]:
            spans.append(PhaseSpan(current["name"], current["start"], float(event["t"]),
                                   tuple(current["faults"])))
            current = None
    if current is not None:
        spans.append(PhaseSpan(current["name"], current["start"], None, tuple(current["faults"])))
    return spans


def load_run(path: Path | str) -> RunRecord:
    """Read a run folder (also one from an interrupted or crashed run)."""
    root = Path(path)
    manifest_path = root / "run.json"
    if not root.is_dir():
        raise RunDirError(f"{root}: not a directory")
    if not manifest_path.exists():
        raise RunDirError(f"{root}: no run.json here; is this a run folder?")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{manifest_path}: unreadable ({exc})") from exc
    events = read_events(root / "events.jsonl")
    return RunRecord(
        path=root,
        manifest=manifest,
        events=events,
        series=read_samples(root / "samples.csv"),
        latency=read_latency(root / "latency.csv"),
        phases=phase_spans(events),
    )


def scenario_of(run_dir: Path) -> Scenario:
    """The scenario as run, from ``scenario.yaml`` in the run folder."""
    path = run_dir / "scenario.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RunDirError(f"{path}: cannot read the scenario of this run ({exc})") from exc
    try:
        return scenario_from_dict(raw, source=str(path))
    except ScenarioError as exc:
        raise RunDirError(f"{path}: the scenario of this run no longer validates:\n{exc}") from exc
