"""junit.xml: the common JUnit structure, one testcase per check, evidence on failures."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from harness.report import render_junit
from harness.testing import SyntheticRun, synthetic_checks, synthetic_summary
from harness.verdicts import Check, Verdict


def _summary():
    spec = SyntheticRun(leak_per_min=20)
    extra = Check(name="target.alive[gateway]", metric="alive", kind="run", category="run",
                  verdict=Verdict.ERROR, detail="no samples \x01 at all")
    return synthetic_summary(spec, [*synthetic_checks(spec), extra])


def test_structure_and_counts():
    """testsuites/testsuite carry tests, failures, errors, skipped, time matching the checks."""
    summary = _summary()
    root = ET.fromstring(render_junit(summary))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    cases = suite.findall("testcase")
    assert len(cases) == len(summary.checks)
    want = {"tests": len(summary.checks),
            "failures": sum(c.verdict == Verdict.FAIL for c in summary.checks),
            "errors": sum(c.verdict == Verdict.ERROR for c in summary.checks),
            "skipped": sum(c.verdict == Verdict.SKIP for c in summary.checks)}
    for element in (root, suite):
        for key, value in want.items():
            assert int(element.get(key)) == value, key
        float(element.get("time"))
    assert len(suite.findall("testcase/failure")) == want["failures"]
    assert len(suite.findall("testcase/error")) == want["errors"] == 1
    assert len(suite.findall("testcase/skipped")) == want["skipped"] == 1
    for case in cases:
        assert case.get("classname") and case.get("name")
        float(case.get("time"))


def test_failure_carries_evidence():
    """A failure's message says what failed; its text is the check's evidence as JSON."""
    summary = _summary()
    root = ET.fromstring(render_junit(summary))
    case = root.find("testsuite/testcase[@name='tasks.growth[gateway]']")
    failure = case.find("failure")
    assert "tasks grew" in failure.get("message")
    assert json.loads(failure.text)["slope_per_s"] > 0


def test_hostile_strings_are_well_formed():
    """Markup and control characters in names and details still give valid XML."""
    check = Check(name="<x>&\"'", metric="m", kind="level", verdict=Verdict.FAIL,
                  detail="\x00\x1b]", evidence={"e": "</failure>"})
    spec = SyntheticRun(name="n")
    root = ET.fromstring(render_junit(synthetic_summary(spec, [check])))
    case = root.find("testsuite/testcase")
    assert case.get("name") == "<x>&\"'"
    assert "</failure>" in case.find("failure").text
