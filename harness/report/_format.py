"""Small text helpers shared by the HTML, Markdown and JUnit writers."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from harness.runfolder import RunRecord
from harness.text import printable
from harness.verdicts import Check, Summary, Verdict

VERDICT_MARK = {Verdict.PASS: "✅", Verdict.FAIL: "❌", Verdict.ERROR: "⚠️", Verdict.SKIP: "⏭️",
                Verdict.INCONCLUSIVE: "❔"}
MAX_EVIDENCE_CHARS = 20_000
MAX_EVENTS = 2_000


def escape(text: object, quote: bool = True) -> str:
    """HTML-escaped, with control characters shown as escapes (``html.escape`` keeps ESC,
    NUL, ``\r``... as they are): every untrusted string in report.html and report.md."""
    return html.escape(printable(text), quote=quote)


def number_text(value: float | None, unit: str = "") -> str:
    """``12.3 ms``; ``-`` for None; at most 4 significant digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    text = f"{value:.4g}"
    return f"{text} {unit}".strip() if unit and not unit.startswith("/") else text + unit


def duration_text(seconds: float) -> str:
    """``1h 02m 03s`` style, coarse enough to read."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {sec:02d}s" if hours else f"{minutes}m {sec:02d}s"


def evidence_json(check: Check, limit: int = MAX_EVIDENCE_CHARS) -> str:
    """The evidence as indented JSON, cut (and said so) beyond ``limit`` characters."""
    text = json.dumps(check.evidence, indent=1, default=str, ensure_ascii=False)
    if len(text) > limit:
        text = text[:limit] + f"\n... ({len(text) - limit} more characters in summary.json)"
    return text


def counts(checks: list[Check]) -> dict[Verdict, int]:
    out = dict.fromkeys(Verdict, 0)
    for check in checks:
        out[check.verdict] += 1
    return out


def counts_text(checks: list[Check]) -> str:
    c = counts(checks)
    parts = [f"{c[v]} {v.value}" for v in Verdict if c[v]]
    return f"{len(checks)} checks" + (f": {', '.join(parts)}" if parts else "")


def versions(run: RunRecord, summary: Summary) -> dict[str, str]:
    """Versions from the summary, completed by the manifest's."""
    merged: dict[str, str] = {}
    manifest_versions = run.manifest.get("versions")
    if isinstance(manifest_versions, dict):
        merged.update({str(k): str(v) for k, v in manifest_versions.items()})
    merged.update(summary.versions)
    return merged


def scenario_text(run_dir: Path, limit: int = 200_000) -> str | None:
    """The scenario as run (``scenario.yaml``), or None if the run never wrote it."""
    path = run_dir / "scenario.yaml"
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "\n# ... (cut)"


def event_fields(event: dict[str, Any]) -> str:
    """An event's fields other than t/ts/kind, as compact JSON."""
    rest = {k: v for k, v in event.items() if k not in ("t", "ts", "kind")}
    return json.dumps(rest, separators=(", ", ": "), default=str, ensure_ascii=False)
