"""The open-model benchmark script runs end to end with tiny parameters (real harness run,
real nginx, real Locust on 127.0.0.1) and prints its side-by-side table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]


def test_arrival_rate_benchmark_runs_with_tiny_parameters():
    """Two 4 s phases at 20 and 40 requests/s: the table has both rates, every arrival
    started, and the delivery check is reported."""
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "arrival_rate.py"), "--rates", "20,40",
         "--phase", "4"], cwd=REPO, capture_output=True, text=True, timeout=200)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.strip()[:2] in ("20", "40")]
    assert [r[:3] for r in rows] == [["20", "80", "80"], ["40", "160", "160"]], out.stdout
    assert "load.delivery:" in out.stdout
