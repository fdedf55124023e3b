"""LocustRun's parent side: the generated locustfile, the environment, the start file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.load import (
    HEARTBEAT_FILE,
    LocustRun,
    decode_plan,
    heartbeat_alive,
    option,
    write_locustfile,
)
from harness.scenario import scenario_from_dict


def scenario(**load: object):
    return scenario_from_dict({
        "name": "s", "target": {"sample": "healthy"},
        "load": {"user": "HttpApiUser", **load},
        "phases": [{"name": "a", "duration": 3}, {"name": "b", "duration": 2, "users": 0}],
    })


def test_locustfile_imports_plugin_shape_and_the_bundled_user(tmp_path: Path) -> None:
    """The generated file binds the user class under its own name from the default module."""
    text = write_locustfile(tmp_path, "HttpApiUser", None).read_text()
    assert "from harness.load import _plugin" in text
    assert "PhaseShape" in text
    assert "HttpApiUser = resolve_user_class('HttpApiUser', None)" in text
    compile(text, "locustfile.py", "exec")


def test_locustfile_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative load.locustfile path is resolved before Locust runs in the run folder."""
    (tmp_path / "mine.py").write_text("")
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    text = write_locustfile(run_dir, "MyUser", "mine.py").read_text()
    assert repr(str(tmp_path / "mine.py")) in text


def test_missing_locustfile_is_a_scenario_error(tmp_path: Path) -> None:
    """A load.locustfile path that does not exist is bad input, naming the field."""
    with pytest.raises(ScenarioError, match=r"load\.locustfile"):
        write_locustfile(tmp_path, "MyUser", str(tmp_path / "nope.py"))


def test_user_that_is_not_a_class_name_is_a_scenario_error(tmp_path: Path) -> None:
    """load.user must be a Python identifier (it becomes a name in the locustfile)."""
    with pytest.raises(ScenarioError, match=r"load\.user"):
        write_locustfile(tmp_path, "Http-User", None)


def test_environment_carries_plan_paths_and_options(tmp_path: Path) -> None:
    """The child gets the resolved plan, run dir, t0 and load.options as JSON."""
    run = LocustRun(scenario(users=4, options={"path": "/api/item/9"}), "http://127.0.0.1:1",
                    tmp_path, t0=123.5)
    env = run._env()
    assert [p.users for p in decode_plan(env["HARNESS_PLAN"])] == [4, 0]
    assert env["HARNESS_RUN_DIR"] == str(tmp_path.resolve())
    assert float(env["HARNESS_T0"]) == 123.5
    assert json.loads(env["HARNESS_LOAD_OPTIONS"]) == {"path": "/api/item/9"}


def test_public_option_reads_what_the_run_passes(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``harness.load.option`` sees load.options as the run passes them, else the default."""
    monkeypatch.delenv("HARNESS_LOAD_OPTIONS", raising=False)
    assert option("path", "/") == "/"
    run = LocustRun(scenario(options={"path": "/big", "every": 2.5}), "http://127.0.0.1:1",
                    tmp_path, t0=0.0)
    monkeypatch.setenv("HARNESS_LOAD_OPTIONS", run._env()["HARNESS_LOAD_OPTIONS"])
    assert option("path", "/") == "/big"
    assert option("every", 1.0) == 2.5
    assert option("missing", 7) == 7


def test_locust_runs_headless_without_web_ui_or_error_exit_code(tmp_path: Path) -> None:
    """Locust is headless, summary-only, and request failures do not change its exit code."""
    argv = LocustRun(scenario(), "http://127.0.0.1:1", tmp_path, 0.0)._argv(tmp_path / "l.py")
    assert argv[1:3] == ["-m", "locust"]
    for flag in ("--headless", "--only-summary"):
        assert flag in argv
    assert argv[argv.index("--exit-code-on-error") + 1] == "0"
    assert argv[argv.index("--host") + 1] == "http://127.0.0.1:1"


def test_begin_writes_the_load_start_atomically(tmp_path: Path) -> None:
    """begin() leaves exactly the epoch in .load-start and no temp file."""
    run = LocustRun(scenario(), "http://127.0.0.1:1", tmp_path, 0.0)
    run.begin(1234.5)
    assert float((tmp_path / ".load-start").read_text()) == 1234.5
    assert sorted(p.name for p in tmp_path.iterdir()) == [".load-start"]


def test_stop_and_exited_before_start_are_harmless(tmp_path: Path) -> None:
    """A run that never started has no processes, no exit code, and stops cleanly."""
    run = LocustRun(scenario(), "http://127.0.0.1:1", tmp_path, 0.0)
    assert run.processes == [] and run.exited() is None
    run.stop()


def _beat(path: Path, touched: float, **said: object) -> None:
    path.write_text(json.dumps(said), encoding="utf-8")
    os.utime(path, (touched, touched))


def test_heartbeat_is_the_files_touch_while_its_content_stands(tmp_path: Path) -> None:
    """The master rewrites the JSON only when it changes and touches the file every second:
    the beat is the later of the touch and the written time."""
    path = tmp_path / HEARTBEAT_FILE
    _beat(path, 1_000_050.0, time=1_000_000.0, workers_ok=1_000_000.0, missing=[], workers=2)
    assert heartbeat_alive(path) == 1_000_050.0
    _beat(path, 999_000.0, time=1_000_000.0, workers_ok=1_000_000.0, missing=[], workers=2)
    assert heartbeat_alive(path) == 1_000_000.0


def test_heartbeat_with_a_missing_worker_stops_at_the_last_time_none_was(tmp_path: Path) -> None:
    """A lost worker: the file is still touched, but the load side counts as silent since
    the last time every worker was connected (the watchdog ends the run)."""
    path = tmp_path / HEARTBEAT_FILE
    _beat(path, 1_000_050.0, time=1_000_020.0, workers_ok=1_000_019.0, missing=["w1"], workers=2)
    assert heartbeat_alive(path) == 1_000_019.0


@pytest.mark.parametrize("text", ["", "{", "[]", '{"time": "soon"}', '{"pid": 1}',
                                  '{"time": 1.0, "missing": ["w"]}'])
def test_an_unreadable_heartbeat_reads_as_none_and_the_last_one_stands(
        tmp_path: Path, text: str) -> None:
    path = tmp_path / HEARTBEAT_FILE
    assert heartbeat_alive(path) is None  # not written yet
    path.write_text(text, encoding="utf-8")
    assert heartbeat_alive(path) is None
    run = LocustRun(scenario(), "http://127.0.0.1:1", tmp_path, 0.0)
    _beat(path, 1_000_010.0, time=1_000_000.0, missing=[])
    assert run.last_alive() == 1_000_010.0
    path.write_text(text, encoding="utf-8")  # e.g. read mid-rewrite
    assert run.last_alive() == 1_000_010.0
