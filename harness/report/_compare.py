"""compare: a candidate run against a baseline run, check by check.

A row regresses when the candidate is worse than the baseline by more than ``tolerance``
(relative), or when a check passed in the baseline and fails in the candidate. "Worse" is
higher for every kind except checks marked ``evidence["bound"] == "min"``. The relative
change is taken against ``max(|baseline|, floor)``: the floor is 10% of the threshold
(the whole threshold for growth slopes, whose baseline is near zero and noisy), so a
change of a few hundredths on a value near zero is not a 100% regression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure
from pydantic import ValidationError

from harness.errors import InputError, RunDirError
from harness.report._charts import DPI, WIDTH, target_names, unit_for
from harness.report._downsample import envelope
from harness.report._format import escape, number_text
from harness.report._html import CSS, _data_uri
from harness.report._markdown import cell, code, text
from harness.report._timeline import TimeAxis, colour, shade_phases
from harness.runfolder import RunRecord, load_run
from harness.text import printable
from harness.verdicts import Check, Summary, Verdict

COMPARABLE_KINDS = ("latency", "error_ratio", "growth", "recovery", "level")
# What "change" means, said in the CLI output, compare.md and compare.html.
RELATIVE_NOTE = (
    "change = how much worse the candidate is, relative to the baseline's value: "
    "(candidate - baseline) / baseline, sign flipped for min limits so + is always worse "
    "(+25% = 1.25x the baseline). A baseline near zero is replaced by a floor: 10% of the "
    "threshold, or the whole threshold for growth slopes, so a tiny change on a near-zero "
    "value is not a huge percentage. A row regresses when change > the tolerance, or when "
    "a check that passed in the baseline fails or cannot be judged in the candidate.")


@dataclass(frozen=True)
class CompareRow:
    """One check in both runs, and whether the candidate regressed on it."""

    name: str
    kind: str
    unit: str
    baseline: float | None
    candidate: float | None
    baseline_verdict: Verdict | None
    candidate_verdict: Verdict | None
    delta: float | None
    relative: float | None  # signed: > 0 means worse
    regressed: bool
    note: str = ""


@dataclass(frozen=True)
class CompareResult:
    """The outcome of ``compare_runs``: exit 1 when ``regressed``."""

    regressed: bool
    rows: list[CompareRow]
    paths: list[Path] = field(default_factory=list)
    tolerance: float = 0.10


def read_summary(run_dir: Path) -> Summary:
    path = run_dir / "summary.json"
    if not path.exists():
        raise RunDirError(f"{path}: missing; run `harness report {run_dir}` first")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RunDirError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        return Summary.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise RunDirError(f"{path}: not a valid summary ({exc.error_count()} errors; first: "
                          f"{printable(where, 80)}: {printable(first['msg'], 200)})") from exc


def _lower_is_worse(check: Check) -> bool:
    return check.evidence.get("bound") == "min" or ".min[" in check.name


def compare_row(base: Check | None, cand: Check | None, tolerance: float) -> CompareRow:
    """Compare one check by name; either side may be missing."""
    ref = cand or base
    assert ref is not None
    def row(delta: float | None, relative: float | None, regressed: bool,
            note: str) -> CompareRow:
        return CompareRow(
            ref.name, ref.kind, ref.unit, base.observed if base else None,
            cand.observed if cand else None, base.verdict if base else None,
            cand.verdict if cand else None, delta, relative, regressed, note)

    if base is None or cand is None:
        return row(None, None, False, "only in candidate" if base is None else "only in baseline")
    tool = ref.category == "tool"
    regressed, notes = False, []
    if base.verdict == Verdict.PASS and (cand.failed or cand.undecided):
        regressed = not tool
        notes.append("passed in baseline, fails in candidate" if cand.failed
                     else "passed in baseline, could not be judged in candidate")
    delta = relative = None
    b, c = base.observed, cand.observed
    judged = (ref.kind in COMPARABLE_KINDS and Verdict.SKIP not in (base.verdict, cand.verdict))
    if b is not None and c is not None and math.isfinite(b) and math.isfinite(c):
        delta = c - b
        worse = -delta if _lower_is_worse(ref) else delta
        threshold = abs(ref.threshold) if ref.threshold is not None else 0.0
        floor = threshold if ref.kind == "growth" else 0.1 * threshold
        denom = max(abs(b), floor)
        relative = worse / denom if denom > 0 else (math.inf if worse > 0 else 0.0)
        if judged and relative > tolerance:
            notes.append(f"worse by {_pct(relative)} (tolerance {tolerance * 100:.0f}%)")
            regressed = regressed or not tool
    if tool:
        notes.append("tool check: reported, never a regression")
    return row(delta, relative, regressed, "; ".join(notes))


def _pct(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value * 100:+.1f}%"


def _rows(base: Summary, cand: Summary, tolerance: float) -> list[CompareRow]:
    b = {c.name: c for c in base.checks}
    c = {c.name: c for c in cand.checks}
    names = list(b) + [n for n in c if n not in b]
    return [compare_row(b.get(n), c.get(n), tolerance) for n in names]


def _charts(base: RunRecord, cand: RunRecord, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    t_end = max(base.t_end, cand.t_end, 1.0)
    axis = TimeAxis.for_length(t_end)
    targets = sorted(set(target_names(base, False)) | set(target_names(cand, False)))
    metrics = sorted({m for t, m in (*base.series, *cand.series) if t in targets})
    panels = ["p99_ms", *metrics]
    fig = Figure(figsize=(WIDTH, 2.6 * len(panels)), dpi=DPI, layout="constrained")
    axes = [row[0] for row in fig.subplots(len(panels), 1, sharex=True, squeeze=False)]
    for ax, metric in zip(axes, panels, strict=True):
        shade_phases(ax, cand.phases, axis, t_end, labels=ax is axes[0])
        unit = unit_for(metric)
        for run, label, style in ((base, "baseline", "--"), (cand, "candidate", "-")):
            if metric == "p99_ms":
                lines = [("P99", run.latency.t, run.latency.p99_ms)]
            else:
                lines = [(tg, s.t, s.v) for tg in targets
                         if (s := run.series.get((tg, metric))) is not None]
            for i, (name, t, v) in enumerate(lines):
                if not len(t):
                    continue
                t, v = envelope(t, v)
                ax.plot(t / axis.scale, v / unit.scale, ls=style, lw=1.1,
                        color=colour(i), alpha=0.65 if label == "baseline" else 1.0,
                        label=f"{label}: {name}")
        ax.set_ylabel(f"{metric} ({unit.label})")
        ax.grid(True, color="#DDDDDD", lw=0.5)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False)
        ax.set_xlim(0, axis(t_end))
    axes[-1].set_xlabel(axis.label + " (baseline dashed, candidate solid)")
    fig.suptitle("baseline vs candidate", fontsize=11)
    path = out_dir / "compare.png"
    fig.savefig(path, format="png", dpi=DPI)
    fig.clear()
    return [path]


def _value(v: float | None, unit: str) -> str:
    return number_text(v, unit)


def _render_md(result: CompareResult, base: Summary, cand: Summary, names: tuple[str, str]) -> str:
    head = "❌ REGRESSED" if result.regressed else "✅ NO REGRESSION"
    title = text(cand.scenario) if cand.scenario == base.scenario else \
        f"{text(base.scenario)} vs {text(cand.scenario)} (different scenarios)"
    lines = [f"## {head}: {title}", "",
             f"baseline {code(names[0])} ({base.verdict.value}) vs candidate "
             f"{code(names[1])} ({cand.verdict.value}), tolerance "
             f"{result.tolerance * 100:.0f}%", "", RELATIVE_NOTE, "",
             "| | check | baseline | candidate | change | note |", "|---|---|---:|---:|---:|---|"]
    for r in result.rows:
        mark = "❌" if r.regressed else ""
        lines.append(f"| {mark} | {code(r.name)} | {cell(_value(r.baseline, r.unit))}"
                     f" | {cell(_value(r.candidate, r.unit))} | "
                     f"{cell(_pct(r.relative) if r.relative is not None else '-')} "
                     f"| {cell(r.note)} |")
    return "\n".join(lines) + "\n"


def _render_html(result: CompareResult, base: Summary, cand: Summary, names: tuple[str, str],
                 charts: list[Path]) -> str:
    cls, head = ("fail", "REGRESSED") if result.regressed else ("pass", "NO REGRESSION")
    rows = "".join(
        f"<tr><td>{'❌' if r.regressed else ''}</td><td><code>{escape(r.name)}</code></td>"
        f"<td>{escape(r.kind)}</td>"
        f"<td class='num'>{escape(_value(r.baseline, r.unit))}</td>"
        f"<td class='num'>{escape(_value(r.candidate, r.unit))}</td>"
        f"<td class='num'>{escape(_pct(r.relative) if r.relative is not None else '-')}</td>"
        f"<td>{escape(r.baseline_verdict or '-')} → {escape(r.candidate_verdict or '-')}</td>"
        f"<td>{escape(r.note)}</td></tr>"
        for r in result.rows)
    figures = "".join(f'<figure><img src="{_data_uri(p)}" alt="baseline vs candidate"></figure>'
                      for p in charts)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{head}: {escape(cand.scenario)}</title>
<style>{CSS}</style></head><body>
<div class="banner {cls}">{head}: {escape(cand.scenario)}
<small>baseline {escape(names[0])} ({escape(base.verdict.value)}) vs candidate
{escape(names[1])} ({escape(cand.verdict.value)}), tolerance {result.tolerance * 100:.0f}%</small>
</div><main>
<h2>Checks</h2><p>{escape(RELATIVE_NOTE)}</p><table><tr><th></th><th>check</th><th>kind</th><th>baseline</th>
<th>candidate</th><th>change</th><th>verdicts</th><th>note</th></tr>{rows}</table>
<h2>Curves</h2>{figures}
</main></body></html>
"""


def compare_runs(baseline: Path, candidate: Path, out_dir: Path,
                 tolerance: float = 0.10, *, allow_different: bool = False) -> CompareResult:
    """Compare two run folders; write compare.html, compare.md and charts into ``out_dir``.

    Runs of different scenarios are refused (InputError, exit 2) unless ``allow_different``:
    their checks share names but not what they measure."""
    baseline, candidate, out_dir = Path(baseline), Path(candidate), Path(out_dir)
    base_summary, cand_summary = read_summary(baseline), read_summary(candidate)
    if base_summary.scenario != cand_summary.scenario and not allow_different:
        raise InputError(
            f"baseline {baseline} is a run of scenario {printable(base_summary.scenario, 80)!r}"
            f", candidate {candidate} of {printable(cand_summary.scenario, 80)!r}: runs of "
            "different scenarios are not comparable (--allow-different compares them anyway)")
    rows = _rows(base_summary, cand_summary, tolerance)
    regressed = any(r.regressed for r in rows)
    runs = load_run(baseline), load_run(candidate)  # damage is said before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    charts = _charts(*runs, out_dir / "charts")
    result = CompareResult(regressed, rows, [], tolerance)
    names = (baseline.name, candidate.name)
    html_path, md_path = out_dir / "compare.html", out_dir / "compare.md"
    html_path.write_text(_render_html(result, base_summary, cand_summary, names, charts),
                         encoding="utf-8")
    md_path.write_text(_render_md(result, base_summary, cand_summary, names), encoding="utf-8")
    return CompareResult(regressed, rows, [html_path, md_path, *charts], tolerance)
