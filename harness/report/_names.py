"""Per request name, for the report: one row per name over the whole run (percentiles from
its merged HDR windows in ``latency-names.hdr``, counts from ``latency-names.csv``), and the
per-name checks' verdicts beside them. Empty for a run without request names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.analysis import MergedHistogram, name_label, new_histogram
from harness.errors import RunDirError
from harness.runfolder import RunRecord
from harness.verdicts import Check, Verdict

MAX_ROWS = 60  # the cap is 50 names plus (other); a longer list is an old or foreign folder
_ORDER = (Verdict.FAIL, Verdict.ERROR, Verdict.INCONCLUSIVE, Verdict.PASS, Verdict.SKIP)


@dataclass(frozen=True)
class NameRow:
    """One request name over the whole run."""

    label: str  # "GET /api/x"
    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    verdict: Verdict | None  # the worst of its per-name checks, None when none judged it

    @property
    def error_ratio(self) -> float | None:
        return self.failures / self.requests if self.requests else None


def _worst(checks: list[Check], label: str) -> Verdict | None:
    mine = [c.verdict for c in checks if c.name.endswith(f"][{label}]")]
    return min(mine, key=_ORDER.index) if mine else None


def name_rows_or_problem(run: RunRecord, checks: list[Check]) -> tuple[list[NameRow], str]:
    """(rows, "") or ([], why): a damaged latency-names.csv is said in the report, and
    the per-name checks already carry it as ERROR; the rest of the report stands."""
    try:
        return name_rows(run, checks), ""
    except RunDirError as exc:
        return [], f"per-name table not shown: {exc}"


def name_rows(run: RunRecord, checks: list[Check]) -> list[NameRow]:
    """Rows by requests, most first; at most ``MAX_ROWS``."""
    tables = run.name_latency()
    if not tables:
        return []
    hists: dict[tuple[str, str], MergedHistogram] = {}
    for _, key, encoded in run.name_histograms(-np.inf, np.inf):
        hist = hists.get(key)
        if hist is None:
            hist = hists[key] = new_histogram()
        try:
            hist.decode_and_add(encoded)
        except Exception:  # a torn or foreign line: the row shows what could be read
            continue
    rows = []
    for key, table in tables.items():
        hist = hists.get(key)
        timed = hist is not None and hist.get_total_count() > 0

        def at(p: float, h: MergedHistogram | None = hist, ok: bool = timed) -> float | None:
            return h.get_value_at_percentile(p) / 1000.0 if ok and h is not None else None

        label = name_label(key)
        rows.append(NameRow(
            label, int(np.nansum(table.requests)), int(np.nansum(table.failures)),
            at(50), at(95), at(99),
            hist.get_max_value() / 1000.0 if timed and hist is not None else None,
            _worst(checks, label)))
    rows.sort(key=lambda r: (-r.requests, r.label))
    return rows[:MAX_ROWS]
