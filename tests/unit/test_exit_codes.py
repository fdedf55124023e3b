"""The exit code contract (README, DESIGN): decided from the summary in one place."""

from __future__ import annotations

import pytest

from harness.verdicts import Check, Summary, Verdict, exit_code_for, overall_verdict


def check(verdict: Verdict, category: str = "target") -> Check:
    return Check(name=f"c-{verdict}-{category}", metric="m", kind="growth",
                 category=category, verdict=verdict)  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "verdicts", "code"), [
    ("completed", [Verdict.PASS, Verdict.SKIP], 0),
    ("completed", [Verdict.PASS, Verdict.FAIL], 1),
    ("completed", [Verdict.PASS, Verdict.ERROR], 4),  # a check could not be judged
    ("completed", [Verdict.ERROR, Verdict.FAIL], 1),  # a failed check wins over inconclusive
    ("interrupted", [Verdict.PASS], 4),  # cut short before its data could decide
    ("interrupted", [Verdict.ERROR, Verdict.FAIL], 1),  # ...unless the data already failed
    ("running", [Verdict.PASS], 4),  # the harness was killed; finished by the next run
    ("target_crashed", [Verdict.FAIL], 1),
    ("error", [Verdict.PASS, Verdict.FAIL], 3),  # a tool failure wins over both
])
def test_exit_code_for_status_and_checks(status, verdicts, code):
    """Each outcome maps to the documented exit code; never 130."""
    checks = [check(v) for v in verdicts]
    summary = Summary(scenario="s", verdict=overall_verdict(checks), status=status, checks=checks)
    assert exit_code_for(summary) == code


def test_tool_checks_never_decide_the_exit_code():
    """A failing tool check (a leak in toxiproxy or Locust) leaves a passing run at 0."""
    checks = [check(Verdict.PASS), check(Verdict.FAIL, "tool"), check(Verdict.ERROR, "tool")]
    summary = Summary(scenario="s", verdict=overall_verdict(checks), status="completed",
                      checks=checks)
    assert summary.verdict is Verdict.PASS and exit_code_for(summary) == 0
