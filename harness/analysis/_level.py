"""Level checks: a resource must stay <= max (or >= min) over the named phases."""

from __future__ import annotations

from typing import Literal

import numpy as np

from harness.analysis._common import TargetRef, num, unit_of
from harness.analysis._phases import Span, covered
from harness.runfolder import RunRecord
from harness.scenario import Scenario, Threshold
from harness.verdicts import Check, CheckHead, Verdict


def level_check(
    run: RunRecord, scenario: Scenario, spans: dict[str, Span], key: str,
    threshold: Threshold, ref: TargetRef, bound: Literal["max", "min"], limit: float,
) -> Check:
    """``<key>.max[<target>]`` / ``<key>.min[<target>]`` over the phases (default all)."""
    names = threshold.phases or [p.name for p in scenario.phases]
    ran, missing = covered(names, spans)
    base = CheckHead(name=f"{key}.{bound}[{ref.name}]", metric=key, target=ref.name,
                     kind="level", threshold=limit, unit=unit_of(key), category=ref.category,
                     phases=list(names))
    series = run.series.get((ref.name, key))
    if not ran:
        return base.judged(Verdict.ERROR, detail=f"none of the phases {', '.join(names)} ran.")
    if series is None or len(series.t) == 0:
        return base.judged(Verdict.ERROR, detail=f"no samples of {key} for {ref.name}.")
    mask = np.zeros(len(series.t), dtype=bool)
    for span in ran:
        mask |= (series.t >= span.start) & (series.t < span.end)
    mask &= (series.t >= threshold.ignore_first) & np.isfinite(series.v)
    if not mask.any():
        return base.judged(Verdict.ERROR,
                     detail=f"no samples of {key} for {ref.name} in {', '.join(names)}.")
    t, v = series.t[mask], series.v[mask]
    i = int(np.argmax(v)) if bound == "max" else int(np.argmin(v))
    observed = float(v[i])
    ok = observed <= limit if bound == "max" else observed >= limit
    word = "highest" if bound == "max" else "lowest"
    relation = ("<=" if ok else ">") if bound == "max" else (">=" if ok else "<")
    note = f" (phases {', '.join(missing)} never ran)" if missing else ""
    return base.judged(Verdict.PASS if ok else Verdict.FAIL, observed=observed,
        window=(float(t[0]), float(t[-1])),
        detail=(f"{word} {key} of {ref.name} over {', '.join(names)}{note} was "
                f"{num(observed)} at t={num(float(t[i]))}s ({relation} {bound} {num(limit)})."),
        evidence={"at": float(t[i]), "n_samples": int(mask.sum()),
                  "median": float(np.median(v))},
    )
