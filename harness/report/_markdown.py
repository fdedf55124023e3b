"""report.md: for CI job summaries (GitHub step summary flavour).

GitHub renders inline HTML in Markdown, so every value from a scenario, a target or the
analysis is HTML-escaped (control characters shown as escapes first), and ``|`` is
escaped inside table cells.
"""

from __future__ import annotations

from harness.report._format import (
    VERDICT_MARK,
    counts_text,
    duration_text,
    escape,
    evidence_json,
    number_text,
)
from harness.runfolder import RunRecord
from harness.verdicts import Check, Summary

# GitHub caps a step summary at 1 MiB; keep evidence well below.
EVIDENCE_CHARS = 4_000
MAX_FAILING = 20


def cell(text: object) -> str:
    """Safe inside a Markdown table cell: escaped HTML, ``|`` and newlines neutralised."""
    return escape(str(text)).replace("|", "\\|").replace("\n", "<br>").replace("`", "&#96;")


def _row(check: Check) -> str:
    return (f"| {VERDICT_MARK[check.verdict]} {check.verdict.value} "
            f"| <code>{cell(check.name)}</code> | {cell(check.target or '-')} "
            f"| {cell(number_text(check.observed, check.unit))} "
            f"| {cell(number_text(check.threshold, check.unit))} | {cell(check.detail)} |")


def render_markdown(run: RunRecord, summary: Summary) -> str:
    """The Markdown report as one string."""
    title = escape(summary.scenario) + (f" ({escape(summary.variant)})" if summary.variant
                                        else "")
    lines = [
        f"## {VERDICT_MARK[summary.verdict]} {summary.verdict.value.upper()}: {title}",
        "",
        f"status **{escape(summary.status)}** · ran "
        f"{duration_text(summary.duration_s or run.t_end)} · {counts_text(summary.checks)}",
    ]
    if summary.reason:
        lines += ["", f"> {cell(summary.reason)}"]
    lines.append("")
    if summary.checks:
        lines += ["| verdict | check | target | observed | threshold | detail |",
                  "|---|---|---|---:|---:|---|"]
        ordered = sorted(summary.checks, key=lambda c: (not (c.failed or c.undecided), c.name))
        lines += [_row(c) for c in ordered]
    else:
        lines.append("_No checks were judged (the run may have been cut short)._")
    failing = summary.failed_checks + summary.undecided_checks
    if failing:
        lines += ["", "### Failing evidence", ""]
        for check in failing[:MAX_FAILING]:
            lines += [
                f"<details><summary><code>{cell(check.name)}</code>: {cell(check.detail)}"
                "</summary>",
                "",
                f"<pre>{escape(evidence_json(check, EVIDENCE_CHARS))}</pre>",
                "</details>",
                "",
            ]
        if len(failing) > MAX_FAILING:
            lines.append(f"_{len(failing) - MAX_FAILING} more failing checks in summary.json._")
    lines += ["", "Full report: `report.html` in the run folder "
              f"(`{cell(run.path.name)}`).", ""]
    return "\n".join(lines)
