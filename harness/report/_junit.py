"""junit.xml: one testsuite, one testcase per check (common JUnit XML structure).

failure for FAIL, error for ERROR, skipped for SKIP; the evidence is the element's text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from harness.report._format import evidence_json, number_text
from harness.text import printable
from harness.verdicts import Check, Summary, Verdict

# Characters XML 1.0 cannot carry at all.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(text: object) -> str:
    """Text XML 1.0 can carry: control characters shown as escapes (``\x1b``)."""
    return _INVALID_XML.sub("?", printable(text))


def _message(check: Check) -> str:
    limit = f"observed {number_text(check.observed, check.unit)}, threshold " \
            f"{number_text(check.threshold, check.unit)}"
    return f"{check.detail} ({limit})" if check.detail else limit


def _case_time(check: Check) -> float:
    if check.window is not None:
        return max(0.0, check.window[1] - check.window[0])
    return 0.0


def render_junit(summary: Summary) -> bytes:
    """The JUnit XML document as UTF-8 bytes, with an XML declaration."""
    counts = {v: sum(1 for c in summary.checks if c.verdict == v) for v in Verdict}
    attrs = {
        "tests": str(len(summary.checks)),
        "failures": str(counts[Verdict.FAIL]),
        "errors": str(counts[Verdict.ERROR]),
        "skipped": str(counts[Verdict.SKIP] + counts[Verdict.INCONCLUSIVE]),
        "time": f"{summary.duration_s:.3f}",
    }
    suite_name = summary.scenario + (f" ({summary.variant})" if summary.variant else "")
    root = ET.Element("testsuites", {"name": "soak-harness", **attrs})
    suite = ET.SubElement(root, "testsuite", {"name": _x(suite_name), **attrs})
    if summary.started_at:
        suite.set("timestamp", _x(summary.started_at))
    props = ET.SubElement(suite, "properties")
    for key, value in [("status", summary.status), ("verdict", summary.verdict.value),
                       ("schema_version", str(summary.schema_version)),
                       *((f"version.{k}", v) for k, v in sorted(summary.versions.items()))]:
        ET.SubElement(props, "property", {"name": _x(key), "value": _x(value)})
    for check in summary.checks:
        case = ET.SubElement(suite, "testcase", {
            "classname": _x(f"{summary.scenario}.{check.kind}"),
            "name": _x(check.name),
            "time": f"{_case_time(check):.3f}",
        })
        tag = {Verdict.FAIL: "failure", Verdict.ERROR: "error", Verdict.SKIP: "skipped",
               Verdict.INCONCLUSIVE: "skipped"}.get(
            check.verdict)
        if tag is None:
            continue
        child = ET.SubElement(case, tag, {"message": _x(_message(check))})
        if tag != "skipped":
            child.set("type", _x(check.kind))
            child.text = _x(evidence_json(check))
    out = f"status: {summary.status}" + (f"\nreason: {summary.reason}" if summary.reason else "")
    ET.SubElement(suite, "system-out").text = _x(out)
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body + b"\n"
