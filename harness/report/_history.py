"""History across runs: what a folder of nightly run folders says, check by check.

Pure parts (``classify_run``, ``point_class``, ``flakiness``, ``failing_since``) decide;
``read_entry`` reads one run folder's ``summary.json`` (and ``run.json`` when needed, never
the samples) into a small ``RunEntry``; ``collect`` streams the folders and groups them.
Memory grows with runs x checks (a few numbers each), never with the length of a run.
"""

from __future__ import annotations

import glob
import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from harness.errors import RunDirError
from harness.runfolder import RUN_STATUSES, read_manifest
from harness.text import printable
from harness.verdicts import SCHEMA_VERSION, Summary, Verdict

RunState = Literal["ok", "old_schema", "no_summary", "damaged", "missing"]
Outcome = Literal["pass", "fail", "inconclusive", "tool_failure"]
PointClass = Literal["pass", "fail", "inconclusive", "tool_failure", "skip"]
READABLE: tuple[RunState, ...] = ("ok", "old_schema", "no_summary")
MAX_SUMMARY_BYTES = 64 * 2**20
MARKER = "stability.json"  # written by write_history: such a folder is not a run folder
CUT_SHORT = ("interrupted", "running")


@dataclass(frozen=True)
class CheckPoint:
    """One check of one run, as history needs it (no evidence)."""

    name: str
    verdict: str
    observed: float | None = None
    threshold: float | None = None
    kind: str = ""
    category: str = "target"
    unit: str = ""


@dataclass(frozen=True)
class RunEntry:
    """One run folder: what it says, or why it says nothing."""

    path: Path
    state: RunState
    note: str = ""
    scenario: str | None = None
    variant: str | None = None
    status: str | None = None
    reason: str = ""
    started: datetime | None = None
    started_from: str = ""  # summary.json, run.json, t0, file time
    target_version: str | None = None
    ci_url: str | None = None
    checks: tuple[CheckPoint, ...] = ()

    @property
    def key(self) -> str:
        name = self.scenario or "?"
        return name + (f" [{self.variant}]" if self.variant else "")

    @property
    def outcome(self) -> Outcome:
        return classify_run(self.state, self.status, self.checks)


def classify_run(state: RunState, status: str | None, checks: Sequence[CheckPoint]) -> Outcome:
    """A run's outcome. A tool failure (status ``error``) wins over everything: its data
    cannot be trusted; a failed target or run check (or a crashed target) wins over
    inconclusive; a run cut short, a check in ERROR, no check judged, or no summary at all
    is inconclusive. Tool checks (the control series) never fail a run."""
    if status == "error":
        return "tool_failure"
    judged = [c for c in checks if c.category != "tool"]
    if state == "no_summary":
        return "inconclusive"
    if status == "target_crashed" or any(c.verdict == Verdict.FAIL for c in judged):
        return "fail"
    if status in CUT_SHORT or not judged or any(c.verdict == Verdict.ERROR for c in judged):
        return "inconclusive"
    return "pass"


def point_class(outcome: Outcome, status: str | None, verdict: str) -> PointClass:
    """One check's verdict in one run, for history: in a tool failure nothing counts; a
    check in ERROR is inconclusive; a PASS from a run cut short saw only part of the run,
    so it is inconclusive too (a FAIL stands: what failed was seen)."""
    if outcome == "tool_failure":
        return "tool_failure"
    if verdict == Verdict.FAIL:
        return "fail"
    if verdict == Verdict.ERROR:
        return "inconclusive"
    if verdict == Verdict.SKIP:
        return "skip"
    return "inconclusive" if status in CUT_SHORT else "pass"


def flakiness(classes: Iterable[PointClass]) -> tuple[int, int]:
    """(verdict changes, conclusive runs) over the pass/fail points in order; inconclusive,
    tool-failure and skipped points neither count nor break a run of equal verdicts."""
    changes = runs = 0
    last: str | None = None
    for cls in classes:
        if cls not in ("pass", "fail"):
            continue
        runs += 1
        if last is not None and cls != last:
            changes += 1
        last = cls
    return changes, runs


def failing_since(classes: Sequence[PointClass]) -> int | None:
    """Index of the first point of the current failing streak: the latest conclusive point
    is a FAIL, and so is every conclusive point from the returned one on. None when the
    latest conclusive point passed (or there is none)."""
    first: int | None = None
    for index in range(len(classes) - 1, -1, -1):
        cls = classes[index]
        if cls == "fail":
            first = index
        elif cls == "pass":
            break
    return first


@dataclass
class CheckHistory:
    """One check of one scenario across its runs, with the figures history reports."""

    name: str
    kind: str
    category: str
    unit: str
    runs: list[int] = field(default_factory=list)  # index into ScenarioHistory.runs
    classes: list[PointClass] = field(default_factory=list)
    observed: list[float | None] = field(default_factory=list)
    threshold: list[float | None] = field(default_factory=list)

    @property
    def changes_and_runs(self) -> tuple[int, int]:
        return flakiness(self.classes)

    @property
    def flakiness(self) -> float | None:
        changes, runs = self.changes_and_runs
        return changes / runs if runs else None

    @property
    def failing_since(self) -> int | None:
        """Index into ``runs`` of the run where the current failing streak started."""
        index = failing_since(self.classes)
        return None if index is None else self.runs[index]

    @property
    def current(self) -> PointClass | None:
        """The latest conclusive verdict (pass or fail), or None."""
        return next((c for c in reversed(self.classes) if c in ("pass", "fail")), None)

    def count(self, cls: PointClass) -> int:
        return self.classes.count(cls)


@dataclass
class ScenarioHistory:
    """One scenario (and variant) over time: its readable runs in start order, its checks."""

    key: str
    runs: list[RunEntry]
    checks: list[CheckHistory]

    def outcomes(self) -> dict[Outcome, int]:
        out: dict[Outcome, int] = {"pass": 0, "fail": 0, "inconclusive": 0, "tool_failure": 0}
        for run in self.runs:
            out[run.outcome] += 1
        return out


@dataclass
class History:
    """Everything a stability report shows."""

    scenarios: list[ScenarioHistory]
    unreadable: list[RunEntry]  # damaged and missing folders, listed as such
    partial: list[RunEntry]  # old-schema folders read in part (also in their scenario)

    @property
    def folders(self) -> int:
        return sum(len(s.runs) for s in self.scenarios) + len(self.unreadable)


# ---------------------------------------------------------------------------- reading


def _is_run_folder(path: Path) -> bool:
    return (path / "summary.json").exists() or (path / "run.json").exists()


def find_run_folders(args: Sequence[str | Path]) -> Iterator[Path | RunEntry]:
    """Each run folder the arguments name, in order: a run folder, a folder of run folders
    (its subfolders, not deeper; stability report folders skipped), or a glob pattern.
    What names nothing usable comes out as a ``missing`` RunEntry."""
    seen: set[Path] = set()

    def once(path: Path) -> Iterator[Path]:
        real = path.resolve()
        if real not in seen:
            seen.add(real)
            yield path

    for arg in args:
        text = str(arg)
        matches = ([Path(p) for p in sorted(glob.glob(text))]
                   if glob.has_magic(text) and not Path(text).exists() else [Path(text)])
        if not matches:
            yield RunEntry(Path(text), "missing", "the pattern matches nothing")
        for path in matches:
            if not path.exists():
                yield RunEntry(path, "missing", "no such folder")
            elif not path.is_dir():
                yield RunEntry(path, "missing", "not a folder")
            elif _is_run_folder(path):
                yield from once(path)
            else:
                yield from _subfolders(path, once)


def _subfolders(path: Path, once: Any) -> Iterator[Path | RunEntry]:
    try:
        with os.scandir(path) as listing:
            names = sorted(e.name for e in listing if e.is_dir(follow_symlinks=True)
                           and not e.name.startswith(".") and e.name != "lost+found")
    except OSError as exc:
        yield RunEntry(path, "damaged", f"cannot list ({exc.strerror or exc})")
        return
    if not names:
        yield RunEntry(path, "missing", "no summary.json or run.json, and no run folders in it")
    for name in names:
        sub = path / name
        if (sub / MARKER).exists():
            continue
        if _is_run_folder(sub):
            yield from once(sub)
        else:
            yield RunEntry(sub, "missing", "no summary.json or run.json")


def _time(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _text(value: object, limit: int = 200) -> str | None:
    return printable(value, limit, newlines=False) if isinstance(value, str) and value else None


def _lenient(data: dict[str, Any]) -> tuple[dict[str, Any], tuple[CheckPoint, ...]]:
    """What an old (or foreign) summary.json holds that history can use; checks without a
    name or a known verdict are left out."""
    verdicts = {v.value for v in Verdict}
    checks = []
    listed = data.get("checks")
    for raw in listed if isinstance(listed, list) else []:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            continue
        verdict = str(raw.get("verdict", "")).lower()
        if verdict not in verdicts:
            continue
        checks.append(CheckPoint(
            raw["name"], verdict, _number(raw.get("observed")), _number(raw.get("threshold")),
            str(raw.get("kind", "")), str(raw.get("category", "target")),
            str(raw.get("unit", ""))))
    return data, tuple(checks)


def _points(summary: Summary) -> tuple[CheckPoint, ...]:
    return tuple(CheckPoint(c.name, c.verdict.value, _number(c.observed), _number(c.threshold),
                            c.kind, c.category, c.unit) for c in summary.checks)


def _read_summary(path: Path) -> tuple[RunState, str, dict[str, Any], tuple[CheckPoint, ...]]:
    """(state, note, top-level fields, checks) of one summary.json."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_SUMMARY_BYTES + 1)
    except OSError as exc:
        return "damaged", f"summary.json: cannot read ({exc.strerror or exc})", {}, ()
    if len(data) > MAX_SUMMARY_BYTES:
        return "damaged", f"summary.json: more than {MAX_SUMMARY_BYTES:,} bytes", {}, ()
    try:
        summary = Summary.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        why = f"{printable(where, 80)}: {printable(first['msg'], 120)}"
        try:
            raw = json.loads(data)
        except (ValueError, RecursionError):
            return "damaged", f"summary.json: not JSON ({why})", {}, ()
        if not isinstance(raw, dict) or not isinstance(raw.get("scenario"), str):
            return "damaged", f"summary.json: not a run summary ({why})", {}, ()
        fields, checks = _lenient(raw)
        version = fields.get("schema_version")
        return ("old_schema", f"summary.json schema {printable(version, 20)} (this harness "
                f"reads {SCHEMA_VERSION}): read in part; first mismatch {why}", fields, checks)
    fields = summary.model_dump(exclude={"checks"})
    if summary.schema_version != SCHEMA_VERSION:
        note = f"summary.json schema {summary.schema_version} (this harness writes {SCHEMA_VERSION})"
        return "old_schema", note, fields, _points(summary)
    return "ok", "", fields, _points(summary)


def read_entry(path: Path) -> RunEntry:
    """One run folder's entry from its summary.json, completed by run.json; never raises
    for what is in the folder."""
    manifest: dict[str, Any] = {}
    manifest_note = ""
    if (path / "run.json").exists():
        try:
            manifest = read_manifest(path / "run.json")
        except RunDirError as exc:
            manifest_note = printable(str(exc).replace(str(path) + "/", ""), 200)
    if (path / "summary.json").is_file():
        state, note, fields, checks = _read_summary(path / "summary.json")
    elif (path / "summary.json").exists():
        state, note, fields, checks = "damaged", "summary.json: is not a file", {}, ()
    elif manifest:
        state, note, fields, checks = ("no_summary", "no summary.json: `harness report` was "
                                       "never run on it (killed before the report?)", {}, ())
    else:
        state, note, fields, checks = ("damaged", manifest_note or "no summary.json", {}, ())
    merged = {**manifest, **{k: v for k, v in fields.items() if v not in (None, "")}}
    status = merged.get("status")
    status = status if status in RUN_STATUSES else None
    if state == "no_summary" and status == "running":
        status = "interrupted"  # the harness itself was killed
    started, started_from = None, ""
    for source, value in (("summary.json", fields.get("started_at")),
                          ("run.json", manifest.get("started_at")), ("t0", manifest.get("t0"))):
        started = _time(value)
        if started is not None:
            started_from = source
            break
    if started is None:
        started, started_from = _file_time(path)
    url = merged.get("ci_url")
    return RunEntry(
        path=path, state=state, note=note, scenario=_text(merged.get("scenario")),
        variant=_text(merged.get("variant"), 40), status=status,
        reason=_text(merged.get("reason"), 300) or "", started=started,
        started_from=started_from, target_version=_text(merged.get("target_version")),
        ci_url=url if isinstance(url, str) and url.startswith(("https://", "http://")) else None,
        checks=checks)


def _file_time(path: Path) -> tuple[datetime | None, str]:
    for name in ("summary.json", "run.json"):
        try:
            return datetime.fromtimestamp((path / name).stat().st_mtime, UTC), "file time"
        except OSError:
            continue
    return None, ""


def _order(entry: RunEntry) -> tuple[bool, datetime, str]:
    return (entry.started is None, entry.started or datetime.min.replace(tzinfo=UTC),
            entry.path.name)


def collect_history(args: Sequence[str | Path]) -> History:
    """Read every run folder the arguments name (see ``find_run_folders``) into a History."""
    groups: dict[str, list[RunEntry]] = {}
    unreadable: list[RunEntry] = []
    for found in find_run_folders(args):
        entry = found if isinstance(found, RunEntry) else read_entry(found)
        if entry.state in READABLE and entry.scenario:
            groups.setdefault(entry.key, []).append(entry)
        else:
            unreadable.append(entry if entry.state != "ok" else RunEntry(
                entry.path, "damaged", "summary.json names no scenario"))
    scenarios = [_scenario(key, sorted(runs, key=_order)) for key, runs in sorted(groups.items())]
    partial = [r for s in scenarios for r in s.runs if r.state == "old_schema"]
    return History(scenarios, sorted(unreadable, key=_order), partial)


def _scenario(key: str, runs: list[RunEntry]) -> ScenarioHistory:
    checks: dict[str, CheckHistory] = {}
    for index, run in enumerate(runs):
        outcome = run.outcome
        for point in run.checks:
            history = checks.get(point.name)
            if history is None:
                history = checks[point.name] = CheckHistory(point.name, point.kind,
                                                            point.category, point.unit)
            history.runs.append(index)
            history.classes.append(point_class(outcome, run.status, point.verdict))
            history.observed.append(point.observed)
            history.threshold.append(point.threshold)
    ordered = sorted(checks.values(), key=lambda c: (
        c.failing_since is None, -(c.flakiness or 0.0), c.category != "target", c.name))
    return ScenarioHistory(key, runs, ordered)
