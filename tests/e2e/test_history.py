"""`harness history` as a user runs it: thirty nightly run folders, one stability report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.testing import (
    CHROMIUM,
    SyntheticRun,
    failed_loads,
    run_chromium,
    synthetic_checks,
    write_summary_run,
)
from harness.verdicts import Verdict
from tests.conftest import run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

FAILING_FROM = 18  # tasks leak from this night on (a new target version)
INTERRUPTED, TOOL_FAILURE, ERROR_CHECK, FLAKE = 5, 12, 22, 9


def write_nightlies(root: Path) -> None:
    """Thirty nights: passing, a one-night flake, an interrupted run, a tool failure, a
    check in ERROR, failing from FAILING_FROM on, and one damaged folder."""
    for day in range(1, 31):
        leak = 12.0 if day >= FAILING_FROM or day == FLAKE else 0.5
        spec = SyntheticRun(name="nightly", leak_per_min=leak, p99_ms=40 + day)
        checks = synthetic_checks(spec)
        if day == ERROR_CHECK:
            for check in checks:
                if check.name.startswith("tasks."):
                    check.verdict = Verdict.ERROR
        status = ("interrupted" if day == INTERRUPTED else
                  "error" if day == TOOL_FAILURE else "completed")
        write_summary_run(root / f"nightly-202405{day:02d}", spec,
                          started_at=f"2024-05-{day:02d}T02:00:00Z", status=status,
                          checks=checks, target_version="v1.1" if day < FAILING_FROM else "v1.2",
                          ci_url=f"https://github.com/o/r/actions/runs/{day}",
                          reason="toxiproxy-server froze" if status == "error" else "")
    damaged = root / "nightly-20240531"
    damaged.mkdir()
    (damaged / "summary.json").write_text('{"scenario": "nightly", "checks": [{"na', "utf-8")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("history")
    write_nightlies(root / "archive")
    done = run_cli("history", str(root / "archive"), "--out", str(root / "stability"))
    assert done.returncode == 0, done.stderr
    assert "FAILING nightly [leaky] tasks.growth[gateway] since nightly-20240518 (v1.2)" in (
        done.stdout)
    return root / "stability"


def test_report_marks_the_first_failing_run_and_flakiness(report: Path):
    """The failing streak starts on night 18 (the flake on night 9 and the undecided
    nights do not move it); every check has a flakiness figure; exit 0."""
    data = json.loads((report / "stability.json").read_text(encoding="utf-8"))
    (scn,) = data["scenarios"]
    assert scn["runs"] == 30
    assert scn["outcomes"] == {"pass": 14, "fail": 13, "inconclusive": 2, "tool_failure": 1}
    checks = {c["name"]: c for c in scn["checks"]}
    growth = checks["tasks.growth[gateway]"]
    assert growth["failing_since_folder"].endswith("nightly-20240518")
    assert growth["failing_since"].startswith("2024-05-18T02:00")
    # conclusive nights: 30 - interrupted - tool failure - the ERROR night = 27;
    # pass..pass FAIL(9) pass..pass FAIL(18..) = 3 changes
    assert (growth["verdict_changes"], growth["conclusive_runs"]) == (3, 27)
    assert checks["p99_ms[warmup]"]["failing_since"] is None
    assert all(c["flakiness"] is not None for n, c in checks.items() if n != "recovery.phase")
    md = (report / "stability.md").read_text(encoding="utf-8")
    assert "2024-05-18 02:00 <code>nightly-20240518</code> (v1.2)" in md
    assert "3/27 = 0.11" in md


def test_report_keeps_undecided_runs_apart_and_lists_the_damaged_folder(report: Path):
    """Interrupted and tool-failure nights are listed apart from failures; the damaged
    folder is named with why."""
    html = (report / "stability.html").read_text(encoding="utf-8")
    undecided = html.split("Runs that did not decide")[1].split("every run")[0]
    assert "nightly-20240505" in undecided and "nightly-20240512" in undecided
    assert "toxiproxy-server froze" in undecided and "nightly-20240518" not in undecided
    damaged = html.split("Damaged and missing run folders")[1]
    assert "nightly-20240531" in damaged and "summary.json: not JSON" in damaged
    assert 'href="https://github.com/o/r/actions/runs/30"' in html
    assert "failing since" in html and "v1.2" in html


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_report_renders_in_chromium_without_failed_loads(report: Path, tmp_path: Path):
    """stability.html in headless Chromium: the chart is a data URI, no load fails."""
    done = run_chromium(tmp_path / "profile", "--dump-dom", (report / "stability.html").as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', done.stdout)
    assert len(srcs) == 1 and srcs[0].startswith("data:image/png;base64,")
    assert "STABILITY" in done.stdout
    assert not failed_loads(done.stderr), failed_loads(done.stderr)


def test_exit_2_on_no_run_folders_and_on_a_non_empty_out(report: Path, tmp_path: Path):
    """Nothing to read, or an --out that holds files: exit 2, nothing overwritten."""
    done = run_cli("history", str(tmp_path / "none-*"), "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "no run folders found" in done.stderr
    assert not (tmp_path / "o").exists()
    before = (report / "stability.html").read_bytes()
    done = run_cli("history", str(report.parent / "archive"), "--out", str(report))
    assert done.returncode == 2 and "not empty" in done.stderr
    assert (report / "stability.html").read_bytes() == before
