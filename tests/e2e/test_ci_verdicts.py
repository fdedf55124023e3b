"""The CLI as CI sees it: unjudgeable scenarios refused, inconclusive apart from failed,
plain Markdown, compare of different scenarios refused, --help, a closed pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.report import write_reports
from harness.runfolder import load_run
from harness.testing import SyntheticRun, synthetic_summary, write_synthetic_run
from tests.conftest import REPO, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SHORT = ["--set", "phases[0].duration=3s", "--set", "phases[1].duration=3s",
         "--set", "phases[2].duration=2s"]  # smoke in 8 s: 3 s of steady, growth unjudgeable


def test_validate_refuses_a_scenario_too_short_to_judge():
    """`validate` exits 2 naming the threshold, the phase and the sample count."""
    result = run_cli("validate", "scenarios/smoke.yaml", *SHORT, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "thresholds.fds: phase 'steady' gives 3 samples after settle (need >= 6" \
        in result.stderr, result.stderr
    assert "--allow-unjudgeable" in result.stderr


def test_run_refuses_it_before_anything_starts(tmp_path: Path):
    """`run` refuses the same scenario with exit 2 and writes no run folder."""
    result = run_cli("run", "scenarios/smoke.yaml", *SHORT, "--reports-root",
                     str(tmp_path / "reports"), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


def test_allowed_unjudgeable_run_is_inconclusive(tmp_path: Path):
    """Allowed explicitly, the run exits 4, prints INCONCLUSIVE with the growth checks as
    such, and appends the same to $GITHUB_STEP_SUMMARY."""
    out = tmp_path / "run"
    step = tmp_path / "step-summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(step)}
    result = run_cli("run", "scenarios/smoke.yaml", *SHORT, "--allow-unjudgeable", "--out",
                     str(out), "-q", env=env, timeout=150)
    assert result.returncode == 4, result.stdout + result.stderr
    assert result.stdout.startswith("INCONCLUSIVE: smoke"), result.stdout
    assert "  INCONCLUSIVE fds.growth[api]: cannot judge growth" in result.stdout
    assert "FAIL" not in result.stdout
    summary = step.read_text(encoding="utf-8")
    assert summary.startswith("### ❔ INCONCLUSIVE: smoke"), summary
    assert "**INCONCLUSIVE** `fds.growth[api]`" in summary and str(out / "report.md") in summary


def _synthetic(path: Path, spec: SyntheticRun) -> Path:
    write_synthetic_run(path, spec)
    write_reports(load_run(path), synthetic_summary(spec), None)
    return path


def test_failing_report_md_is_plain_markdown(tmp_path: Path):
    """`harness report` of a failing run writes report.md without HTML entities or reprs."""
    run = _synthetic(tmp_path / "leaky", SyntheticRun(duration_s=30, leak_per_min=20))
    result = run_cli("report", str(run), timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    md = (run / "report.md").read_text(encoding="utf-8")
    for bad in ("&#x27;", "&gt;", "&quot;", "['"):
        assert bad not in md, bad


def test_compare_of_two_scenarios_exits_2(tmp_path: Path):
    """`compare` refuses runs of different scenarios naming both; --allow-different runs it
    and says what its percentages are relative to."""
    base = _synthetic(tmp_path / "a", SyntheticRun(name="alpha", duration_s=20))
    cand = _synthetic(tmp_path / "b", SyntheticRun(name="beta", duration_s=20))
    result = run_cli("compare", str(base), str(cand), timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "'alpha'" in result.stderr and "'beta'" in result.stderr
    assert not (cand / "compare.md").exists()
    allowed = run_cli("compare", str(base), str(cand), "--allow-different", timeout=120)
    assert allowed.returncode in (0, 1), allowed.stdout + allowed.stderr
    assert "relative to the baseline" in allowed.stdout
    assert "relative to the baseline" in (cand / "compare.md").read_text(encoding="utf-8")


def test_help_lists_commands_and_exit_codes():
    """`harness --help` names every command and each exit code with a line of its own."""
    result = run_cli("--help", timeout=60)
    assert result.returncode == 0
    for command in ("run", "validate", "list", "report", "compare", "setup"):
        assert f"    {command} " in result.stdout, command
    for code in "01234":
        assert f"\n  {code}  " in result.stdout, code
    assert "The ``harness`` command" not in result.stdout  # not a developer docstring


@pytest.mark.parametrize("command", ["run", "validate", "report", "compare", "list", "setup"])
def test_every_argument_has_help(command: str):
    """No argument of any command is listed without a help string."""
    result = run_cli(command, "--help", timeout=60)
    assert result.returncode == 0
    lines = [line for line in result.stdout.splitlines() if line.startswith("  ")]
    bare = [line for line in lines if line.strip().startswith(("-", "scenario", "RUN_DIR",
                                                               "BASELINE", "CANDIDATE"))
            and len(line.split("  ")) < 3 and not line.rstrip().endswith(("...", ","))]
    # an option whose help starts on the next line is fine: only a lone name is bare
    for line in bare:
        after = lines[lines.index(line) + 1] if lines.index(line) + 1 < len(lines) else ""
        assert after.startswith(" " * 10), f"{command}: no help for {line.strip()!r}"


def test_closed_pipe_ends_quietly():
    """`harness list | head -1` prints one line and no traceback."""
    result = subprocess.run(f"{sys.executable} -m harness list | head -1", shell=True,
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.stdout == "samples:\n"
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    rc = subprocess.run(["bash", "-o", "pipefail", "-c",
                         f"{sys.executable} -m harness list | head -c 1 >/dev/null"],
                        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert rc.returncode == 0, rc.stderr
