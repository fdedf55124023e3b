"""History across runs: classification, flakiness, failing streaks, reading a damaged archive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import harness.report as history_api
from harness import EnvironmentFailure, InputError, Summary
from harness.provenance import ci_url, image_tag, provenance
from harness.report import CheckPoint, collect_history, read_entry, write_history
from harness.testing import SyntheticRun, synthetic_summary, write_summary_run

PASS = CheckPoint("tasks.growth[api]", "pass")
FAIL = CheckPoint("tasks.growth[api]", "fail")
ERROR = CheckPoint("tasks.growth[api]", "error")
TOOL_FAIL = CheckPoint("toxiproxy.fds.growth", "fail", category="tool")


@pytest.mark.parametrize(("state", "status", "checks", "outcome"), [
    ("ok", "completed", [PASS], "pass"),
    ("ok", "completed", [PASS, FAIL], "fail"),
    ("ok", "completed", [PASS, ERROR], "inconclusive"),
    ("ok", "completed", [FAIL, ERROR], "fail"),  # a failure wins over inconclusive
    ("ok", "error", [FAIL], "tool_failure"),  # a tool failure wins over both
    ("ok", "interrupted", [PASS], "inconclusive"),
    ("ok", "interrupted", [FAIL], "fail"),  # what failed was seen
    ("ok", "target_crashed", [PASS], "fail"),
    ("ok", "completed", [], "inconclusive"),  # nothing judged is never a pass
    ("ok", "completed", [PASS, TOOL_FAIL], "pass"),  # control series never fail the target
    ("ok", "completed", [TOOL_FAIL], "inconclusive"),
    ("no_summary", "completed", [], "inconclusive"),
    ("no_summary", "error", [], "tool_failure"),
])
def test_classify_run(state, status, checks, outcome):
    """A run's outcome: tool failure > fail > inconclusive > pass, never PASS unseen."""
    assert history_api.classify_run(state, status, checks) == outcome


@pytest.mark.parametrize(("outcome", "status", "verdict", "cls"), [
    ("pass", "completed", "pass", "pass"),
    ("fail", "completed", "fail", "fail"),
    ("fail", "completed", "pass", "pass"),
    ("inconclusive", "completed", "error", "inconclusive"),
    ("inconclusive", "interrupted", "pass", "inconclusive"),
    ("fail", "interrupted", "fail", "fail"),
    ("tool_failure", "error", "pass", "tool_failure"),
    ("tool_failure", "error", "fail", "tool_failure"),
    ("pass", "completed", "skip", "skip"),
])
def test_point_class(outcome, status, verdict, cls):
    """A check's point in history: nothing counts in a tool failure; a cut-short PASS is
    inconclusive; ERROR is inconclusive."""
    assert history_api.point_class(outcome, status, verdict) == cls


@pytest.mark.parametrize(("classes", "expected"), [
    ([], (0, 0)),
    (["pass"] * 5, (0, 5)),
    (["pass", "fail", "pass", "fail"], (3, 4)),
    (["pass", "pass", "fail", "fail", "fail"], (1, 5)),
    (["pass", "inconclusive", "pass", "tool_failure", "skip", "pass"], (0, 3)),
    (["pass", "inconclusive", "fail", "tool_failure", "pass"], (2, 3)),
])
def test_flakiness(classes, expected):
    """Verdict changes over conclusive runs; undecided points neither count nor break."""
    assert history_api.flakiness(classes) == expected


@pytest.mark.parametrize(("classes", "expected"), [
    ([], None),
    (["pass", "pass"], None),
    (["pass", "fail", "fail"], 1),
    (["fail", "fail"], 0),
    (["fail", "pass", "fail", "inconclusive", "fail", "tool_failure"], 2),
    (["pass", "fail", "pass"], None),
    (["pass", "inconclusive"], None),
    (["inconclusive", "fail"], 1),
])
def test_failing_since(classes, expected):
    """The start of the current failing streak, undecided runs skipped."""
    assert history_api.failing_since(classes) == expected


def _run(root: Path, name: str, day: int, **kwargs) -> Path:
    spec = SyntheticRun(name="nightly", leak_per_min=kwargs.pop("leak", 0.0))
    return write_summary_run(root / name, spec, started_at=f"2024-05-{day:02d}T02:00:00Z",
                             **kwargs)


def test_damaged_old_and_missing_folders_are_listed_not_fatal(tmp_path: Path):
    """Garbage summary.json, a run.json alone, an old-schema summary, a folder where
    summary.json goes, an empty folder: each is listed as such; the good runs are read."""
    _run(tmp_path, "a-good", 1, target_version="v1")
    garbage = tmp_path / "b-garbage"
    garbage.mkdir()
    (garbage / "summary.json").write_bytes(b"\x00\xff{not json")
    alone = _run(tmp_path, "c-killed", 3, status="running")
    (alone / "summary.json").unlink()
    old = _run(tmp_path, "d-old", 4)
    data = json.loads((old / "summary.json").read_text())
    data.update(schema_version=0, verdict="maybe")
    del data["status"]
    (old / "summary.json").write_text(json.dumps(data))
    (tmp_path / "e-dir" / "summary.json").mkdir(parents=True)
    (tmp_path / "f-empty").mkdir()

    history = collect_history([tmp_path, tmp_path / "nothing-here"])
    states = {r.path.name: (r.state, r.note) for r in history.unreadable}
    assert states["b-garbage"][0] == "damaged" and "not JSON" in states["b-garbage"][1]
    assert states["e-dir"] == ("damaged", "summary.json: is not a file")
    assert states["f-empty"][0] == "missing"
    assert states["nothing-here"] == ("missing", "no such folder")
    (scn,) = history.scenarios
    runs = {r.path.name: r for r in scn.runs}
    assert set(runs) == {"a-good", "c-killed", "d-old"}
    assert runs["c-killed"].state == "no_summary" and runs["c-killed"].outcome == "inconclusive"
    assert runs["c-killed"].status == "interrupted"  # running in a folder: the harness died
    assert runs["d-old"].state == "old_schema" and "schema 0" in runs["d-old"].note
    assert len(runs["d-old"].checks) == len(runs["a-good"].checks)
    assert history.partial == [runs["d-old"]]
    assert runs["a-good"].target_version == "v1"


def test_a_glob_and_duplicates_name_each_folder_once(tmp_path: Path):
    """A glob pattern is expanded; a folder named twice is read once; a stability report
    folder inside the archive is not a run folder."""
    for day in (1, 2):
        _run(tmp_path, f"nightly-{day}", day)
    write_history(collect_history([tmp_path]), tmp_path / "history-x")
    args = [str(tmp_path / "nightly-*"), tmp_path / "nightly-1", tmp_path,
            str(tmp_path / "zzz-*")]
    found = list(history_api.find_run_folders(args))
    assert [p.name for p in found if isinstance(p, Path)] == ["nightly-1", "nightly-2"]
    (missing,) = [p for p in found if not isinstance(p, Path)]
    assert missing.note == "the pattern matches nothing"


def test_unreadable_run_json_with_a_good_summary_is_read(tmp_path: Path):
    """run.json is only a fallback: a damaged one does not hide a good summary."""
    folder = _run(tmp_path, "run", 5, leak=12)
    (folder / "run.json").write_text("[")
    entry = read_entry(folder)
    assert entry.state == "ok" and entry.outcome == "fail"
    assert entry.started is not None and entry.started.day == 5


def test_old_summary_without_provenance_still_validates(tmp_path: Path):
    """summary.json written before target_version/ci_url existed reads back (schema 1)."""
    data = synthetic_summary(SyntheticRun()).model_dump(mode="json")
    for key in ("target_version", "target_version_source", "ci_url"):
        del data[key]
    summary = Summary.model_validate_json(json.dumps(data))
    assert summary.target_version is None and summary.schema_version == 1


def test_write_history_that_cannot_write_is_an_environment_failure(tmp_path: Path):
    """A report file that cannot be written raises EnvironmentFailure (exit 3)."""
    _run(tmp_path / "runs", "one", 1)
    out = tmp_path / "out"
    (out / "stability.html").mkdir(parents=True)
    with pytest.raises(EnvironmentFailure, match="cannot write the stability report"):
        write_history(collect_history([tmp_path / "runs"]), out)


@pytest.mark.parametrize(("option", "backend", "env", "version", "source"), [
    ("1.2.3", "local", {"HARNESS_TARGET_VERSION": "x", "GITHUB_SHA": "abc"}, "1.2.3",
     "--target-version"),
    (None, "local", {"HARNESS_TARGET_VERSION": "x", "GITHUB_SHA": "abc"}, "x",
     "HARNESS_TARGET_VERSION"),
    (None, "compose", {"HARNESS_IMAGE": "reg:5000/app:2.0@sha256:ff", "GITHUB_SHA": "abc"},
     "2.0", "HARNESS_IMAGE tag"),
    (None, "local", {"HARNESS_IMAGE": "reg/app:2.0", "GITHUB_SHA": "abc"}, "abc", "GITHUB_SHA"),
    (None, "compose", {"HARNESS_IMAGE": "reg:5000/app", "CI_COMMIT_SHA": "def"}, "def",
     "CI_COMMIT_SHA"),
    (None, "local", {}, None, None),
])
def test_provenance_sources_in_order(option, backend, env, version, source):
    """Option, then $HARNESS_TARGET_VERSION, the compose image tag, then the CI commit."""
    found = provenance(option, backend, env)
    assert (found.target_version, found.target_version_source) == (version, source)


@pytest.mark.parametrize(("option", "env", "named"), [
    ("", {}, "--target-version"),
    (None, {"HARNESS_TARGET_VERSION": "v1\x1b[2J"}, "$HARNESS_TARGET_VERSION"),
    (None, {"GITHUB_SHA": "a" * 201}, "$GITHUB_SHA"),
])
def test_provenance_refuses_what_it_cannot_record(option, env, named):
    """Empty, overlong or control-character versions: InputError naming the source."""
    with pytest.raises(InputError, match=f"^{named.replace('$', '[$]')}: "):
        provenance(option, "local", env)


def test_ci_url_from_github_or_gitlab():
    """GitHub's run URL from its three variables; GitLab's CI_JOB_URL; else none."""
    github = {"GITHUB_SERVER_URL": "https://github.com/", "GITHUB_REPOSITORY": "o/r",
              "GITHUB_RUN_ID": "42"}
    assert ci_url(github) == "https://github.com/o/r/actions/runs/42"
    assert ci_url({"CI_JOB_URL": "https://gitlab.example/o/r/-/jobs/7"}).endswith("/jobs/7")
    assert ci_url({"CI_JOB_URL": "javascript:alert(1)"}) is None
    assert ci_url({}) is None
    assert image_tag("app") is None and image_tag("localhost:5000/app") is None
