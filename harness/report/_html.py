"""report.html: one self-contained file (inline CSS, charts as data URIs, no JS).

Every string that comes from a scenario, a target or the analysis goes through
``_format.escape`` (control characters shown as escapes, then ``html.escape``); nothing is
interpolated raw.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from harness.report._evidence_render import grew_tables
from harness.report._format import (
    MAX_EVENTS,
    VERDICT_MARK,
    counts_text,
    duration_text,
    escape,
    event_fields,
    evidence_json,
    number_text,
    scenario_text,
    versions,
)
from harness.report._names import name_rows_or_problem
from harness.runfolder import RunRecord
from harness.scenario import Scenario
from harness.verdicts import Check, Summary, Verdict

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b}
main{max-width:1280px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.banner{padding:14px 24px;color:#fff;font-size:20px;font-weight:600}
.banner small{display:block;font-size:13px;font-weight:400;opacity:.95}
.pass{background:#00704a}.fail{background:#b00020}.error{background:#8a4b00}.skip{background:#555}
.inconclusive{background:#6b4fa0}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px}
pre{background:#f7f7f7;border:1px solid #e2e2e2;padding:8px;overflow:auto;max-height:420px;
white-space:pre-wrap;word-break:break-word;font-size:12px}
figure{margin:12px 0} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:12px} details summary{cursor:pointer;color:#0b5394}
.muted{color:#666} code{font-size:12px}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _badge(verdict: Verdict) -> str:
    return f'<span class="badge {verdict.value}">{_e(verdict.value.upper())}</span>'


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _rows_table(rows: list[dict[str, Any]], limit: int = 200) -> str:
    keys: list[str] = []
    for row in rows[:limit]:
        keys += [k for k in row if k not in keys]
    head = "".join(f"<th>{_e(k)}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(_cell(row.get(k, '')))}</td>" for k in keys) + "</tr>"
        for row in rows[:limit]
    )
    more = f'<p class="muted">{len(rows) - limit} more rows in summary.json</p>' if len(
        rows) > limit else ""
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def _evidence(check: Check) -> str:
    if not check.evidence:
        return ""
    parts = [f"<pre>{_e(evidence_json(check))}</pre>"]
    return f"<details><summary>evidence</summary>{''.join(parts)}</details>"


def _checks_table(checks: list[Check]) -> str:
    if not checks:
        return '<p class="muted">No checks were judged (the run may have been cut short).</p>'
    rows = []
    for c in sorted(checks, key=lambda c: (not (c.failed or c.undecided), c.category != "target", c.name)):
        rows.append(
            "<tr>"
            f"<td>{_badge(c.verdict)}</td><td><code>{_e(c.name)}</code></td>"
            f"<td>{_e(c.kind)}</td><td>{_e(c.target or '-')}</td>"
            f'<td class="num">{_e(number_text(c.observed, c.unit))}</td>'
            f'<td class="num">{_e(number_text(c.threshold, c.unit))}</td>'
            f"<td>{_e(', '.join(c.phases) or '-')}</td>"
            f"<td>{_e(c.detail)}{_evidence(c)}</td></tr>"
        )
    head = ("<tr><th>verdict</th><th>check</th><th>kind</th><th>target</th><th>observed</th>"
            "<th>threshold</th><th>phases</th><th>detail and evidence</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _grew(checks: list[Check]) -> str:
    blocks = []
    for check in sorted(checks, key=lambda c: not c.failed):
        for key, rows in grew_tables(check):
            blocks.append(f"<h3>{_badge(check.verdict)} <code>{_e(check.name)}</code> "
                          f"<span class='muted'>{_e(key)}</span></h3>{_rows_table(rows)}")
    if not blocks:
        return '<p class="muted">No task or stack evidence in the checks.</p>'
    return "".join(blocks)


def _names(run: RunRecord, checks: list[Check]) -> str:
    rows, problem = name_rows_or_problem(run, checks)
    if problem:
        return f"<h2>Per request name</h2><p class='muted'>{_e(problem)}</p>"
    if not rows:
        return ""
    body = "".join(
        "<tr>"
        f"<td><code>{_e(r.label)}</code></td><td class='num'>{r.requests}</td>"
        f"<td class='num'>{r.failures}</td>"
        f"<td class='num'>{'-' if r.error_ratio is None else f'{r.error_ratio:.2%}'}</td>"
        + "".join(f"<td class='num'>{_e(number_text(v, 'ms'))}</td>"
                  for v in (r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms))
        + f"<td>{_badge(r.verdict) if r.verdict is not None else '-'}</td></tr>"
        for r in rows)
    head = ("<tr><th>request</th><th>requests</th><th>failed</th><th>error ratio</th>"
            "<th>P50</th><th>P95</th><th>P99</th><th>max</th><th>per-name checks</th></tr>")
    return ("<h2>Per request name</h2><p class='muted'>Whole run, from each name's merged "
            "HDR windows (latency-names.hdr); the per-name checks judge their phases.</p>"
            f"<table>{head}{body}</table>")


def _phases(run: RunRecord, scenario: Scenario | None) -> str:
    planned = {p.name: p.duration for p in scenario.phases} if scenario else {}
    rows = []
    for span in run.phases:
        end = "cut short" if span.end is None else f"{span.end:.1f}"
        ran = "-" if span.end is None else duration_text(span.end - span.start)
        faults = "; ".join(
            f"{f.get('type')} on {f.get('proxy')}"
            f"{'/' + str(f['stream']) if f.get('stream') else ''} "
            f"{json.dumps(f.get('attributes', {}), default=str)}"
            for f in span.faults
        ) or "-"
        plan = duration_text(planned[span.name]) if span.name in planned else "-"
        rows.append(f"<tr><td>{_e(span.name)}</td><td class='num'>{span.start:.1f}</td>"
                    f"<td class='num'>{_e(end)}</td><td>{_e(ran)}</td><td>{_e(plan)}</td>"
                    f"<td>{_e(faults)}</td></tr>")
    if not rows:
        return '<p class="muted">No phase started.</p>'
    return ("<table><tr><th>phase</th><th>start (s)</th><th>end (s)</th><th>ran</th>"
            f"<th>planned</th><th>faults</th></tr>{''.join(rows)}</table>")


def _events(run: RunRecord) -> str:
    events = run.events
    if not events:
        return '<p class="muted">No events recorded.</p>'
    shown = events[:MAX_EVENTS]
    rows = "".join(
        f"<tr><td class='num'>{_e(ev.get('t', ''))}</td><td>{_e(ev.get('ts', ''))}</td>"
        f"<td><code>{_e(ev.get('kind', ''))}</code></td><td>{_e(event_fields(ev))}</td></tr>"
        for ev in shown
    )
    more = (f'<p class="muted">{len(events) - len(shown)} more events in events.jsonl</p>'
            if len(events) > len(shown) else "")
    return (f"<table><tr><th>t (s)</th><th>time (UTC)</th><th>kind</th><th>fields</th></tr>"
            f"{rows}</table>{more}")


def _kv_table(items: dict[str, str]) -> str:
    if not items:
        return '<p class="muted">Not recorded.</p>'
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in sorted(items.items()))
    return f"<table>{rows}</table>"


def _targets(run: RunRecord) -> str:
    targets = run.manifest.get("targets")
    if not isinstance(targets, list) or not targets:
        return ""
    rows = [row for row in targets if isinstance(row, dict)]
    return "<h3>Targets</h3>" + _rows_table(rows) if rows else ""


def render_html(run: RunRecord, summary: Summary, scenario: Scenario | None,
                charts: dict[str, Path]) -> str:
    """The whole report as one HTML string."""
    verdict = summary.verdict
    title = f"{summary.scenario}" + (f" ({summary.variant})" if summary.variant else "")
    sub = (f"status {summary.status} · ran {duration_text(summary.duration_s or run.t_end)}"
           f" · {counts_text(summary.checks)}")
    reason = f"<p><b>Reason:</b> {_e(summary.reason)}</p>" if summary.reason else ""
    figures = "".join(
        f'<figure><img src="{_data_uri(path)}" alt="{_e(name)} chart">'
        f"<figcaption>{_e(name)}</figcaption></figure>"
        for name, path in charts.items() if path.exists()
    )
    scenario_yaml = scenario_text(run.path)
    scenario_block = (f"<pre>{_e(scenario_yaml)}</pre>" if scenario_yaml is not None
                      else '<p class="muted">scenario.yaml was not written.</p>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(VERDICT_MARK[verdict])} {_e(verdict.value.upper())}: {_e(title)}</title>
<style>{CSS}</style></head>
<body>
<div class="banner {verdict.value}">{_e(verdict.value.upper())}: {_e(title)}
<small>{_e(sub)}</small></div>
<main>
<h1>{_e(summary.scenario)}</h1>
<p>{_e(summary.description)}</p>{reason}
<h2>Checks</h2>{_checks_table(summary.checks)}
{_names(run, summary.checks)}
<h2>What grew</h2>{_grew(summary.checks)}
<h2>Charts</h2>{figures or '<p class="muted">No charts.</p>'}
<h2>Phases</h2>{_phases(run, scenario)}
<h2>Timeline of events</h2>{_events(run)}
<h2>Scenario as run</h2>{scenario_block}
<h2>Run</h2>{_kv_table({"started": summary.started_at or "-", "ended": summary.ended_at or "-",
                          "status": summary.status, "schema": str(summary.schema_version),
                          "folder": run.path.name})}{_targets(run)}
<h2>Versions</h2>{_kv_table(versions(run, summary))}
</main></body></html>
"""
