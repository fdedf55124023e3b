"""Live progress on the terminal: phase, elapsed/remaining, requests/s, P99, each target's
tasks and FDs. A rich live panel on a TTY; on anything else (CI logs) one plain line per
phase change and a status line every minute."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from harness.scenario import format_duration
from harness.text import printable

SHOWN_METRICS = ("tasks", "goroutines", "fds", "rss")


@dataclass
class Status:
    """What the progress display shows."""

    phase: str = "starting"
    elapsed: float = 0.0
    total: float = 0.0
    rps: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    faults: list[str] = field(default_factory=list)
    targets: dict[str, dict[str, float]] = field(default_factory=dict)


class LatencyTail:
    """Reads the newest complete line of latency.csv without re-reading the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self.last: tuple[float, float | None] = (0.0, None)  # requests, p99_ms
        self.failures = 0

    def poll(self) -> tuple[float, float | None]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except OSError:
            return self.last
        end = chunk.rfind(b"\n")
        if end < 0:
            return self.last
        self._offset += end + 1
        for line in chunk[:end].decode("utf-8", "replace").splitlines():
            cells = line.split(",")
            if len(cells) != 7 or cells[0] == "t":
                continue
            try:
                requests = float(cells[1])
                self.failures += int(float(cells[2] or 0))
                p99 = float(cells[5]) if cells[5] else None
            except ValueError:
                continue
            self.last = (requests, p99)
        return self.last


def _fmt_value(metric: str, value: float) -> str:
    if metric == "rss":
        return f"{value / 2**20:.0f}MiB"
    return f"{value:.0f}"


class Progress:
    """Context manager around a rich Live panel (TTY) or plain lines (not a TTY)."""

    def __init__(self, scenario_name: str, stream: TextIO | None = None,
                 live: bool | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.name = scenario_name
        self.quiet = quiet
        self.live = (self.stream.isatty() if live is None else live) and not quiet
        self.console = Console(file=self.stream, force_terminal=self.live or None)
        self._live: Live | None = None
        self._last_line = 0.0
        self.status = Status()

    def __enter__(self) -> Progress:
        if self.live:
            self._live = Live(self._render(), console=self.console, refresh_per_second=2,
                              transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(None, None, None)
            self._live = None

    def log(self, message: str) -> None:
        """A line that stays (phase changes, faults, warnings); shown in both modes."""
        if self.quiet:
            return
        message = printable(message)
        if self._live is not None:
            self._live.console.print(message, markup=False, highlight=False)
        else:
            print(message, file=self.stream, flush=True)

    def update(self, status: Status) -> None:
        self.status = status
        if self._live is not None:
            self._live.update(self._render())
        elif not self.quiet and time.monotonic() - self._last_line >= 60:
            self._last_line = time.monotonic()
            print(self._line(), file=self.stream, flush=True)

    def _line(self) -> str:
        s = self.status
        parts = [f"[{format_duration(s.elapsed)}/{format_duration(s.total)}] {s.phase}"]
        if s.rps is not None:
            parts.append(f"{s.rps:.0f} req/s")
        if s.p99_ms is not None:
            parts.append(f"p99 {s.p99_ms:.0f}ms")
        for target, values in s.targets.items():
            shown = " ".join(f"{m}={_fmt_value(m, values[m])}" for m in SHOWN_METRICS
                             if m in values)
            parts.append(f"{target}: {shown}")
        return printable(" | ".join(parts), newlines=False)

    def _render(self) -> Table:
        s = self.status
        table = Table(title=f"soak: {self.name}", title_justify="left", expand=False)
        table.add_column("phase")
        table.add_column("elapsed / total")
        table.add_column("req/s", justify="right")
        table.add_column("p99", justify="right")
        table.add_column("errors", justify="right")
        table.add_column("faults")
        table.add_row(
            s.phase, f"{format_duration(s.elapsed)} / {format_duration(s.total)}",
            "-" if s.rps is None else f"{s.rps:.0f}",
            "-" if s.p99_ms is None else f"{s.p99_ms:.0f} ms",
            str(s.errors), ", ".join(s.faults) or "-",
        )
        for target, values in s.targets.items():
            shown = "  ".join(f"{m} {_fmt_value(m, values[m])}" for m in SHOWN_METRICS
                              if m in values)
            table.add_row(f"  {target}", shown, "", "", "", "")
        return table
