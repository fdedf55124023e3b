"""report.md: plain Markdown that reads well as text (a terminal, Slack, a GitLab note) and
renders on GitHub (a step summary, a PR comment).

No HTML and no HTML entities: untrusted values (scenario, target and task names, details)
get control characters shown as escapes (``harness.text.printable``), and the few
characters that would change how Markdown renders them are backslash-escaped (``\\<`` so
no tag can open, ``\\|`` inside tables, ``\\``` so no code span opens). Evidence goes in
fenced code blocks, whose fence is longer than any run of backticks inside.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from harness.report._format import VERDICT_MARK, counts_text, duration_text, evidence_json, number_text
from harness.report._names import NameRow, name_rows_or_problem
from harness.runfolder import RunRecord
from harness.text import printable
from harness.verdicts import Check, Summary, verdict_label

# GitHub caps a step summary at 1 MiB; keep evidence well below.
EVIDENCE_CHARS = 4_000
MAX_FAILING = 20
_ENTITY = re.compile(r"&(?=#?\w+;)")  # only an & that would start an entity needs escaping


def text(value: object) -> str:
    """One line of untrusted text, safe in Markdown prose: controls shown as escapes,
    newlines as `` / ``, and ``< ` \\ |`` backslash-escaped so nothing renders as HTML or
    code. ``>`` stays as it is (``a -> b``) except at the start, where it would quote."""
    one = " / ".join(printable(value).splitlines()) if value is not None else ""
    out = re.sub(r"([\\`<|])", r"\\\1", one)
    out = _ENTITY.sub(r"\\&", out)
    return "\\" + out if out.startswith((">", "#", "-", "+", "=")) else out


def cell(value: object) -> str:
    """Safe inside a Markdown table cell (see :func:`text`): one line, ``|`` escaped."""
    return text(value)


def code(value: object) -> str:
    """Inline code span that holds any text: the fence is one backtick longer than the
    longest run inside (CommonMark), and ``|`` is escaped for table cells."""
    one = " / ".join(printable(value).splitlines())
    longest = max((len(m) for m in re.findall(r"`+", one)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if one.startswith("`") or one.endswith("`") else ""
    return f"{fence}{pad}{one.replace('|', chr(92) + '|')}{pad}{fence}"


def fenced(body: str, info: str = "") -> list[str]:
    """A fenced code block holding ``body`` as it is (controls shown as escapes)."""
    safe = printable(body)
    longest = max((len(m) for m in re.findall(r"`{3,}", safe)), default=2)
    fence = "`" * (longest + 1)
    return [f"{fence}{info}", *safe.splitlines(), fence]


def _row(check: Check) -> str:
    return (f"| {VERDICT_MARK[check.verdict]} {check.verdict.value} "
            f"| {code(check.name)} | {cell(check.target or '-')} "
            f"| {cell(number_text(check.observed, check.unit))} "
            f"| {cell(number_text(check.threshold, check.unit))} | {cell(check.detail)} |")


def render_markdown(run: RunRecord, summary: Summary) -> str:
    """The Markdown report as one string."""
    title = text(summary.scenario) + (f" ({text(summary.variant)})" if summary.variant else "")
    lines = [
        f"## {VERDICT_MARK[summary.verdict]} {summary.verdict.value.upper()}: {title}",
        "",
        f"status **{text(summary.status)}** · ran "
        f"{duration_text(summary.duration_s or run.t_end)} · {counts_text(summary.checks)}",
    ]
    if summary.reason:
        lines += ["", *[f"> {text(line)}" for line in summary.reason.splitlines() if line]]
    lines.append("")
    if summary.checks:
        lines += ["| verdict | check | target | observed | threshold | detail |",
                  "|---|---|---|---:|---:|---|"]
        ordered = sorted(summary.checks, key=lambda c: (not (c.failed or c.undecided), c.name))
        lines += [_row(c) for c in ordered]
    else:
        lines.append("_No checks were judged (the run may have been cut short)._")
    lines += _names_table(*name_rows_or_problem(run, summary.checks))
    failing = summary.failed_checks + summary.undecided_checks
    if failing:
        lines += ["", "### Failing evidence", ""]
        for check in failing[:MAX_FAILING]:
            lines += [f"#### {code(check.name)} ({check.verdict.value})", "",
                      text(check.detail), "",
                      *fenced(evidence_json(check, EVIDENCE_CHARS), "json"), ""]
        if len(failing) > MAX_FAILING:
            lines.append(f"_{len(failing) - MAX_FAILING} more failing checks in summary.json._")
    lines += ["", f"Full report: `report.html` in the run folder {code(run.path.name)}.", ""]
    return "\n".join(lines)


def _names_table(rows: list[NameRow], problem: str) -> list[str]:
    """``### Per request name``: requests, errors and whole-run percentiles per name."""
    if problem:
        return ["", "### Per request name", "", f"_{text(problem)}_"]
    if not rows:
        return []
    out = ["", "### Per request name", "",
           "| request | requests | failed | error ratio | P50 | P95 | P99 | max | checks |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        ratio = "-" if r.error_ratio is None else f"{r.error_ratio:.2%}"
        verdict = "-" if r.verdict is None else f"{VERDICT_MARK[r.verdict]} {r.verdict.value}"
        out.append(f"| {code(r.label)} | {r.requests} | {r.failures} | {ratio} "
                   + "".join(f"| {cell(number_text(v, 'ms'))} "
                             for v in (r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms))
                   + f"| {verdict} |")
    return out


STEP_SUMMARY_CHECKS = 10  # failed / inconclusive checks named in a step summary


def step_summary(summary: Summary, run_dir: Path) -> str:
    """A short Markdown block for ``$GITHUB_STEP_SUMMARY``: the verdict, the checks that
    failed or could not be judged (tool checks said apart), and where the report is."""
    title = text(summary.scenario) + (f" ({text(summary.variant)})" if summary.variant else "")
    word = verdict_label(summary)
    if word == "ERROR":
        word = "ERROR (a tool or the environment failed)"
    lines = [f"### {VERDICT_MARK[summary.verdict]} {word}: {title}", "",
             f"status **{text(summary.status)}** · {counts_text(summary.checks)}"]
    if summary.reason:
        lines += ["", f"> {text(summary.reason.splitlines()[0])}"]
    named = [(c, "FAIL" if c.failed else "INCONCLUSIVE") for c in summary.checks
             if (c.failed or c.undecided) and c.category != "tool"]
    named += [(c, "TOOL") for c in summary.checks
              if (c.failed or c.undecided) and c.category == "tool"]
    if named:
        lines.append("")
        for check, label in named[:STEP_SUMMARY_CHECKS]:
            lines.append(f"- **{label}** {code(check.name)}: {text(check.detail)}")
        if len(named) > STEP_SUMMARY_CHECKS:
            lines.append(f"- ... {len(named) - STEP_SUMMARY_CHECKS} more in summary.json")
    server, repo, run_id = (os.environ.get(k) for k in
                            ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    lines += ["", f"Report: {code(run_dir / 'report.md')} and {code(run_dir / 'report.html')}"
              + (f" (kept as an artifact of [this run]({server}/{repo}/actions/runs/{run_id}))"
                 if server and repo and run_id else ""), ""]
    return "\n".join(lines) + "\n"
