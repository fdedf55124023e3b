"""The pytest plugin's result and assertions on synthetic summaries (pure logic, no runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pytest_plugin import (
    SampledSeries,
    SoakFailed,
    SoakInconclusive,
    SoakResult,
    SoakToolError,
    assert_no_growth,
    assert_no_leak,
)
from harness.scenario import load_scenario
from harness.testing import SyntheticRun, synthetic_summary
from harness.verdicts import CheckHead, Verdict
from tests.conftest import REPO

FDS = CheckHead(name="fds.growth[gateway]", metric="fds", target="gateway", kind="growth",
                threshold=30.0, unit="fds/min")
TASKS = CheckHead(name="tasks.growth[gateway]", metric="tasks", target="gateway", kind="growth",
                  threshold=5.0, unit="tasks/min")


def _result(*checks, status="completed", policy="fail") -> SoakResult:
    summary = synthetic_summary(SyntheticRun(), list(checks)).model_copy(update={"status": status})
    return SoakResult(load_scenario(REPO / "scenarios/smoke.yaml"), summary,
                      Path("/runs/x"), policy)


def test_failed_check_message_is_its_detail_line():
    """assert_passed raises SoakFailed whose message is the failed check's detail and the folder."""
    result = _result(FDS.judged(Verdict.FAIL, detail="fds of gateway changed 90 fds/min."),
                     TASKS.judged(Verdict.PASS, detail="flat"))
    with pytest.raises(SoakFailed) as info:
        result.assert_passed()
    assert str(info.value).splitlines() == [
        "fds.growth[gateway]: FAIL: fds of gateway changed 90 fds/min.", "run folder: /runs/x"]
    assert result.label == "FAIL" and result.exit_code == 1


def test_undecided_is_inconclusive_not_a_failure_nor_a_pass():
    """A check that could not be judged raises SoakInconclusive (not an AssertionError)."""
    result = _result(FDS.judged(Verdict.ERROR, detail="cannot judge growth: only 2 samples"))
    with pytest.raises(SoakInconclusive) as info:
        result.assert_passed()
    assert not isinstance(info.value, AssertionError)
    assert str(info.value).startswith("INCONCLUSIVE")
    assert "cannot judge growth: only 2 samples" in str(info.value)
    assert not result.passed and result.label == "INCONCLUSIVE"


def test_inconclusive_skips_under_the_skip_policy():
    """--soak-inconclusive skip turns an inconclusive result into a skip with the reason."""
    result = _result(FDS.judged(Verdict.PASS), status="interrupted", policy="skip")
    with pytest.raises(pytest.skip.Exception, match=r"INCONCLUSIVE.*interrupted"):
        result.assert_passed()


def test_tool_failure_is_an_error():
    """A run that ended in a tool failure (exit 3) raises SoakToolError, whatever its checks."""
    with pytest.raises(SoakToolError, match="ERROR"):
        _result(FDS.judged(Verdict.PASS), status="error").assert_passed()


def test_assert_no_leak_looks_at_one_metric():
    """assert_no_leak fails only on its metric; an unchecked metric is never a pass."""
    result = _result(FDS.judged(Verdict.PASS, detail="flat"),
                     TASKS.judged(Verdict.FAIL, detail="tasks grew"))
    assert_no_leak(result, "fds")
    assert_no_leak(result, "fds", "gateway")
    with pytest.raises(SoakFailed, match=r"tasks.growth\[gateway\]: FAIL: tasks grew"):
        assert_no_leak(result, "tasks")
    with pytest.raises(SoakFailed, match="no check of rss"):
        assert_no_leak(result, "rss")
    with pytest.raises(SoakInconclusive):
        assert_no_leak(_result(FDS.judged(Verdict.ERROR, detail="no samples")), "fds")


def test_check_lookup_names_the_known_checks():
    """result.check(name) finds a check; an unknown name lists the ones there are."""
    result = _result(FDS.judged(Verdict.PASS))
    assert result.check("fds.growth[gateway]").verdict is Verdict.PASS
    with pytest.raises(KeyError, match=r"fds.growth\[gateway\]"):
        result.check("nope")


def test_assert_no_growth_judges_with_the_trend_test():
    """A steady climb fails with the slope in the message; a flat series passes; too few
    samples is inconclusive."""
    t = [i * 0.5 for i in range(40)]
    climbing = SampledSeries("fds", t, [100.0 + i for i in range(40)])  # 120/min
    flat = SampledSeries("fds", t, [100.0 + (i % 3) for i in range(40)])
    with pytest.raises(SoakFailed, match=r"fds changed \+120/min.*over the limit"):
        assert_no_growth(climbing, max_per_min=10)
    assert_no_growth(flat, max_per_min=10)
    with pytest.raises(SoakInconclusive, match="only 3 samples"):
        assert_no_growth(SampledSeries("fds", t[:3], [1.0, 2.0, 3.0]), max_per_min=10)
