"""Untrusted text in reports and on the terminal, and the YAML limits, as pure logic."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

import pytest

from harness.report import cell, render_junit
from harness.scenario import YamlLimitError, load_yaml
from harness.testing import SyntheticRun, synthetic_checks, synthetic_summary
from harness.text import printable
from harness.verdicts import Check, Verdict

HOSTILE = "evil\x1b[31mred\x1b]0;title\x07\r\x00\x9b2J\u202egnp.exe\ud800|`<b>"
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e]")


def _hostile_summary():
    spec = SyntheticRun(leak_per_min=20)
    check = Check(name=f"fds.growth[{HOSTILE}]", metric="fds", kind="growth", category="target",
                  verdict=Verdict.FAIL, detail=f"process {HOSTILE} grew",
                  evidence={"process": HOSTILE})
    return synthetic_summary(spec, [*synthetic_checks(spec), check])


def test_printable_escapes_controls_and_keeps_text() -> None:
    """ESC, CR, NUL, C1, bidi overrides and lone surrogates become visible escapes."""
    shown = printable(HOSTILE)
    assert not RAW_CONTROL.search(shown)
    assert "\\x1b[31mred" in shown and "\\r" in shown and "\\0" in shown
    assert "\\x9b" in shown and "\\u202e" in shown and "\\ud800" in shown
    assert printable("line one\n\tline two") == "line one\n\tline two"
    assert printable("a\nb", newlines=False) == "a\\nb"
    assert printable("x" * 50, limit=10) == "x" * 10 + "..."


def test_junit_with_hostile_text_is_valid_xml_without_controls() -> None:
    """A check whose name and detail hold control characters still gives parseable XML."""
    body = render_junit(_hostile_summary())
    root = ET.fromstring(body)  # raises on any character XML 1.0 forbids
    text = body.decode("utf-8")
    assert not RAW_CONTROL.search(text.replace("\n", "").replace("\t", ""))
    assert any("\\x1b[31m" in (c.get("name") or "") for c in root.iter("testcase"))


def test_markdown_cell_has_no_controls() -> None:
    """A Markdown table cell shows control characters as escapes; tags and pipes are
    backslash-escaped (no HTML entities in report.md)."""
    out = cell(HOSTILE)
    assert not RAW_CONTROL.search(out)
    assert "\\x1b[31m" in out and "\\<b>" in out and "\\|" in out


def test_alias_bomb_is_refused_quickly() -> None:
    """A billion-laughs file (9^9 values when expanded) is refused in well under a second."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    start = time.perf_counter()
    with pytest.raises(YamlLimitError, match="aliases"):
        load_yaml("\n".join(lines))
    # ~20 ms on an idle core; 5 s leaves room for a machine busy with other test workers
    assert time.perf_counter() - start < 5.0


def test_anchors_and_merge_keys_still_work() -> None:
    """Ordinary anchors, aliases and merge keys load as before."""
    data = load_yaml("base: &b {x: 1}\nuse: {<<: *b, y: 2}\nlist: [*b, *b]\n")
    assert data["use"] == {"x": 1, "y": 2} and data["list"] == [{"x": 1}, {"x": 1}]


@pytest.mark.parametrize(("text", "message"), [
    ("[" * 60 + "]" * 60, "nested more than 50"),
    ("a: &a [*a]", "alias refers to the node that holds it"),
    (b"a: \xff", "not UTF-8"),
    ("a: '\x1b'", "U+001B"),
    ("x: " + "y" * 300_000, "bytes"),
])
def test_yaml_limits(text: str | bytes, message: str) -> None:
    """Deep, self-referencing, non-UTF-8, control-character and oversized YAML is refused."""
    with pytest.raises(YamlLimitError, match=re.escape(message)):
        load_yaml(text)
