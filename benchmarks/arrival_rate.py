"""Open model: achieved vs requested arrival rate, one ``harness run`` with a phase per rate.

    .venv/bin/python benchmarks/arrival_rate.py [--rates 100,500,1000,2000] [--phase 15]
                                                [--workers 0]

The target is Debian's nginx (``benchmarks/fast_target.py``), straight (``load.host`` its
URL), so the numbers are the load side's. ``OpenHttpUser`` runs each phase at one rate; for
each phase the script prints, side by side:

- requested: rate x the phase's length (the schedule);
- started / requested: arrivals the scheduler started (``arrivals.csv``, via the
  ``load.delivery`` check's evidence), and how many of them were late or dropped;
- completed / requested: requests recorded in ``latency.csv`` in the phase's windows;
- P99 of the phase (from the report's latency check), measured from the intended starts.

Target (issue 14): started / requested >= 0.98 at the rates this machine sustains.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.fast_target import nginx_argv  # noqa: E402
from harness.runfolder import read_latency  # noqa: E402
from harness.testing import free_port  # noqa: E402

SCENARIO = """\
name: arrival-rate
target: {{name: nginx, command: {command}, port: {port}, health: {{http: /}},
          metrics: {{fds: "proc:fds", rss: "proc:rss"}}}}
load: {{user: OpenHttpUser, arrival_rate: 0, workers: {workers}, host: "{host}",
        options: {{path: /}}}}
phases:
{phases}
thresholds:
  p99_ms: {{max: 100000}}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="100,500,1000,2000", help="requests/s, one phase each")
    parser.add_argument("--phase", type=int, default=15, help="seconds per rate")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the run folder")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="arrival-rate-"))
    port = free_port()
    (tmp / "nginx").mkdir()
    phases = "\n".join(f"  - {{name: r{i}, duration: {args.phase}s, arrival_rate: {r:g}}}"
                       for i, r in enumerate(rates))
    scenario = tmp / "arrival.yaml"
    scenario.write_text(SCENARIO.format(
        command=json.dumps(nginx_argv(tmp / "nginx", port)), port=port, workers=args.workers,
        host=f"http://127.0.0.1:{port}", phases=phases))
    out = tmp / "run"
    proc = subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--out",
                           str(out), "-q"], cwd=REPO, capture_output=True, text=True,
                          timeout=len(rates) * args.phase + 240)
    print(f"harness run exit {proc.returncode}")
    if not (out / "summary.json").exists():
        print(proc.stdout[-2000:], proc.stderr[-2000:])
        return 1
    summary = json.loads((out / "summary.json").read_text())
    checks = {c["name"]: c for c in summary["checks"]}
    delivery = checks.get("load.delivery", {})
    per_phase = delivery.get("evidence", {}).get("phases", {})
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    edges = {(e["kind"], e.get("phase")): float(e["t"]) for e in events
             if e.get("kind") in ("phase_start", "phase_end")}
    table = read_latency(out / "latency.csv")
    print(f"\nnginx, OpenHttpUser, {args.workers or 'standalone (0)'} worker(s), "
          f"{args.phase}s per rate; late = started > 100 ms after its intended time")
    print(f"  {'rate/s':>8} {'requested':>10} {'started':>8} {'ratio':>6} {'late':>6} "
          f"{'dropped':>7} {'completed':>9} {'ratio':>6} {'P99 ms':>8}")
    for i, rate in enumerate(rates):
        name = f"r{i}"
        counts = per_phase.get(name, {})
        asked = rate * args.phase
        start, end = edges.get(("phase_start", name)), edges.get(("phase_end", name))
        done = float("nan")
        if start is not None and end is not None:
            # completions in the phase's 1 s windows: those starting within half a second of
            # its span, so each of its seconds counts once (edges are not window-aligned)
            inside = (table.t >= start - 0.5) & (table.t < end - 0.5)
            done = float(np.nansum(table.requests[inside]))
        p99 = checks.get(f"p99_ms[{name}]", {}).get("observed")
        started = counts.get("started", 0)
        print(f"  {rate:8g} {asked:10.0f} {started:8d} {started / asked:6.3f} "
              f"{counts.get('late', 0):6d} {counts.get('dropped', 0):7d} {done:9.0f} "
              f"{done / asked:6.3f} {p99 if p99 is None else round(p99, 1)!s:>8}")
    print(f"load.delivery: {delivery.get('verdict')}: {delivery.get('detail')}")
    if args.keep:
        print(f"run folder: {out}")
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
