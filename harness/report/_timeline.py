"""Time axes, phases and fault windows shared by every chart.

Colours are the Okabe-Ito palette (safe for the common colour-vision deficiencies).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from matplotlib.axes import Axes
from matplotlib.transforms import blended_transform_factory

from harness.events import EventKind
from harness.runfolder import PhaseSpan, RunRecord

OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)
FAULT_COLOUR = "#D55E00"
THRESHOLD_COLOUR = "#B00020"
BASELINE_COLOUR = "#009E73"
SLOPE_COLOUR = "#000000"
PHASE_SHADES = ("#F2F2F2", "#FFFFFF")


@dataclass(frozen=True)
class TimeAxis:
    """Seconds since t0 shown in s, min or h depending on the run's length."""

    scale: float
    unit: str

    @classmethod
    def for_length(cls, seconds: float) -> TimeAxis:
        if seconds <= 600:
            return cls(1.0, "s")
        if seconds <= 6 * 3600:
            return cls(60.0, "min")
        return cls(3600.0, "h")

    @property
    def label(self) -> str:
        return f"time since start ({self.unit})"

    def __call__(self, seconds: float) -> float:
        return seconds / self.scale


@dataclass(frozen=True)
class FaultWindow:
    """A fault as it was active: from its ``fault_added`` event to its removal."""

    start: float
    end: float | None
    label: str


def colour(i: int) -> str:
    """The i-th palette colour (yellow skipped for lines: too faint on white)."""
    usable = [c for c in OKABE_ITO if c != "#F0E442"]
    return usable[i % len(usable)]


def fault_label(event: dict[str, Any]) -> str:
    """``timeout(timeout=0) on front/upstream`` from a fault event."""
    kind = str(event.get("type", event.get("toxic", "fault")))
    attrs = event.get("attributes") or {}
    text = ",".join(f"{k}={v}" for k, v in attrs.items()) if isinstance(attrs, dict) else ""
    proxy = str(event.get("proxy", "?"))
    # a pod fault's proxy is kube:<target>: pods have no stream
    where = (proxy if kind == "down" or proxy.startswith("kube:")
             else f"{proxy}/{event.get('stream', 'downstream')}")
    # a network fault's stream is its direction (in/out/both), its proxy netns:<target>
    return f"{kind}({text}) on {where}"


def fault_windows(run: RunRecord) -> list[FaultWindow]:
    """Every fault window: start at ``fault_added``, end at its removal or its phase's end."""
    removals = [
        e for e in run.events
        if e.get("kind") == EventKind.FAULT_REMOVED
    ]
    out: list[FaultWindow] = []
    for span in run.phases:
        for fault in span.faults:
            start = _num(fault.get("t"), span.start)
            end = span.end
            for rem in removals:
                t = _num(rem.get("t"), math.inf)
                same = rem.get("proxy") in (None, fault.get("proxy")) and rem.get("type") in (
                    None, fault.get("type"))
                if same and start <= t and (end is None or t <= end + 1e-6):
                    end = t
                    break
            out.append(FaultWindow(start, end, fault_label(fault)))
    return out


def _num(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def shade_phases(ax: Axes, phases: list[PhaseSpan], axis: TimeAxis, t_end: float,
                 labels: bool = True) -> None:
    """Alternate light bands per phase, the phase name at the top; open phases run to t_end."""
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for i, span in enumerate(phases):
        end = span.end if span.end is not None else max(t_end, span.start)
        ax.axvspan(axis(span.start), axis(end), color=PHASE_SHADES[i % 2], zorder=0, lw=0)
        ax.axvline(axis(span.start), color="#999999", lw=0.6, zorder=1)
        if labels:
            name = span.name + ("" if span.end is not None else " (cut short)")
            ax.text(axis(span.start), 0.985, " " + name, transform=trans, fontsize=8,
                    va="top", ha="left", color="#444444", clip_on=True, zorder=6)


def mark_faults(ax: Axes, windows: list[FaultWindow], axis: TimeAxis, t_end: float,
                labels: bool = True) -> None:
    """Hatched bands over every fault window, the toxic written at the bottom."""
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for i, win in enumerate(windows):
        end = win.end if win.end is not None else max(t_end, win.start)
        ax.axvspan(axis(win.start), axis(end), facecolor="none", edgecolor=FAULT_COLOUR,
                   hatch="///", alpha=0.35, lw=0, zorder=1)
        if labels:
            ax.text(axis(win.start), 0.02 + 0.07 * (i % 3), " " + win.label,
                    transform=trans, fontsize=7, color=FAULT_COLOUR, va="bottom",
                    ha="left", clip_on=True)
