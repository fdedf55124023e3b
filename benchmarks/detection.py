"""The detection matrix, repeated: true/false positive rates and time to a decision.

    .venv/bin/python benchmarks/detection.py [--repeats 5] [--only stalled_stream,...]

Runs every scenario with leaky/fixed variants through the real CLI (real toxiproxy-server,
Locust and targets on 127.0.0.1), both ways, ``--repeats`` times, at the same scale as the
e2e matrix (<= 30 s of timeline). Prints:

- the true-positive rate (leaky runs that exit 1 with a failing check on the leaked metric)
  and the false-positive rate (fixed runs that do not exit 0);
- per pattern, the seconds of chaos until the verdict would have been decided: the run
  folder is re-analysed truncated at chaos start + 1 s, + 2 s, ... and the first cut at which
  a growth (or latency) check on the leaked metric already FAILs is the decision time.
  A leak that only the recovery check catches is decided at the end of recovery ("rec").

Targets (issue 4): 100% caught, 0 false alarms over 5 repetitions, each leak decided
within 30 s of chaos.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.analysis import analyze  # noqa: E402
from harness.runfolder import (  # noqa: E402
    LatencyTable,
    RunRecord,
    Series,
    load_run,
    phase_spans,
    scenario_of,
)
from harness.verdicts import Verdict  # noqa: E402
from tests.e2e.test_detection_matrix import LEAKS, matrix_scenarios, scale_for  # noqa: E402


@dataclasses.dataclass
class Result:
    scenario: str
    variant: str
    repeat: int
    exit_code: int
    caught_on: list[str]
    decided_s: float | None = None
    decided_by: str = ""


def truncate(run: RunRecord, cut: float) -> RunRecord:
    """The run folder as it was at ``cut`` seconds (what a live judge would have seen)."""
    series = {k: Series(s.target, s.metric, s.t[s.t <= cut], s.v[s.t <= cut])
              for k, s in run.series.items()}
    lat = run.latency
    mask = lat.t + 1.0 <= cut
    latency = LatencyTable(*(getattr(lat, f.name)[mask]
                             for f in dataclasses.fields(LatencyTable)))
    events = [e for e in run.events if float(e.get("t", 0)) <= cut]
    manifest = {**run.manifest, "status": "running"}
    return RunRecord(path=run.path, manifest=manifest, events=events, series=series,
                   latency=latency, phases=phase_spans(events))


def decision_time(run_dir: Path, leaked: set[str]) -> tuple[float | None, str]:
    """Seconds of chaos until a growth/latency check on a leaked metric fails."""
    run = load_run(run_dir)
    scenario = scenario_of(run_dir)
    chaos = next((p for p in run.phases if p.faults), None)
    if chaos is None or chaos.end is None:
        return None, "no chaos phase"
    cut = chaos.start + 1.0
    while cut <= chaos.end + 0.5:
        for check in analyze(truncate(run, cut), scenario):
            if (check.verdict == Verdict.FAIL and check.category == "target"
                    and check.kind in ("growth", "latency", "level")
                    and (check.metric in leaked or check.kind == "latency")):
                return round(cut - chaos.start, 1), check.name
        cut += 1.0
    summary = json.loads((run_dir / "summary.json").read_text())
    if any(c["verdict"] == "fail" and c["metric"] in leaked and c["kind"] == "recovery"
           for c in summary["checks"]):
        return None, "recovery"
    return None, "undecided"


def run_once(path: Path, variant: str, repeat: int, root: Path) -> Result:
    out = root / f"{path.stem}-{variant}-{repeat}"
    cmd = [sys.executable, "-m", "harness", "run", str(path), "--variant", variant,
           "--duration-scale", f"{scale_for(path):.3f}", "--out", str(out), "-q"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    summary = json.loads((out / "summary.json").read_text())
    caught = sorted({c["metric"] for c in summary["checks"]
                     if c["verdict"] in ("fail", "error") and c["category"] != "tool"})
    result = Result(path.stem, variant, repeat, proc.returncode, caught)
    if variant == "leaky":
        result.decided_s, result.decided_by = decision_time(out, LEAKS[path.stem])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--keep", type=Path, default=None, help="keep run folders here")
    parser.add_argument("--jobs", type=int, default=4,
                        help="runs side by side (they wait on phase clocks, not CPU)")
    args = parser.parse_args()
    only = {s for s in args.only.split(",") if s}
    paths = [p for p in matrix_scenarios() if not only or p.stem in only]
    if not (REPO / ".tools/bin/goleaks").exists():
        paths = [p for p in paths if p.stem != "go_leaks"]
        print("go_leaks skipped: Go sample not built")
    root = args.keep or Path(tempfile.mkdtemp(prefix="detection-"))
    root.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    started = time.monotonic()
    jobs = [(path, variant, repeat) for repeat in range(args.repeats) for path in paths
            for variant in ("leaky", "fixed")]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(run_once, p, v, rep, root): (p, v, rep) for p, v, rep in jobs}
        for future in concurrent.futures.as_completed(futures):
            r = future.result()
            results.append(r)
            mark = "ok " if (r.exit_code == 1) == (r.variant == "leaky") else "BAD"
            extra = (f" decided {r.decided_s}s ({r.decided_by})" if r.variant == "leaky" else "")
            print(f"[{time.monotonic() - started:6.0f}s] {mark} {r.scenario:<20} {r.variant:<5} "
                  f"rep {r.repeat}: exit {r.exit_code}, failing {r.caught_on}{extra}", flush=True)
    leaky = [r for r in results if r.variant == "leaky"]
    fixed = [r for r in results if r.variant == "fixed"]
    tp = sum(1 for r in leaky if r.exit_code == 1 and set(r.caught_on) & LEAKS[r.scenario])
    fp = sum(1 for r in fixed if r.exit_code != 0)
    print()
    print(f"runs: {len(results)} ({args.repeats} repeats x {len(paths)} scenarios x 2 variants), "
          f"{time.monotonic() - started:.0f}s with {args.jobs} side by side")
    print(f"true-positive rate:  {tp}/{len(leaky)} = {tp / max(1, len(leaky)):.1%}   "
          "(target 100%)")
    print(f"false-positive rate: {fp}/{len(fixed)} = {fp / max(1, len(fixed)):.1%}   (target 0%)")
    print()
    print(f"{'pattern':<20} {'caught':>7} {'false alarms':>13} {'decided after chaos s':>22}  "
          "(median / max; target <= 30)")
    worst = 0.0
    for path in paths:
        mine = [r for r in leaky if r.scenario == path.stem]
        caught = sum(1 for r in mine if r.exit_code == 1 and set(r.caught_on) & LEAKS[r.scenario])
        alarms = sum(1 for r in fixed if r.scenario == path.stem and r.exit_code != 0)
        times = [r.decided_s for r in mine if r.decided_s is not None]
        by_recovery = sum(1 for r in mine if r.decided_by == "recovery")
        if times:
            worst = max(worst, max(times))
            shown = f"{statistics.median(times):.0f} / {max(times):.0f}"
        else:
            shown = "-"
        if by_recovery:
            shown += f" (+{by_recovery} rec)"
        print(f"{path.stem:<20} {caught:>3}/{len(mine):<3} {alarms:>9}/{len(mine):<3} {shown:>22}")
    print(f"\nworst decision time: {worst:.0f}s of chaos; run folders in {root}")
    return 0 if tp == len(leaky) and fp == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
