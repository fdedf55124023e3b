"""Benchmark: `harness report` on a synthetic 24 h run at 1 s sampling.

Writes a run folder through the run-folder writers (86,400 samples for each of 8 series,
86,400 latency windows in latency.csv and latency.hdr), then times `python -m harness report
RUN_DIR` as a child process and prints its wall time and peak RSS. Target: < 20 s, < 1 GiB.

    .venv/bin/python benchmarks/report_24h.py [--hours 24] [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.testing import SyntheticRun, write_synthetic_run  # noqa: E402

TARGET_S = 20.0
# The rendering alone (summary.json already there): load_run + write_reports, no analysis.
RENDER_ONLY = """
import resource, sys, time
from pathlib import Path
from harness.report import write_reports
from harness.runfolder import load_run
from harness.verdicts import Summary
run_dir = Path(sys.argv[1])
t = time.perf_counter(); run = load_run(run_dir); loaded = time.perf_counter() - t
summary = Summary.model_validate_json((run_dir / "summary.json").read_bytes())
t = time.perf_counter(); write_reports(run, summary, None); wrote = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"load_run {loaded:.2f} s, write_reports {wrote:.2f} s, peak RSS {peak:.0f} MiB")
"""
TARGET_MIB = 1024.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--keep", type=Path, help="write the run folder here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="report-24h-"))
    run_dir = root / "bench-24h"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    spec = SyntheticRun(name="bench-24h", duration_s=args.hours * 3600, leak_per_min=0.01,
                        description="synthetic 24 h soak for the report benchmark")
    started = time.perf_counter()
    write_synthetic_run(run_dir, spec)
    sizes = {p.name: p.stat().st_size for p in run_dir.iterdir() if p.is_file()}
    print(f"generated {run_dir} in {time.perf_counter() - started:.1f} s: "
          + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in sorted(sizes.items())))

    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "harness", "report", str(run_dir)],
                          cwd=REPO, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    print(done.stdout.strip())
    if done.stderr.strip():
        print(done.stderr.strip()[-3000:], file=sys.stderr)
    if (run_dir / "summary.json").exists():
        started = time.perf_counter()
        render = subprocess.run([sys.executable, "-c", RENDER_ONLY, str(run_dir)], cwd=REPO,
                                capture_output=True, text=True, check=True)
        render_s = time.perf_counter() - started
        print(f"render only (no analysis): {render_s:.2f} s wall ({render.stdout.strip()})")
    ok = seconds < TARGET_S and peak_mib < TARGET_MIB
    print(f"harness report: {seconds:.2f} s, peak RSS {peak_mib:.0f} MiB "
          f"(exit {done.returncode}; target < {TARGET_S:.0f} s and < {TARGET_MIB:.0f} MiB: "
          f"{'met' if ok else 'MISSED'})")
    if args.keep is None:
        shutil.rmtree(root)
    return 0 if ok and done.returncode in (0, 1) else 1


if __name__ == "__main__":
    sys.exit(main())
