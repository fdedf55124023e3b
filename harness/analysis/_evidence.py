"""What grew: diffs of task/goroutine snapshots between two moments of the run, and which
process of a target's tree grew.

Snapshots are ``evidence/<label>.<target>.json`` files (labels ``baseline``, ``peak``,
``end``), each ``{"total": N, "groups": [{"name", "where", "count"}, ...]}``: asyncio tasks
from a Python sample's ``/debug/tasks`` and Go goroutine dumps are both normalised to this.
Per-process values of ``proc:`` tree sources come from ``processes.csv``.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

from harness.events import EventKind
from harness.runfolder import RunRecord, read_process_levels

TOP_GROUPS = 10
TOP_PROCESSES = 10


def snapshot_path(run: RunRecord, label: str, target: str) -> Path | None:
    """The snapshot file for (label, target): from the ``evidence`` event, else by name."""
    for event in reversed(run.events):
        if (
            event.get("kind") == EventKind.EVIDENCE
            and event.get("label") == label
            and event.get("target") == target
            and event.get("file")
        ):
            path = Path(str(event["file"]))
            path = path if path.is_absolute() else run.path / path
            if path.exists():
                return path
    path = run.path / "evidence" / f"{label}.{target}.json"
    return path if path.exists() else None


def load_snapshot(path: Path) -> dict[tuple[str, str], int] | None:
    """``{(name, where): count}`` from a snapshot file; None when unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    groups: dict[tuple[str, str], int] = {}
    for group in data.get("groups") or []:
        if not isinstance(group, dict):
            continue
        key = (str(group.get("name", "?")), str(group.get("where", "")))
        try:
            groups[key] = groups.get(key, 0) + int(group.get("count", 0))
        except (TypeError, ValueError):
            continue
    return groups


def ignored(name: str, where: str, patterns: list[str]) -> bool:
    """True when a pattern matches name or where, as a glob or as a substring."""
    for pattern in patterns:
        for text in (name, where):
            if pattern in text or fnmatch.fnmatchcase(text, pattern):
                return True
    return False


def diff_groups(
    before: dict[tuple[str, str], int],
    after: dict[tuple[str, str], int],
    ignore: list[str],
    top: int = TOP_GROUPS,
) -> tuple[list[dict[str, Any]], int]:
    """Groups that grew from ``before`` to ``after``, largest growth first, and how many
    grown tasks the ``ignore`` patterns left out."""
    grown: list[dict[str, Any]] = []
    left_out = 0
    for (name, where), count in after.items():
        delta = count - before.get((name, where), 0)
        if delta <= 0:
            continue
        if ignored(name, where, ignore):
            left_out += delta
            continue
        grown.append({"name": name, "where": where, "before": count - delta,
                      "after": count, "delta": delta})
    grown.sort(key=lambda g: (-g["delta"], g["name"], g["where"]))
    return grown[:top], left_out


def what_grew(
    run: RunRecord, target: str, before: str, after: str, ignore: list[str]
) -> dict[str, Any]:
    """Evidence payload: the top grown groups of ``target`` between two snapshot labels.

    Empty when the snapshots are missing (a target without a task listing, an old run).
    """
    paths = snapshot_path(run, before, target), snapshot_path(run, after, target)
    if paths[0] is None or paths[1] is None:
        return {}
    snaps = load_snapshot(paths[0]), load_snapshot(paths[1])
    if snaps[0] is None or snaps[1] is None:
        return {}
    grown, left_out = diff_groups(snaps[0], snaps[1], ignore)
    out: dict[str, Any] = {
        "grown_groups": grown,
        "snapshots": [before, after],
        "total_before": sum(snaps[0].values()),
        "total_after": sum(snaps[1].values()),
    }
    if left_out:
        out["ignored_growth"] = left_out
    return out


def grew_sentence(evidence: dict[str, Any]) -> str:
    """`` Top growth: 48 x handler (app.py:42 in handler).`` or ``''``."""
    grown = evidence.get("grown_groups") or []
    if not grown:
        return ""
    g = grown[0]
    where = f" ({g['where']})" if g["where"] else ""
    return f" Top growth {'/'.join(evidence['snapshots'])}: +{g['delta']} {g['name']}{where}."


def which_process_grew(
    run: RunRecord, target: str, metric: str, start: float, end: float, top: int = TOP_PROCESSES
) -> dict[str, Any]:
    """Evidence payload: each process of ``target``'s tree with its own ``metric`` at the
    window's first and last tick, largest growth first; empty when no per-process data."""
    levels = read_process_levels(run.path / "processes.csv", target, metric, start, end)
    if not levels:
        return {}
    levels.sort(key=lambda p: (-p.growth, p.pid))
    rows = [{"pid": p.pid, "name": p.name, "first": p.first, "last": p.last,
             "growth": p.growth, "t_first": p.t_first, "t_last": p.t_last}
            for p in levels[:top]]
    out: dict[str, Any] = {"processes": rows}
    if len(levels) > top:
        out["processes_left_out"] = len(levels) - top
    return out


def process_sentence(evidence: dict[str, Any], unit: str) -> str:
    """`` Grew most in pid 4242 (python3): 5 -> 105 fds.`` (``Grew most in pod/container``
    for a kube: target's rows, pid 0) or ``''`` (a single process, or none grew)."""
    rows = evidence.get("processes") or []
    if len(rows) < 2 or rows[0]["growth"] <= 0:
        return ""
    p = rows[0]
    who = f"pid {p['pid']} ({p['name']})" if p["pid"] else str(p["name"])  # 0: a kube: container
    return f" Grew most in {who}: {p['first']:g} -> {p['last']:g} {unit}."
