"""Charts: one PNG per metric, latency, throughput, the tools (control series), an overview.

matplotlib through ``Figure`` objects only (no pyplot, no global state), Agg via savefig,
constrained layout so no label is clipped. Long series are drawn from a min/max envelope.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from harness.errors import RunDirError
from harness.report._downsample import envelope
from harness.report._evidence_render import baseline_band, slope_line, threshold_level
from harness.report._timeline import (
    BASELINE_COLOUR,
    FAULT_COLOUR,
    SLOPE_COLOUR,
    THRESHOLD_COLOUR,
    FaultWindow,
    TimeAxis,
    colour,
    fault_windows,
    mark_faults,
    shade_phases,
)
from harness.runfolder import LatencyTable, RunRecord
from harness.scenario import is_reserved
from harness.verdicts import Check

DPI = 100
WIDTH = 12.0


@dataclass(frozen=True)
class Unit:
    """How a metric is shown: a divisor and a label."""

    scale: float
    label: str


def unit_for(metric: str) -> Unit:
    """Bytes as MiB; everything else as a count."""
    low = metric.lower()
    if "rss" in low or "bytes" in low or "memory" in low:
        return Unit(2.0**20, "MiB")
    if low.endswith("_ms"):
        return Unit(1.0, "ms")
    return Unit(1.0, "count")


@dataclass
class ChartContext:
    """Everything every chart needs, computed once."""

    run: RunRecord
    checks: list[Check]
    axis: TimeAxis
    t_end: float
    faults: list[FaultWindow]

    @classmethod
    def build(cls, run: RunRecord, checks: list[Check]) -> ChartContext:
        t_end = max(run.t_end, 1.0)
        return cls(run, checks, TimeAxis.for_length(t_end), t_end, fault_windows(run))

    def backdrop(self, ax: Axes, labels: bool = True) -> None:
        shade_phases(ax, self.run.phases, self.axis, self.t_end, labels)
        mark_faults(ax, self.faults, self.axis, self.t_end, labels)
        ax.set_xlim(0, self.axis(self.t_end))
        ax.grid(True, color="#DDDDDD", lw=0.5)

    def axis_array(self, t: np.ndarray) -> np.ndarray:
        return t / self.axis.scale

    def phase_range(self, names: list[str]) -> list[tuple[float, float]]:
        out = []
        for span in self.run.phases:
            if span.name in names:
                out.append((span.start, span.end if span.end is not None else self.t_end))
        return out


def target_names(run: RunRecord, control: bool) -> list[str]:
    """Targets seen in samples, control ones (toxiproxy, locust) or the others."""
    names = sorted({t for t, _ in run.series})
    return [n for n in names if is_reserved(n) == control]


def metrics_of(run: RunRecord, targets: list[str]) -> list[str]:
    return sorted({m for t, m in run.series if t in targets})


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, "no data recorded", transform=ax.transAxes, ha="center",
            va="center", color="#777777")


def _hline(ctx: ChartContext, ax: Axes, check: Check, value: float, label: str) -> None:
    spans = ctx.phase_range(check.phases)
    if spans:
        for i, (a, b) in enumerate(spans):
            ax.hlines(value, ctx.axis(a), ctx.axis(b), colors=THRESHOLD_COLOUR, lw=1.2,
                      linestyles="--", label=label if i == 0 else "_nolegend_", zorder=4)
    else:
        ax.axhline(value, color=THRESHOLD_COLOUR, lw=1.2, ls="--", label=label, zorder=4)


def draw_metric(ctx: ChartContext, ax: Axes, metric: str, targets: list[str],
                details: bool = True) -> None:
    """Every target's series of ``metric`` plus thresholds, baselines and fitted slopes."""
    unit = unit_for(metric)
    ctx.backdrop(ax, labels=details)
    drawn = False
    for i, target in enumerate(targets):
        series = ctx.run.series.get((target, metric))
        if series is None or not len(series.t):
            continue
        t, v = envelope(series.t, series.v)
        ax.plot(ctx.axis_array(t), v / unit.scale, color=colour(i), lw=1.1, label=target,
                zorder=3)
        drawn = True
        if not details:
            continue
        for check in ctx.checks:
            if check.metric != metric or check.target not in (target, None):
                continue
            suffix = f" ({target})" if len(targets) > 1 else ""
            band = baseline_band(check)
            if band is not None:
                ax.axhspan(band[0] / unit.scale, band[1] / unit.scale, color=BASELINE_COLOUR,
                           alpha=0.15, lw=0, zorder=2, label=f"warmup baseline{suffix}")
            line = slope_line(check, series) if check.kind == "growth" else None
            if line is not None:
                ax.plot([ctx.axis(line.t0), ctx.axis(line.t1)],
                        [line.v0 / unit.scale, line.v1 / unit.scale], color=SLOPE_COLOUR,
                        lw=1.6, ls=":", zorder=5, label=line.label + suffix)
            level = threshold_level(check)
            if level is not None:
                _hline(ctx, ax, check, level / unit.scale, f"limit {check.name}")
    if not drawn:
        _no_data(ax)
    ax.set_ylabel(f"{metric} ({unit.label})")
    if drawn:
        _legend(ax)


def _legend(ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, Artist] = {}
    for h, label in zip(handles, labels, strict=True):
        seen.setdefault(label, h)
    if seen:
        ax.legend(list(seen.values()), list(seen), fontsize=8, loc="upper left",
                  bbox_to_anchor=(1.005, 1.0), borderaxespad=0.0, frameon=False)


def _latency_backdrop(ctx: ChartContext, ax: Axes, details: bool) -> LatencyTable | None:
    """Phases and faults behind a latency chart; the windows, or None (and a note) if none."""
    ctx.backdrop(ax, labels=details)
    if not len(ctx.run.latency.t):
        _no_data(ax)
        return None
    return ctx.run.latency


def draw_latency(ctx: ChartContext, ax: Axes, details: bool = True) -> None:
    """P99 per window (P50 and P95 faint), with the latency limits over their phases."""
    lat = _latency_backdrop(ctx, ax, details)
    if lat is not None:
        for name, values, style in (
            ("P50", lat.p50_ms, {"color": colour(4), "lw": 0.8, "alpha": 0.5}),
            ("P95", lat.p95_ms, {"color": colour(1), "lw": 0.8, "alpha": 0.5}),
            ("P99", lat.p99_ms, {"color": colour(0), "lw": 1.2, "alpha": 1.0}),
        ):
            t, v = envelope(lat.t, values)
            ax.plot(ctx.axis_array(t), v, label=name, zorder=3, **style)  # type: ignore[arg-type]
        if details:
            for check in ctx.checks:
                level = threshold_level(check)
                # per-name limits (``p99_ms[phase][GET /x]``) belong on latency-names.png
                if check.kind == "latency" and level is not None and "][" not in check.name:
                    _hline(ctx, ax, check, level, f"limit {check.name}")
    ax.set_ylabel("latency per 1 s window (ms)")
    if lat is not None:
        _legend(ax)


def draw_throughput(ctx: ChartContext, ax: Axes, details: bool = True) -> None:
    """Requests per second and failed requests per second."""
    lat = _latency_backdrop(ctx, ax, details)
    if lat is not None:
        step = float(np.median(np.diff(lat.t))) if len(lat.t) > 1 else 1.0
        step = step if step > 0 else 1.0
        t, v = envelope(lat.t, lat.requests / step)
        ax.plot(ctx.axis_array(t), v, color=colour(0), lw=1.0, label="requests/s", zorder=3)
        t, v = envelope(lat.t, lat.failures / step)
        ax.plot(ctx.axis_array(t), v, color=FAULT_COLOUR, lw=1.0, label="errors/s", zorder=3)
        _legend(ax)
    ax.set_ylabel("requests/s")


NAMES_CHARTED = 8  # the busiest names get a line each in latency-names.png


def draw_latency_names(ctx: ChartContext, ax: Axes) -> None:
    """P99 per window of each of the busiest request names (latency-names.csv)."""
    ctx.backdrop(ax)
    tables = ctx.run.name_latency()
    busiest = sorted(tables, key=lambda k: -float(np.nansum(tables[k].requests)))
    for i, key in enumerate(busiest[:NAMES_CHARTED]):
        table = tables[key]
        t, v = envelope(table.t, table.p99_ms)
        ax.plot(ctx.axis_array(t), v, color=colour(i), lw=1.0, zorder=3,
                label=f"{key[0]} {key[1]}".strip()[:60])
    for check in ctx.checks:
        level = threshold_level(check)
        if check.kind == "latency" and level is not None and "][" in check.name:
            _hline(ctx, ax, check, level, f"limit {check.metric} per name")
            break
    ax.set_ylabel("P99 per 1 s window (ms)")
    _legend(ax)


def _figure(rows: int = 1, height: float = 4.2) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(WIDTH, height * rows if rows > 1 else height), dpi=DPI,
                 layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)
    return fig, [row[0] for row in axes]


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, format="png", dpi=DPI)
    fig.clear()
    return path


def render_charts(run: RunRecord, checks: list[Check], out_dir: Path) -> dict[str, Path]:
    """Write every chart into ``out_dir``; returns ``{chart name: path}`` in report order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = ChartContext.build(run, checks)
    targets = target_names(run, control=False)
    tools = target_names(run, control=True)
    metrics = metrics_of(run, targets)
    charts: dict[str, Path] = {}

    def single(name: str, title: str, draw: Callable[[Axes], None]) -> None:
        fig, (ax,) = _figure()
        draw(ax)
        ax.set_xlabel(ctx.axis.label)
        fig.suptitle(title, fontsize=11)
        charts[name] = _save(fig, out_dir / f"{name}.png")

    # Overview first: every panel small, shared time axis.
    panels: list[tuple[str, Callable[[Axes], None]]] = [
        ("latency", lambda ax: draw_latency(ctx, ax, details=False)),
        ("throughput", lambda ax: draw_throughput(ctx, ax, details=False)),
    ]
    for metric in metrics:
        panels.append((metric, partial(_metric_panel, ctx, metric, targets, False)))
    fig, axes = _figure(len(panels), height=1.9)
    for ax, (_, draw) in zip(axes, panels, strict=True):
        draw(ax)
        ax.label_outer()
    for span in run.phases:
        axes[0].annotate(span.name, (ctx.axis(span.start), 1.0), xycoords=("data", "axes fraction"),
                         xytext=(2, 2), textcoords="offset points", fontsize=8, color="#444444",
                         annotation_clip=True)
    axes[-1].set_xlabel(ctx.axis.label)
    fig.suptitle(f"overview: {len(targets)} target(s), phases shaded, faults hatched",
                 fontsize=11)
    charts["overview"] = _save(fig, out_dir / "overview.png")

    single("latency", "latency: P99 per second (P50, P95 faint)",
           lambda ax: draw_latency(ctx, ax))
    single("throughput", "throughput and errors", lambda ax: draw_throughput(ctx, ax))
    try:
        named = len(run.name_latency())
    except RunDirError:
        named = 0  # damaged: the per-name table says why
    if named:
        shown = min(named, NAMES_CHARTED)
        single("latency-names", f"latency per request name: P99 per second ({shown} busiest)",
               lambda ax: draw_latency_names(ctx, ax))
    for metric in metrics:
        single(f"metric-{_slug(metric)}", f"{metric} per target",
               partial(_metric_panel, ctx, metric, targets, True))
    if tools:
        tool_metrics = metrics_of(run, tools)
        fig, axes = _figure(len(tool_metrics), height=2.6)
        for ax, metric in zip(axes, tool_metrics, strict=True):
            draw_metric(ctx, ax, metric, tools)
            ax.label_outer()
        axes[-1].set_xlabel(ctx.axis.label)
        fig.suptitle("tools (control series): " + ", ".join(tools), fontsize=11)
        charts["tools"] = _save(fig, out_dir / "tools.png")
    return charts


def _metric_panel(ctx: ChartContext, metric: str, targets: list[str], details: bool,
                  ax: Axes) -> None:
    draw_metric(ctx, ax, metric, targets, details)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80] or "metric"
