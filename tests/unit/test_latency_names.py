"""Per-request-name latency windows: recording, capping, shipping, files, checks, scenario."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.analysis import Span, name_checks
from harness.errors import ScenarioError
from harness.load import (
    NAME_CAP,
    OTHER_KEY,
    Accumulator,
    LatencyFiles,
    Merger,
    NameCap,
    Window,
    decode_windows,
    encode_windows,
    write_locustfile,
)
from harness.runfolder import (
    LATENCY_HEADER,
    NAMES_HDR_FILE,
    NAMES_LATENCY_FILE,
    RunRecord,
    read_latency,
    read_name_latency,
)
from harness.scenario import scenario_from_dict
from harness.verdicts import Verdict

FAST, SLOW = ("GET", "/fast"), ("GET", "/slow")


def test_window_records_each_request_under_its_name_and_in_the_total() -> None:
    """The total window is what it always was; each name gets its own counts and histogram."""
    w = Window()
    w.record(1.0, False, FAST)
    w.record(200.0, True, SLOW)
    w.record(2.0, False, FAST)
    assert (w.requests, w.failures, w.hist.get_total_count()) == (3, 1, 3)
    assert (w.names[FAST].requests, w.names[FAST].failures) == (2, 0)
    assert (w.names[SLOW].requests, w.names[SLOW].failures) == (1, 1)
    assert w.names[SLOW].hist.get_max_value() >= 199_000


def test_names_survive_the_worker_payload_and_merge_per_name() -> None:
    """Encoded, decoded and merged: each name's counts add up across sources."""
    acc_a, acc_b = Accumulator(), Accumulator()
    for i in range(10):
        acc_a.record(100.5, 1.0, False, FAST)
        acc_b.record(100.5, 200.0, i < 2, SLOW)
    acc_b.record(100.6, 1.0, False, FAST)
    merger = Merger(10.0)
    for source, acc in (("a", acc_a), ("b", acc_b)):
        windows, upto, final = decode_windows(encode_windows(acc.take(), 101.0, final=True))
        merger.add(source, windows, upto, final)
    window = merger.pop_before(101)[100]
    assert window.requests == 21
    assert window.names[FAST].requests == 11
    assert (window.names[SLOW].requests, window.names[SLOW].failures) == (10, 2)


def test_names_beyond_the_cap_fold_into_other() -> None:
    """A user that puts IDs in names cannot grow the windows: past the cap, one (other)."""
    acc = Accumulator(NameCap(3))
    for i in range(10):
        acc.record(5.0, 1.0, False, ("GET", f"/item/{i}"))
    window = acc.take()[5]
    assert len(window.names) == 4 and window.names[OTHER_KEY].requests == 7
    assert window.requests == 10
    assert acc.cap.folded_requests == 7 and acc.cap.first_folded == ("GET", "/item/3")
    assert NAME_CAP == 50


def test_the_master_caps_names_across_workers_too() -> None:
    """Each worker under the cap, together over it: the merged windows are capped."""
    merger = Merger(10.0, NameCap(2))
    for source, names in (("a", ["/a", "/b"]), ("b", ["/c", "/d"])):
        w = Window()
        for name in names:
            w.record(1.0, False, ("GET", name))
        merger.add(source, {7: w}, 8.0, final=True)
    window = merger.pop_before(8)[7]
    assert set(window.names) == {("GET", "/a"), ("GET", "/b"), OTHER_KEY}
    assert window.names[OTHER_KEY].requests == 2 and merger.cap.folded_requests == 2


def _write(run_dir: Path, seconds: range, t0: float = 1000.0) -> None:
    files = LatencyFiles(run_dir, t0, int(t0))
    windows = {}
    for s in seconds:
        w = Window()
        for i in range(100):
            w.record(1.0 + i / 100, False, FAST)
            w.record(200.0 + i / 10, i < 3, SLOW)
        windows[int(t0) + s] = w
    files.write_before(int(t0) + max(seconds) + 1, windows)
    files.close()


def test_files_keep_the_total_as_before_and_add_per_name_files(tmp_path: Path) -> None:
    """latency.csv keeps its header and one row a second; names go to their own files."""
    _write(tmp_path, range(0, 5))
    assert (tmp_path / "latency.csv").read_text().splitlines()[0] == ",".join(LATENCY_HEADER)
    total = read_latency(tmp_path / "latency.csv")
    assert list(total.requests) == [200.0] * 5
    names = read_name_latency(tmp_path / NAMES_LATENCY_FILE)
    assert set(names) == {FAST, SLOW}
    assert list(names[SLOW].failures) == [3.0] * 5
    assert len((tmp_path / NAMES_HDR_FILE).read_text().splitlines()) == 1 + 2 * 5


def test_a_run_without_names_reads_as_no_names(tmp_path: Path) -> None:
    """Old run folders (or users firing no names) have no latency-names.csv: empty."""
    assert read_name_latency(tmp_path / NAMES_LATENCY_FILE) == {}


def _record(run_dir: Path) -> RunRecord:
    return RunRecord(path=run_dir, manifest={}, events=[], series={},
                     latency=read_latency(run_dir / "latency.csv"))


def _scenario(thresholds: dict[str, object]) -> object:
    return scenario_from_dict({
        "name": "names", "target": {"command": ["true"], "port": 1},
        "load": {"user": "HttpApiUser"},
        "phases": [{"name": "steady", "duration": "10s"}],
        "thresholds": thresholds,
    })


def test_per_name_p99_fails_only_the_slow_name(tmp_path: Path) -> None:
    """p99_ms with names: one check per matched name; the slow one fails, the fast passes."""
    _write(tmp_path, range(0, 10))
    scenario = _scenario({"p99_ms": {"max": 100, "names": ["GET /*"]}})
    spans = {"steady": Span("steady", 0.0, 10.0, False, 10, False)}
    th = scenario.thresholds["p99_ms"]  # type: ignore[attr-defined]
    checks = {c.name: c for c in name_checks(_record(tmp_path), scenario, spans, "p99_ms", th)}
    assert checks["p99_ms[steady][GET /fast]"].verdict == Verdict.PASS
    assert checks["p99_ms[steady][GET /slow]"].verdict == Verdict.FAIL
    slow = checks["p99_ms[steady][GET /slow]"].observed
    assert slow is not None and abs(slow - 209.9) <= 209.9 * 0.001 + 0.001


def test_a_pattern_matching_nothing_is_never_a_pass(tmp_path: Path) -> None:
    """A names pattern no request of the run matches: INCONCLUSIVE, naming what was seen."""
    _write(tmp_path, range(0, 10))
    scenario = _scenario({"error_ratio": {"max": 0.01, "names": ["/api/*", "/fast"]}})
    spans = {"steady": Span("steady", 0.0, 10.0, False, 10, False)}
    th = scenario.thresholds["error_ratio"]  # type: ignore[attr-defined]
    checks = {c.name: c for c in name_checks(_record(tmp_path), scenario, spans,
                                             "error_ratio", th)}
    assert checks["error_ratio[steady][/api/*]"].verdict == Verdict.INCONCLUSIVE
    assert "'GET /fast'" in checks["error_ratio[steady][/api/*]"].detail
    assert checks["error_ratio[steady][GET /fast]"].verdict == Verdict.PASS
    assert "error_ratio[steady][GET /slow]" not in checks


def test_per_name_error_ratio_counts_that_name_only(tmp_path: Path) -> None:
    """3% of /slow failed, none of /fast: a 1% limit fails /slow only."""
    _write(tmp_path, range(0, 10))
    scenario = _scenario({"error_ratio": {"max": 0.01, "names": ["*"]}})
    spans = {"steady": Span("steady", 0.0, 10.0, False, 10, False)}
    th = scenario.thresholds["error_ratio"]  # type: ignore[attr-defined]
    checks = {c.name: c for c in name_checks(_record(tmp_path), scenario, spans,
                                             "error_ratio", th)}
    assert checks["error_ratio[steady][GET /slow]"].verdict == Verdict.FAIL
    assert np.isclose(checks["error_ratio[steady][GET /slow]"].observed or 0, 0.03)
    assert checks["error_ratio[steady][GET /fast]"].verdict == Verdict.PASS


@pytest.mark.parametrize(("thresholds", "message"), [
    ({"fds": {"max": 5, "names": ["/x"]}}, "names: request names are judged only"),
    ({"request_rate": {"min": 0.5, "names": ["/x"]}}, "names: request names are judged only"),
    ({"p99_ms": {"max": 5, "names": []}}, "at least one pattern"),
    ({"p99_ms": {"max": 5, "names": [" "]}}, "empty pattern"),
])
def test_names_are_refused_where_they_cannot_apply(
    thresholds: dict[str, object], message: str
) -> None:
    """names only on latency and error_ratio thresholds, and only non-empty patterns."""
    raw = {"name": "names", "target": {"command": ["true"], "port": 1,
                                       "metrics": {"fds": "proc:fds"}},
           "load": {"user": "HttpApiUser"}, "phases": [{"name": "steady", "duration": "10s"}],
           "thresholds": thresholds}
    with pytest.raises(ScenarioError, match=message):
        scenario_from_dict(raw)


@pytest.mark.parametrize(("load", "message"), [
    ({}, "name a user class"),
    ({"user": ["A", "A"]}, "named twice"),
    ({"user": ["A", "B"], "weights": {"C": 1}}, "'C' is not one of load.user"),
    ({"user": "A", "weights": {"A": 0}}, "weights.A: must be >= 1"),
    ({"user": "A", "shape": "locustfile"}, "needs load.locustfile"),
    ({"user": "A-b"}, "not a Python class name"),
])
def test_load_user_classes_are_validated(load: dict[str, object], message: str) -> None:
    """Several user classes, weights and fixed counts: a mistake names the field."""
    raw = {"name": "users", "target": {"command": ["true"], "port": 1}, "load": load,
           "phases": [{"name": "steady", "duration": "10s"}]}
    with pytest.raises(ScenarioError, match=message):
        scenario_from_dict(raw)


def test_several_weighted_user_classes_in_the_generated_locustfile(tmp_path: Path) -> None:
    """Each named class is bound with the scenario's weight; none named: all of the file."""
    mine = tmp_path / "mine.py"
    mine.write_text("")
    text = write_locustfile(tmp_path, ["A", "B"], str(mine), weights={"A": 3},
                            fixed_counts={"B": 1}).read_text()
    assert f"A = resolve_user_class('A', {str(mine)!r}, weight=3)" in text
    assert f"B = resolve_user_class('B', {str(mine)!r}, fixed_count=1)" in text
    assert f"PhaseShape.inner = own_shape({str(mine)!r}, 'auto')" in text
    text = write_locustfile(tmp_path, None, str(mine), shape="phases").read_text()
    assert f"globals().update(all_user_classes({str(mine)!r}, {{}}, {{}}))" in text
    assert "'phases')" in text


def test_validate_plans_per_name_checks_like_the_total() -> None:
    """harness validate lists a names threshold as a per-name latency check per phase."""
    from harness.analysis import plan_checks

    scenario = _scenario({"p99_ms": {"max": 200, "names": ["/api/*"]}})
    planned = [p for p in plan_checks(scenario) if p.threshold == "thresholds.p99_ms"]
    assert [(p.check, p.phases, p.problem) for p in planned] == [
        ("latency per name (/api/*)", ("steady",), "")]


def test_reports_show_a_per_name_table_and_chart(tmp_path: Path) -> None:
    """report.md and report.html get a row per name; charts/ gets latency-names.png."""
    from harness.report import write_reports
    from harness.runfolder import load_run
    from harness.testing import SyntheticRun, synthetic_summary, write_synthetic_run

    spec = SyntheticRun(duration_s=12.0)
    write_synthetic_run(tmp_path, spec)
    (tmp_path / "latency.csv").unlink()
    (tmp_path / "latency.hdr").unlink()
    _write(tmp_path, range(0, 10), t0=float(load_run(tmp_path).manifest["t0"]))
    write_reports(load_run(tmp_path), synthetic_summary(spec, []), None)
    md = (tmp_path / "report.md").read_text()
    assert "### Per request name" in md and "| `GET /slow` | 1000 | 30 | 3.00% |" in md
    assert "<code>GET /fast</code>" in (tmp_path / "report.html").read_text()
    assert (tmp_path / "charts" / "latency-names.png").stat().st_size > 1000


def test_a_damaged_per_name_file_is_said_not_fatal(tmp_path: Path) -> None:
    """A latency-names.csv line that is not what the writer writes: the per-name checks are
    ERROR naming the line, the report says it, and the rest of the report is written."""
    from harness.analysis import analyze
    from harness.report import write_reports
    from harness.runfolder import load_run
    from harness.testing import SyntheticRun, synthetic_summary, write_synthetic_run

    spec = SyntheticRun(duration_s=12.0)
    write_synthetic_run(tmp_path, spec)
    _write(tmp_path, range(0, 10), t0=float(load_run(tmp_path).manifest["t0"]))
    with (tmp_path / NAMES_LATENCY_FILE).open("a") as fh:
        fh.write("1.0,GET,/x,many,0,1,1,1,1\n")
    run = load_run(tmp_path)
    scenario = _scenario({"p99_ms": {"max": 100, "names": ["*"]}})
    checks = [c for c in analyze(run, scenario) if c.metric == "p99_ms"]  # type: ignore[arg-type]
    assert [c.verdict for c in checks] == [Verdict.ERROR]
    assert "latency-names.csv" in checks[0].detail and "requests" in checks[0].detail
    write_reports(load_run(tmp_path), synthetic_summary(spec, checks), None)
    assert "per-name table not shown" in (tmp_path / "report.md").read_text()
