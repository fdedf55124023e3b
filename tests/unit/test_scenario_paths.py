"""Paths in a scenario resolve against its file's folder, and missing files are input errors."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ScenarioError
from harness.run import RunOptions, run_scenario
from harness.scenario import load_scenario, path_problems, scenario_from_dict


def write_scenario(folder: Path, *, target: str, load: str = "{user: HttpApiUser}",
                   extra: str = "") -> Path:
    """A minimal scenario file in ``folder`` with the given target and load sections."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "s.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: paths
        target: {target}
        load: {load}
        phases: [{{name: warmup, duration: 5s}}]  # long enough to judge (validate plans checks)
    """) + extra)
    return path


def executable(path: Path) -> Path:
    """A small executable shell script at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current folder, somewhere that is not the scenario's folder."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_locustfile_resolves_against_the_scenario_folder(tmp_path: Path, elsewhere: Path):
    """A relative load.locustfile means the file next to the scenario, not in the cwd."""
    path = write_scenario(tmp_path / "sc", target="{command: [python3]}",
                          load="{user: U, locustfile: users/mine.py}")
    assert load_scenario(path).load.locustfile == str(tmp_path / "sc" / "users" / "mine.py")


def test_locustfile_module_name_is_left_alone(tmp_path: Path, elsewhere: Path):
    """A locustfile given as a module name (no slash, no .py) is not a path."""
    path = write_scenario(tmp_path, target="{command: [python3]}",
                          load="{user: U, locustfile: mypkg.users}")
    assert load_scenario(path).load.locustfile == "mypkg.users"


def test_cwd_of_every_target_resolves(tmp_path: Path, elsewhere: Path):
    """`cwd` resolves for `target` and for each of `targets` (upstreams)."""
    path = write_scenario(tmp_path, target="{name: api, command: [python3], cwd: svc}",
                          extra="targets: [{name: up, command: [python3], cwd: ../up}]\n")
    scenario = load_scenario(path)
    assert [t.cwd for t in scenario.all_targets] == [str(tmp_path / "svc"),
                                                       str(tmp_path.parent / "up")]


@pytest.mark.parametrize("program", ["./bin/server", "bin/server"])
def test_command_path_resolves_but_other_argv_do_not(tmp_path: Path, elsewhere: Path,
                                                     program: str):
    """command[0] with a slash resolves; the other argv items (placeholders too) are kept."""
    path = write_scenario(tmp_path, target=f'{{command: [{program}, ./data, "{{port}}"]}}')
    command = load_scenario(path).all_targets[0].command
    assert command == [str(tmp_path / "bin" / "server"), "./data", "{port}"]


def test_bare_command_name_is_left_for_path_lookup(tmp_path: Path, elsewhere: Path):
    """A bare command name (python3, nginx) is not made a path."""
    path = write_scenario(tmp_path, target="{command: [python3, -m, http.server]}")
    assert load_scenario(path).all_targets[0].command == ["python3", "-m", "http.server"]


def test_absolute_paths_stay_absolute(tmp_path: Path, elsewhere: Path):
    """Absolute locustfile, cwd and command[0] are kept exactly."""
    path = write_scenario(tmp_path / "sc",
                          target="{command: [/opt/x/server], cwd: /var/tmp}",
                          load="{user: U, locustfile: /opt/x/users.py}")
    scenario = load_scenario(path)
    assert scenario.load.locustfile == "/opt/x/users.py"
    assert scenario.all_targets[0].command == ["/opt/x/server"]
    assert scenario.all_targets[0].cwd == "/var/tmp"


def test_load_options_are_not_paths(tmp_path: Path, elsewhere: Path):
    """load.options reach the users untouched: no option is marked as a path."""
    path = write_scenario(tmp_path, target="{command: [python3]}",
                          load="{user: U, options: {payload: data/body.json}}")
    assert load_scenario(path).load.options == {"payload": "data/body.json"}


def test_set_paths_resolve_against_the_scenario_folder(tmp_path: Path, elsewhere: Path):
    """A path given with --set means the same as in the file: next to the scenario."""
    path = write_scenario(tmp_path / "sc", target="{command: [python3]}")
    scenario = load_scenario(path, sets=["load.locustfile=other.py"])
    assert scenario.load.locustfile == str(tmp_path / "sc" / "other.py")


def test_scenario_by_name_resolves_against_its_own_folder(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch):
    """A scenario given by name (found in scenarios/) resolves against that folder."""
    write_scenario(tmp_path / "scenarios", target="{command: [./serve.sh]}").rename(
        tmp_path / "scenarios" / "named.yaml")
    monkeypatch.chdir(tmp_path)
    command = load_scenario("named").all_targets[0].command
    assert command == [str(tmp_path / "scenarios" / "serve.sh")]


def test_in_code_scenario_resolves_against_the_current_folder(elsewhere: Path):
    """scenario_from_dict without a file resolves against the current folder."""
    scenario = scenario_from_dict({
        "name": "code", "target": {"command": ["./serve.sh"], "cwd": "svc"},
        "load": {"user": "U", "locustfile": "u.py"}, "phases": [{"name": "p", "duration": 1}]})
    assert scenario.load.locustfile == str(elsewhere / "u.py")
    assert scenario.all_targets[0].command == [str(elsewhere / "serve.sh")]
    assert scenario.all_targets[0].cwd == str(elsewhere / "svc")


def test_existing_files_have_no_problems(tmp_path: Path, elsewhere: Path):
    """A scenario whose locustfile, cwd and program all exist has no path problems."""
    (tmp_path / "u.py").write_text("")
    (tmp_path / "svc").mkdir()
    executable(tmp_path / "serve.sh")
    path = write_scenario(tmp_path, target='{command: [./serve.sh, "{port}"], cwd: svc}',
                          load="{user: U, locustfile: u.py}")
    assert path_problems(load_scenario(path)) == []


def test_missing_locustfile_is_named_with_its_absolute_path(tmp_path: Path, elsewhere: Path):
    """A missing locustfile: `load.locustfile: file not found: /abs/path`."""
    path = write_scenario(tmp_path, target="{command: [python3]}",
                          load="{user: U, locustfile: nope.py}")
    assert path_problems(load_scenario(path)) == [
        f"load.locustfile: file not found: {tmp_path / 'nope.py'}"]


def test_missing_cwd_names_the_target_field(tmp_path: Path, elsewhere: Path):
    """A missing cwd of an upstream names it as the file does: `targets[0].cwd`."""
    path = write_scenario(tmp_path, target="{name: api, command: [python3]}",
                          extra="targets: [{name: up, command: [python3], cwd: gone}]\n")
    assert path_problems(load_scenario(path)) == [
        f"targets[0].cwd: folder not found: {tmp_path / 'gone'}"]


def test_missing_program_is_file_not_found(tmp_path: Path, elsewhere: Path):
    """A command[0] path that does not exist: `target.command[0]: file not found: /abs`."""
    path = write_scenario(tmp_path, target="{command: [./bin/server]}")
    assert path_problems(load_scenario(path)) == [
        f"target.command[0]: file not found: {tmp_path / 'bin' / 'server'}"]


def test_program_without_exec_bit_is_not_executable(tmp_path: Path, elsewhere: Path):
    """A command[0] file without the executable bit is named as not executable."""
    (tmp_path / "serve.sh").write_text("#!/bin/sh\n")
    path = write_scenario(tmp_path, target="{command: [./serve.sh]}")
    (problem,) = path_problems(load_scenario(path))
    assert problem.startswith(f"target.command[0]: {tmp_path / 'serve.sh'}: not executable")


def test_program_that_is_a_folder_is_refused(tmp_path: Path, elsewhere: Path):
    """A command[0] that is a folder is not an executable."""
    (tmp_path / "bin").mkdir()
    path = write_scenario(tmp_path, target="{command: [./bin]}")
    assert path_problems(load_scenario(path)) == [
        f"target.command[0]: {tmp_path / 'bin'}: is a folder, not an executable"]


def test_bare_name_missing_from_path(tmp_path: Path, elsewhere: Path):
    """A bare command[0] nowhere on PATH is `not found on PATH`."""
    path = write_scenario(tmp_path, target="{command: [no-such-server-xyz]}")
    assert path_problems(load_scenario(path)) == [
        "target.command[0]: 'no-such-server-xyz' not found on PATH"]


def test_bare_name_is_looked_up_on_the_targets_own_path(tmp_path: Path, elsewhere: Path):
    """A target's env PATH is where its bare command[0] is looked up."""
    executable(tmp_path / "mybin" / "my-server")
    path = write_scenario(tmp_path, target=f"{{command: [my-server], env: {{PATH: {tmp_path / 'mybin'}}}}}")
    assert path_problems(load_scenario(path)) == []


def test_placeholder_in_program_is_not_checked(tmp_path: Path, elsewhere: Path):
    """A command[0] with a placeholder is filled in later, so it is not checked here."""
    path = write_scenario(tmp_path, target="{command: ['./bin/{variant}/server']}")
    scenario = load_scenario(path)
    assert scenario.all_targets[0].command == [str(tmp_path / "bin" / "{variant}" / "server")]
    assert path_problems(scenario) == []


def test_targets_false_checks_only_the_locustfile(tmp_path: Path, elsewhere: Path):
    """Backends that do not start the targets check only what the harness opens."""
    path = write_scenario(tmp_path, target="{command: [./gone], cwd: gone}",
                          load="{user: U, locustfile: gone.py}")
    assert path_problems(load_scenario(path), targets=False) == [
        f"load.locustfile: file not found: {tmp_path / 'gone.py'}"]


def test_validate_exits_2_listing_every_missing_file(tmp_path: Path, elsewhere: Path,
                                                     capsys: pytest.CaptureFixture[str]):
    """`harness validate` exits 2 naming each missing file's field and absolute path."""
    path = write_scenario(tmp_path, target="{command: [./serve.sh], cwd: svc}",
                          load="{user: U, locustfile: u.py}")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"load.locustfile: file not found: {tmp_path / 'u.py'}" in err
    assert f"target.cwd: folder not found: {tmp_path / 'svc'}" in err
    assert f"target.command[0]: file not found: {tmp_path / 'serve.sh'}" in err


def test_validate_for_attach_does_not_check_target_files(tmp_path: Path, elsewhere: Path,
                                                         capsys: pytest.CaptureFixture[str]):
    """`harness validate --backend attach` skips the files of targets it will not start."""
    path = write_scenario(tmp_path, target="{command: [./serve.sh], cwd: svc}")
    assert main(["validate", str(path), "--backend", "attach"]) == 0, capsys.readouterr().err


def test_run_refuses_missing_files_before_anything_starts(tmp_path: Path, elsewhere: Path):
    """run_scenario raises ScenarioError (exit 2) before it creates the run folder."""
    scenario = scenario_from_dict({
        "name": "code", "target": {"command": [sys.executable], "cwd": "gone"},
        "load": {"user": "U"}, "phases": [{"name": "p", "duration": 1}]})
    reports = tmp_path / "reports"
    with pytest.raises(ScenarioError, match=r"target\.cwd: folder not found") as info:
        run_scenario(scenario, RunOptions(reports_root=reports, quiet=True))
    assert info.value.exit_code == 2
    assert not reports.exists()
