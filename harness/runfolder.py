"""The run folder: written as the run goes, readable at any second.

Layout (the contract, see docs/run-folder.md)::

    <run>/run.json          manifest: scenario (as run), variant, t0 (epoch), status, versions,
                            targets (name, pid, port, metrics), proxies; rewritten on changes
    <run>/scenario.yaml     the scenario as run (overrides applied)
    <run>/samples.csv       t,target,metric,value          (t: seconds since t0)
    <run>/processes.csv     t,target,pid,name,metric,value  each process of a proc: tree source
    <run>/latency.csv       t,requests,failures,p50_ms,p95_ms,p99_ms,max_ms   (1 s windows)
    <run>/latency.hdr       t,<base64 HDR histogram of that window, microseconds>
    <run>/latency-names.csv t,type,name,requests,failures,p50_ms,... (per request name)
    <run>/latency-names.hdr t,type,name,<base64 HDR histogram>      (per request name)
    <run>/locust/           Locust's own --csv stats (stats.csv, stats_history.csv, ...)
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
import math
import os
import re
import tempfile
import threading
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from harness.errors import RunDirError, ScenarioError
from harness.events import EventKind
from harness.scenario import Scenario, YamlLimitError, load_yaml, read_capped, scenario_from_dict
from harness.text import printable

SAMPLES_HEADER = ("t", "target", "metric", "value")
PROCESSES_HEADER = ("t", "target", "pid", "name", "metric", "value")
LATENCY_HEADER = ("t", "requests", "failures", "p50_ms", "p95_ms", "p99_ms", "max_ms")
HDR_HEADER = ("t", "histogram")
# per request name (Locust's request_type and name): one row per second and name with requests
NAMES_LATENCY_FILE = "latency-names.csv"
NAMES_HDR_FILE = "latency-names.hdr"
NAMES_HEADER = ("t", "type", "name", *LATENCY_HEADER[1:])
NAMES_HDR_HEADER = ("t", "type", "name", "histogram")
OTHER_NAME = "(other)"  # the bucket names beyond the cap fold into (type "")


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


def can_write_in(folder: Path) -> bool:
    """True when a file can be created in ``folder`` (tried, not guessed: permission bits
    say nothing for root, a read-only mount or /proc)."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".harness-probe-")
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


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
    _names: dict[tuple[str, str], LatencyTable] | None = field(default=None, repr=False)

    @property
    def t_end(self) -> float:
        """Last time anything was recorded."""
        ends = [float(s.t[-1]) for s in self.series.values() if len(s.t)]
        if len(self.latency.t):
            ends.append(float(self.latency.t[-1]))
        ends += [float(e.get("t", 0.0)) for e in self.events[-1:]]
        return max(ends, default=0.0)

    def name_latency(self) -> dict[tuple[str, str], LatencyTable]:
        """``latency-names.csv`` per (type, name), read once; empty when the run has none."""
        if self._names is None:
            self._names = read_name_latency(self.path / NAMES_LATENCY_FILE)
        return self._names

    def name_histograms(
        self, start: float, end: float
    ) -> Iterator[tuple[float, tuple[str, str], str]]:
        """Encoded per-name HDR histograms of the windows with start <= t < end."""
        path = self.path / NAMES_HDR_FILE
        if not path.exists():
            return
        with path.open(encoding="utf-8", errors="replace", newline="") as fh:
            next(fh, None)
            for row in csv.reader(fh):
                if len(row) != len(NAMES_HDR_HEADER) or not row[3]:
                    continue  # a torn or foreign line: the analysis counts what it can read
                try:
                    t = float(row[0])
                except ValueError:
                    continue
                if start <= t < end:
                    yield t, (row[1], row[2]), row[3]

    def histograms(self, start: float, end: float) -> Iterator[tuple[float, str]]:
        """Encoded HDR histograms of the windows with start <= t < end."""
        path = self.path / "latency.hdr"
        if not path.exists():
            return
        with path.open(encoding="utf-8", errors="replace") as fh:
            next(fh, None)
            for line in fh:
                t_text, _, enc = line.rstrip("\n").partition(",")
                try:
                    t = float(t_text)
                except ValueError:
                    continue
                if start <= t < end and enc:
                    yield t, enc


def _complete_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each complete line of ``path``; nothing if it is missing.

    A last line with no newline is torn (the run was killed mid-write) and dropped; blank
    lines are skipped. A line that is not UTF-8 is damage: RunDirError naming the line.
    """
    if not path.exists():
        return
    if path.is_dir():
        raise RunDirError(f"{path}: is a folder; a file was expected here")
    try:
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, 1):
                if not raw.endswith(b"\n"):
                    return
                try:
                    text = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as exc:
                    raise RunDirError(f"{path}:{number}: not UTF-8 text ({exc.reason})") from exc
                if text.strip():
                    yield number, text
    except OSError as exc:
        raise RunDirError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _csv_rows(path: Path, header: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each data row; the header line checked; RunDirError on damage."""
    for number, text in _complete_lines(path):
        try:
            row = next(csv.reader([text]))
        except (csv.Error, StopIteration) as exc:
            raise RunDirError(f"{path}:{number}: not a CSV row ({exc})") from exc
        if number == 1 and tuple(row) == header:
            continue
        if number == 1:
            raise RunDirError(f"{path}:1: expected the header {','.join(header)}, found "
                              f"{printable(text, 80)!r}")
        if len(row) != len(header):
            raise RunDirError(f"{path}:{number}: {len(row)} columns, expected {len(header)} "
                              f"({','.join(header)})")
        yield number, row


def _finite(path: Path, number: int, column: str, text: str, *, empty_ok: bool = False) -> float:
    if empty_ok and text == "":
        return float("nan")
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        raise RunDirError(f"{path}:{number}: {column}: {printable(text, 40)!r} is not a "
                          "finite number")
    return value


_NAME_CELL = re.compile(r"^[^\x00-\x1f\x7f-\x9f$]{1,200}$")


def read_events(path: Path) -> list[dict[str, Any]]:
    """``events.jsonl``: one JSON object a line with a finite ``t`` and a ``kind``; phase
    events name their ``phase``. Anything else is damage (RunDirError naming the line)."""
    events = []
    for number, line in _complete_lines(path):
        try:
            event = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise RunDirError(f"{path}:{number}: not JSON ({exc})") from exc
        if not isinstance(event, dict):
            raise RunDirError(f"{path}:{number}: an event must be a JSON object")
        t = event.get("t")
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
            raise RunDirError(f"{path}:{number}: t: must be a finite number of seconds")
        if not isinstance(event.get("kind"), str):
            raise RunDirError(f"{path}:{number}: kind: must be a string")
        if event["kind"] in (EventKind.PHASE_START, EventKind.PHASE_END) and not isinstance(
                event.get("phase"), str):
            raise RunDirError(f"{path}:{number}: phase: a {event['kind']} event names its phase")
        events.append(event)
    return events


def read_samples(path: Path) -> dict[tuple[str, str], Series]:
    """``samples.csv`` -> one Series per (target, metric), in time order."""
    cols: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for number, row in _csv_rows(path, SAMPLES_HEADER):
        t = _finite(path, number, "t", row[0])
        v = _finite(path, number, "value", row[3])
        for column, text in (("target", row[1]), ("metric", row[2])):
            if not _NAME_CELL.match(text):
                raise RunDirError(f"{path}:{number}: {column}: {printable(text, 40)!r} is not "
                                  "a name (empty, control characters or '$')")
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
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
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
    """``latency.csv``: a row per window; an empty cell is a window with no requests."""
    rows: list[list[float]] = []
    for number, row in _csv_rows(path, LATENCY_HEADER):
        rows.append([_finite(path, number, column, text, empty_ok=i > 2)
                     for i, (column, text) in enumerate(zip(LATENCY_HEADER, row, strict=True))])
    arr = np.asarray(rows, dtype=float).reshape(-1, len(LATENCY_HEADER))
    return LatencyTable(*(arr[:, i] for i in range(len(LATENCY_HEADER))))


def read_name_latency(path: Path) -> dict[tuple[str, str], LatencyTable]:
    """``latency-names.csv``: a table per (type, name), in the file's order of first sight.
    A missing file (a run without request names, or from before them) reads as empty.

    Read on demand (not by :func:`load_run`): values go straight into flat ``array('d')``
    columns, 56 bytes a row (50 busy names over 24 h: ~240 MB while the report reads it).
    """
    columns = (NAMES_HEADER[0], *NAMES_HEADER[3:])
    flat: dict[tuple[str, str], array[float]] = {}
    for number, row in _csv_rows(path, NAMES_HEADER):
        key = (row[1], row[2])
        values = flat.get(key)
        if values is None:
            values = flat[key] = array("d")
        values.extend(_finite(path, number, column, text, empty_ok=i > 2)
                      for i, (column, text) in enumerate(zip(columns, (row[0], *row[3:]),
                                                             strict=True)))
    out = {}
    for key, values in flat.items():
        arr = np.frombuffer(values, dtype=float).reshape(-1, len(columns))
        out[key] = LatencyTable(*(arr[:, i].copy() for i in range(len(columns))))
    return out


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


# what was soaked and where (harness.provenance): in run.json and summary.json
PROVENANCE_FIELDS = ("target_version", "target_version_source", "ci_url")
# run.json fields the readers use, with the types they need (others are kept as they are)
_MANIFEST_TYPES: dict[str, tuple[type, ...]] = {
    "status": (str,), "reason": (str,), "started_at": (str, type(None)),
    "ended_at": (str, type(None)), "versions": (dict,), "targets": (list, type(None)),
    "t0": (int, float), "scenario": (str,),
    **dict.fromkeys(PROVENANCE_FIELDS, (str, type(None))),
}
RUN_STATUSES = ("running", "completed", "interrupted", "target_crashed", "error")


def read_manifest(path: Path) -> dict[str, Any]:
    """``run.json``: a JSON object whose known fields have their types (RunDirError naming
    the field otherwise)."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise RunDirError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if len(data) > MAX_MANIFEST_BYTES:
        raise RunDirError(f"{path}: more than {MAX_MANIFEST_BYTES:,} bytes; not a run manifest")
    try:
        manifest = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RunDirError(f"{path}: not UTF-8 text (byte offset {exc.start})") from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        raise RunDirError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise RunDirError(f"{path}: must be a JSON object (the run manifest)")
    for key, types in _MANIFEST_TYPES.items():
        if key in manifest and (not isinstance(manifest[key], types)
                                or isinstance(manifest[key], bool)):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise RunDirError(f"{path}: {key}: must be {names}")
    if "status" in manifest and manifest["status"] not in RUN_STATUSES:
        raise RunDirError(f"{path}: status: {printable(manifest['status'], 40)!r} is not one "
                          f"of {', '.join(RUN_STATUSES)}")
    if not all(isinstance(v, str) for v in manifest.get("versions", {}).values()):
        raise RunDirError(f"{path}: versions: every version must be a string")
    return manifest


MAX_MANIFEST_BYTES = 10_000_000


def load_run(path: Path | str) -> RunRecord:
    """Read a run folder (also one from an interrupted or crashed run).

    Damage (a file that is not what the run writes) raises RunDirError naming the file,
    and the line where there is one; a torn last line is not damage.
    """
    root = Path(path)
    manifest_path = root / "run.json"
    if not root.is_dir():
        raise RunDirError(f"{root}: not a directory")
    if not manifest_path.exists():
        raise RunDirError(f"{root}: no run.json here; is this a run folder?")
    if manifest_path.is_dir():
        raise RunDirError(f"{manifest_path}: is a folder; a file was expected here")
    manifest = read_manifest(manifest_path)
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
    if not path.exists():
        raise RunDirError(f"{path}: missing; the run never recorded its scenario")
    try:
        raw = load_yaml(read_capped(path))
    except (OSError, YamlLimitError) as exc:
        raise RunDirError(f"{path}: cannot read the scenario of this run ({exc})") from exc
    if not isinstance(raw, dict):
        raise RunDirError(f"{path}: the scenario of this run is not a mapping")
    try:
        return scenario_from_dict(raw, source=str(path))
    except ScenarioError as exc:
        raise RunDirError(f"{path}: the scenario of this run no longer validates:\n{exc}") from exc
