"""The stability report: stability.html (self-contained), stability.md, stability.json and
charts/<scenario>.png, written into a new folder by ``write_history``.

Same conventions as report.html: inline CSS, charts as data URIs, no JavaScript, every
string from a run folder through ``_format.escape`` (Markdown cells through ``cell``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
from matplotlib.axes import Axes

from harness.errors import EnvironmentFailure
from harness.report._charts import _figure, _legend, _save, _slug
from harness.report._format import escape, number_text
from harness.report._history import (
    MARKER,
    CheckHistory,
    History,
    Outcome,
    PointClass,
    RunEntry,
    ScenarioHistory,
)
from harness.report._html import CSS, _data_uri
from harness.report._markdown import cell
from harness.report._timeline import THRESHOLD_COLOUR

LABEL = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE",
         "tool_failure": "TOOL FAILURE", "skip": "SKIP"}
MARK = {"pass": "✅", "fail": "❌", "inconclusive": "⚠️", "tool_failure": "🛠️", "skip": "⏭️"}
POINT_STYLE = {"pass": ("#009E73", "o"), "fail": ("#B00020", "o"),
               "inconclusive": ("#E69F00", "D"), "tool_failure": ("#555555", "x")}
EXTRA_CSS = (".inconclusive{background:#8a4b00}.tool_failure{background:#5b2a86}"
             "tr.streak td{background:#fdecee} .small{font-size:12px}")
COUNTED: tuple[PointClass, ...] = ("pass", "fail", "inconclusive", "tool_failure")
MAX_PANELS = 24  # checks drawn per scenario chart (every check is in the tables)
MAX_VERSION_LABELS = 12
MD_RUNS = 40  # runs listed per scenario in stability.md (GitHub caps a step summary at 1 MiB)
MD_FOLDERS = 100


def _when(run: RunEntry | None) -> str:
    if run is None or run.started is None:
        return "-"
    return run.started.strftime("%Y-%m-%d %H:%M") + (" (file time)" if run.started_from ==
                                                     "file time" else "")


def _flaky_text(check: CheckHistory) -> str:
    changes, runs = check.changes_and_runs
    return f"{changes}/{runs} = {changes / runs:.2f}" if runs else "- (no conclusive run)"


def _since(scn: ScenarioHistory, check: CheckHistory) -> RunEntry | None:
    index = check.failing_since
    return None if index is None else scn.runs[index]


def _last(values: list[float | None]) -> float | None:
    return next((v for v in reversed(values) if v is not None), None)


# ---------------------------------------------------------------------------- chart


def _day(t: datetime) -> float:
    """matplotlib's date number (days since its 1970-01-01 epoch)."""
    return t.timestamp() / 86400.0


def _draw_check(ax: Axes, scn: ScenarioHistory, check: CheckHistory) -> None:
    times = [_day(t) if (t := scn.runs[i].started) else None for i in check.runs]
    known = [(t, v) for t, v in zip(times, check.observed, strict=True)
             if t is not None and v is not None]
    if known:
        ax.plot([t for t, _ in known], [v for _, v in known], color="#999999", lw=0.8, zorder=2)
    for cls, (colour, marker) in POINT_STYLE.items():
        pts = [(t, v) for t, v, c in zip(times, check.observed, check.classes, strict=True)
               if c == cls and t is not None and v is not None]
        if pts:
            ax.scatter([t for t, _ in pts], [v for _, v in pts], color=colour, marker=marker,
                       s=18, zorder=3, label=LABEL[cls].lower())
    limits = [(t, v) for t, v in zip(times, check.threshold, strict=True)
              if t is not None and v is not None]
    if limits:
        ax.step([t for t, _ in limits], [v for _, v in limits], where="post",
                color=THRESHOLD_COLOUR, ls="--", lw=1.1, zorder=4, label="threshold")
    since = _since(scn, check)
    if since is not None and since.started is not None:
        ax.axvline(_day(since.started), color=THRESHOLD_COLOUR, lw=1.4, zorder=1,
                   label="failing since")
    ax.set_ylabel(f"{check.name}\n({check.unit or 'value'})", fontsize=8)
    ax.grid(True, color="#DDDDDD", lw=0.5)
    _legend(ax)


def _version_marks(ax: Axes, runs: list[RunEntry], labels: bool) -> None:
    """A dotted line where the target's version changes, labelled when there are few."""
    changes: list[tuple[float, str]] = []
    last: str | None = None
    for run in runs:
        if run.target_version and run.target_version != last and run.started is not None:
            changes.append((_day(run.started), run.target_version))
            last = run.target_version
    for t, version in changes:
        ax.axvline(t, color="#0072B2", lw=0.6, ls=":", zorder=1)
        if labels and len(changes) <= MAX_VERSION_LABELS:
            ax.annotate(version[:16], (t, 1.0),
                        xycoords=("data", "axes fraction"), xytext=(2, 2),
                        textcoords="offset points", fontsize=7, color="#0072B2", rotation=30)


def render_chart(scn: ScenarioHistory, path: Path) -> Path | None:
    """Observed value and verdict per run for each check with a value; None if none has."""
    drawn = [c for c in scn.checks if any(v is not None for v in c.observed)][:MAX_PANELS]
    if not drawn or not any(r.started for r in scn.runs):
        return None
    fig, axes = _figure(len(drawn), height=1.9 if len(drawn) > 1 else 3.0)
    for ax, check in zip(axes, drawn, strict=True):
        _draw_check(ax, scn, check)
        _version_marks(ax, scn.runs, labels=ax is axes[0])
        ax.label_outer()
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(
        mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    axes[-1].set_xlabel("run start (UTC); dotted blue: target version changed")
    fig.suptitle(f"{scn.key}: observed value per run, threshold dashed", fontsize=11)
    return _save(fig, path)


# ---------------------------------------------------------------------------- HTML


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _badge(cls: PointClass | Outcome | None) -> str:
    if cls is None:
        return '<span class="muted">-</span>'
    return f'<span class="badge {cls}">{_e(LABEL[cls])}</span>'


def _run_cell(run: RunEntry | None) -> str:
    if run is None:
        return "-"
    version = f" · <code>{_e(run.target_version)}</code>" if run.target_version else ""
    return f"{_e(_when(run))} <span class='muted small'>{_e(run.path.name)}</span>{version}"


def _checks_html(scn: ScenarioHistory) -> str:
    rows = []
    for c in scn.checks:
        since = _since(scn, c)
        rows.append(
            f"<tr{' class=streak' if since else ''}><td><code>{_e(c.name)}</code>"
            f"<div class='muted small'>{_e(c.kind)} · {_e(c.category)}</div></td>"
            f"<td>{_badge(c.current)}</td><td>{_run_cell(since)}</td>"
            f"<td class='num'>{_e(_flaky_text(c))}</td>"
            + "".join(f"<td class='num'>{c.count(k)}</td>" for k in COUNTED)
            + f"<td class='num'>{_e(number_text(_last(c.observed), c.unit))}</td>"
            f"<td class='num'>{_e(number_text(_last(c.threshold), c.unit))}</td></tr>")
    head = ("<tr><th>check</th><th>now</th><th>failing since (start of the current failing "
            "streak)</th><th>flakiness (verdict changes / conclusive runs)</th><th>pass</th>"
            "<th>fail</th><th>inconclusive</th><th>tool failure</th><th>last observed</th>"
            "<th>threshold</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>" if rows else (
        '<p class="muted">No check was judged in any of these runs.</p>')


def _runs_html(runs: list[RunEntry], note: bool = False) -> str:
    rows = []
    for run in reversed(runs):
        link = (f"<a href=\"{_e(run.ci_url)}\">CI job</a>" if run.ci_url else "-")
        failed = ", ".join(c.name for c in run.checks
                           if c.verdict in ("fail", "error") and c.category != "tool")
        why = run.note if note else (run.reason or failed)
        rows.append(
            f"<tr><td>{_e(_when(run))}</td><td><code>{_e(run.path.name)}</code></td>"
            f"<td>{_e(run.target_version or '-')}</td><td>{_badge(run.outcome)}</td>"
            f"<td>{_e(run.status or '-')}</td><td>{link}</td><td>{_e(why)}</td></tr>")
    return ("<table><tr><th>start (UTC)</th><th>folder</th><th>target version</th>"
            "<th>outcome</th><th>status</th><th>CI</th><th>reason or failing checks</th></tr>"
            f"{''.join(rows)}</table>")


def _folders_html(entries: list[RunEntry]) -> str:
    if not entries:
        return '<p class="muted">None: every folder was read.</p>'
    rows = "".join(f"<tr><td><code>{_e(r.path)}</code></td><td>{_e(r.state)}</td>"
                   f"<td>{_e(_when(r))}</td><td>{_e(r.note)}</td></tr>" for r in entries)
    return (f"<table><tr><th>folder</th><th>state</th><th>start (UTC)</th><th>why</th></tr>"
            f"{rows}</table>")


def headline(history: History) -> tuple[str, str]:
    """(css class, one line) for the banner: failing checks, else undecided latest runs."""
    failing = [(s.key, c.name) for s in history.scenarios for c in s.checks
               if c.failing_since is not None and c.category != "tool"]
    if failing:
        return "fail", f"{len(failing)} check(s) failing in the latest runs"
    undecided = [s.key for s in history.scenarios if s.runs and s.runs[-1].outcome != "pass"]
    if undecided or not history.scenarios:
        return "inconclusive", (f"the latest run of {len(undecided)} scenario(s) did not decide"
                                if undecided else "no readable run")
    return "pass", "every check passed in the latest run of every scenario"


def render_html(history: History, charts: dict[str, Path]) -> str:
    cls, line = headline(history)
    runs = [r for s in history.scenarios for r in s.runs]
    span = [r.started for r in runs if r.started is not None]
    sub = (f"{history.folders} folders · {len(runs)} runs read · {len(history.unreadable)} "
           f"damaged or missing · {len(history.partial)} old schema"
           + (f" · {min(span):%Y-%m-%d} to {max(span):%Y-%m-%d}" if span else ""))
    parts = []
    for scn in history.scenarios:
        counts = scn.outcomes()
        chart = charts.get(scn.key)
        figure = (f'<figure><img src="{_data_uri(chart)}" alt="{_e(scn.key)} over time">'
                  "<figcaption>green pass, red fail, amber diamond inconclusive, grey x tool "
                  "failure; red line: failing since</figcaption></figure>" if chart else "")
        undecided = [r for r in scn.runs if r.outcome in ("inconclusive", "tool_failure")]
        parts.append(
            f"<h2>{_e(scn.key)}</h2><p>{len(scn.runs)} runs: "
            + " · ".join(f"{_badge(k)} {n}" for k, n in counts.items())
            + f"</p><h3>Checks</h3>{_checks_html(scn)}{figure}"
            f"<h3>Runs that did not decide (kept apart from failures)</h3>"
            + (_runs_html(undecided) if undecided else '<p class="muted">None.</p>')
            + f"<details><summary>every run ({len(scn.runs)})</summary>{_runs_html(scn.runs)}"
            "</details>")
    partial = (f"<h3>Old schema, read in part</h3>{_runs_html(history.partial, note=True)}"
               if history.partial else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(LABEL[cls])}: stability of {len(history.scenarios)} scenario(s)</title>
<style>{CSS}{EXTRA_CSS}</style></head>
<body>
<div class="banner {cls}">STABILITY: {_e(line)}<small>{_e(sub)}</small></div>
<main>
{''.join(parts) or '<p class="muted">No readable run folder.</p>'}
<h2>Damaged and missing run folders</h2>{_folders_html(history.unreadable)}{partial}
</main></body></html>
"""


# ---------------------------------------------------------------------------- Markdown


def render_markdown(history: History) -> str:
    cls, line = headline(history)
    lines = [f"## {MARK[cls if cls != 'inconclusive' else 'inconclusive']} STABILITY: {line}",
             ""]
    for scn in history.scenarios:
        counts = scn.outcomes()
        lines += [f"### {escape(scn.key)}", "", f"{len(scn.runs)} runs: " + " · ".join(
            f"{MARK[k]} {k.replace('_', ' ')} {n}" for k, n in counts.items()), "",
            "| now | check | failing since | flakiness | pass | fail | inconclusive | tool "
            "failure |", "|---|---|---|---:|---:|---:|---:|---:|"]
        for c in scn.checks:
            since = _since(scn, c)
            where = (f"{_when(since)} <code>{cell(since.path.name)}</code>"
                     + (f" ({cell(since.target_version)})" if since.target_version else "")
                     if since else "-")
            lines.append(f"| {MARK[c.current] if c.current else '-'} | <code>{cell(c.name)}</code>"
                         f" | {where} | {_flaky_text(c)} | {c.count('pass')} | "
                         f"{c.count('fail')} | {c.count('inconclusive')} | "
                         f"{c.count('tool_failure')} |")
        undecided = [r for r in scn.runs if r.outcome in ("inconclusive", "tool_failure")]
        if undecided:
            lines += ["", "Runs that did not decide (not failures):", ""]
            lines += [f"- {MARK[r.outcome]} {_when(r)} <code>{cell(r.path.name)}</code> "
                      f"{r.outcome.replace('_', ' ')} ({cell(r.status or '-')}) "
                      f"{cell(r.reason)}" for r in undecided[-MD_RUNS:]]
        lines.append("")
    if history.unreadable:
        lines += ["### Damaged and missing run folders", ""]
        lines += [f"- <code>{cell(r.path)}</code>: {cell(r.state)}: {cell(r.note)}"
                  for r in history.unreadable[:MD_FOLDERS]]
        if len(history.unreadable) > MD_FOLDERS:
            lines.append(f"- ... {len(history.unreadable) - MD_FOLDERS} more in stability.html")
        lines.append("")
    lines += ["Full report: `stability.html`.", ""]
    return "\n".join(lines)


def to_json(history: History) -> dict[str, Any]:
    """stability.json: the figures, for machines (and the marker of a history folder)."""
    def check(s: ScenarioHistory, c: CheckHistory) -> dict[str, Any]:
        since = _since(s, c)
        return {"name": c.name, "now": c.current, "flakiness": c.flakiness,
                "verdict_changes": c.changes_and_runs[0],
                "conclusive_runs": c.changes_and_runs[1],
                "failing_since": since.started.isoformat() if since and since.started else None,
                "failing_since_folder": str(since.path) if since else None,
                "counts": {k: c.count(k) for k in COUNTED}}

    return {"scenarios": [{"scenario": s.key, "runs": len(s.runs), "outcomes": s.outcomes(),
                           "checks": [check(s, c) for c in s.checks]}
                          for s in history.scenarios],
        "unreadable": [{"folder": str(r.path), "state": r.state, "why": r.note}
                       for r in history.unreadable]}


def write_history(history: History, out_dir: Path) -> list[Path]:
    """stability.html, stability.md, stability.json and charts/ into ``out_dir`` (created;
    the caller makes sure it is new or empty). EnvironmentFailure when it cannot be written."""
    try:
        charts_dir = out_dir / "charts"
        charts_dir.mkdir(parents=True, exist_ok=True)
        charts: dict[str, Path] = {}
        for n, scn in enumerate(history.scenarios):
            path = render_chart(scn, charts_dir / f"{n:03d}-{_slug(scn.key)}.png")
            if path is not None:
                charts[scn.key] = path
        files = [(MARKER, json.dumps(to_json(history), indent=1, ensure_ascii=False)),
                 ("stability.md", render_markdown(history)),
                 ("stability.html", render_html(history, charts))]
        paths = []
        for name, text in files:
            (out_dir / name).write_text(text, encoding="utf-8")
            paths.append(out_dir / name)
    except OSError as exc:
        raise EnvironmentFailure(f"{out_dir}: cannot write the stability report "
                                 f"({exc.strerror or exc})") from exc
    return [*paths, *charts.values()]
