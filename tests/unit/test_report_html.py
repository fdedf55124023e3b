"""report.html: self-contained, and every scenario/target string stays text."""

from __future__ import annotations

import base64
import re

from harness.testing import SyntheticRun, synthetic_checks
from harness.verdicts import Check, Verdict

from ._report_helpers import make_report

EVIL = "<script>alert(1)</script>"


def _evil_checks(spec: SyntheticRun) -> list[Check]:
    evil = Check(name=f"tasks.growth[{EVIL}]", metric="tasks", target=EVIL, kind="growth",
                 verdict=Verdict.FAIL, observed=9.0, threshold=5.0, detail=f"detail {EVIL}",
                 evidence={"grown_groups": [{"name": EVIL, "where": "x.py:1", "delta": 3}],
                           "note": EVIL})
    return [*synthetic_checks(spec), evil]


def test_script_in_scenario_check_and_target_stays_text(tmp_path):
    """A `<script>` in scenario name, description, check, target and evidence is escaped."""
    spec = SyntheticRun(name=EVIL, description=EVIL, targets=("gateway",), duration_s=20)
    run, _ = make_report(tmp_path / "run", spec, _evil_checks(SyntheticRun(duration_s=20)))
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_self_contained(tmp_path):
    """No external URL anywhere; every image is a decodable PNG data URI."""
    run, _ = make_report(tmp_path / "run", SyntheticRun(duration_s=30, leak_per_min=20))
    html = (run / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "<link" not in html and "@import" not in html
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) >= 6
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_sections_present(tmp_path):
    """Verdict banner, checks, what grew, timeline, scenario and versions are all there."""
    run, _ = make_report(tmp_path / "run", SyntheticRun(duration_s=30, leak_per_min=20))
    html = (run / "report.html").read_text(encoding="utf-8")
    assert 'class="banner fail"' in html
    for heading in ("Checks", "What grew", "Charts", "Timeline of events", "Scenario as run",
                    "Versions"):
        assert f"<h2>{heading}</h2>" in html
    assert "handle_stream" in html and "fault_added" in html and "toxiproxy" in html
    assert "2.12.0" in html
