"""Benchmark: `harness history` over 1,000 run folders (a nightly archive).

Writes N run folders holding run.json + summary.json only (what history reads), across three
scenarios, one a day, with evidence of a realistic size in every failing check (~20 KiB of
task listings) and a few damaged folders among them; then times `python -m harness history`
as a child process and prints its wall time and peak RSS. Target: < 30 s, < 1 GiB.

    .venv/bin/python benchmarks/history.py [--runs 1000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.testing import SyntheticRun, synthetic_checks, write_summary_run  # noqa: E402

TARGET_S = 30.0
TARGET_MIB = 1024.0
SCENARIOS = ("stalled-stream", "slow-reader", "retry-storm")


def write_archive(root: Path, runs: int) -> None:
    start = datetime(2022, 1, 1, 2, tzinfo=UTC)
    grew = [{"name": f"handler-{i}", "where": f"gateway.py:{i} in read", "before": 3,
             "after": 40 + i, "delta": 37 + i} for i in range(120)]
    for n in range(runs):
        name = SCENARIOS[n % len(SCENARIOS)]
        day = start + timedelta(hours=8 * n)
        folder = root / f"{name}-{day:%Y%m%dT%H%M%SZ}"
        if n % 97 == 0:  # damage: a summary killed mid-write
            folder.mkdir(parents=True)
            (folder / "summary.json").write_text('{"scenario": "x", "checks": [', "utf-8")
            continue
        spec = SyntheticRun(name=name, leak_per_min=12.0 if (n // 50) % 3 == 0 else 1.0,
                            targets=("gateway", "upstream"), p99_ms=40 + n % 30)
        checks = synthetic_checks(spec)
        for check in checks:
            if check.kind == "growth" and check.failed:
                check.evidence["grew"] = grew
        status = "error" if n % 41 == 0 else "interrupted" if n % 53 == 0 else "completed"
        write_summary_run(folder, spec, started_at=day.strftime("%Y-%m-%dT%H:%M:%SZ"),
                          status=status, checks=checks, target_version=f"v1.{n // 30}",
                          ci_url=f"https://ci.example/jobs/{n}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="run folders to write")
    parser.add_argument("--keep", type=Path, help="write the archive here and keep it")
    return parser.parse_args()


def main() -> int:
    args = _arguments()
    root: Path = args.keep or Path(tempfile.mkdtemp(prefix="history-bench-"))
    archive, out = root / "archive", root / "stability"
    for path in (archive, out):
        if path.exists():
            shutil.rmtree(path)
    started = time.perf_counter()
    write_archive(archive, args.runs)
    size = sum(p.stat().st_size for p in archive.rglob("*.json"))
    print(f"generated {args.runs} run folders in {time.perf_counter() - started:.1f} s "
          f"({size / 2**20:.1f} MiB of JSON)")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "harness", "history", str(archive),
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                          check=False)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    print(done.stdout.strip()[-2000:])
    if done.stderr.strip():
        print(done.stderr.strip()[-3000:], file=sys.stderr)
    html = out / "stability.html"
    html_mib = html.stat().st_size / 2**20 if html.exists() else 0.0
    ok = seconds < TARGET_S and peak_mib < TARGET_MIB and done.returncode == 0
    print(f"harness history over {args.runs} run folders: {seconds:.2f} s, peak RSS "
          f"{peak_mib:.0f} MiB, stability.html {html_mib:.1f} MiB (exit {done.returncode}; "
          f"target < {TARGET_S:.0f} s and < {TARGET_MIB:.0f} MiB: {'met' if ok else 'MISSED'})")
    if args.keep is None:
        shutil.rmtree(root)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
