"""Paths in a scenario: resolved against the scenario file's folder, checked before a run.

As in compose files, a relative path means "next to the scenario", whatever folder the
harness is started from. Resolved when the scenario is loaded (so the run folder's
``scenario.yaml`` holds absolute paths):

- ``load.locustfile`` when it names a file (ends in ``.py`` or has a slash); a module name
  (``mypkg.users``) is imported as it is;
- ``cwd`` of every target;
- ``command[0]`` of every target when it has a slash (``./bin/server``, ``bin/server``);
  a bare name (``nginx``, ``python3``) is looked up on ``PATH`` when the target starts.

Absolute paths stay as they are. ``load.options`` are passed to the users untouched (no
option is marked as a path). Whether the files exist is checked separately
(``path_problems``): at ``harness validate`` and before a run starts, never when a run
folder's scenario is read back for a report.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness.scenario._model import Scenario, Target

PLACEHOLDER_START = "{"


def locustfile_is_path(ref: str) -> bool:
    """``load.locustfile`` names a file (not a module) when it ends in .py or has a slash."""
    return ref.endswith(".py") or "/" in ref or "\\" in ref


def _command_is_path(program: str) -> bool:
    """``command[0]`` is a path (not a name looked up on PATH) when it has a slash."""
    return "/" in program


def _against(base_dir: Path | None, ref: str) -> str:
    """``ref`` made absolute against ``base_dir`` (``.``/``..`` folded; symlinks kept)."""
    if os.path.isabs(ref):
        return ref
    return os.path.normpath(os.path.join(os.getcwd() if base_dir is None else base_dir, ref))


def _resolve_target(target: Target, base_dir: Path | None) -> Target:
    update: dict[str, object] = {}
    if target.cwd is not None:
        update["cwd"] = _against(base_dir, target.cwd)
    if target.command and _command_is_path(target.command[0]):
        update["command"] = [_against(base_dir, target.command[0]), *target.command[1:]]
    return target.model_copy(update=update) if update else target


def resolve_paths(scenario: Scenario, base_dir: Path | None) -> Scenario:
    """``scenario`` with its relative paths made absolute against ``base_dir``.

    ``base_dir=None``: the current folder (an in-code scenario has no file to be next to).
    """
    if base_dir is not None:
        base_dir = Path(os.path.abspath(base_dir))
    update: dict[str, object] = {}
    locustfile = scenario.load.locustfile
    if locustfile is not None and locustfile_is_path(locustfile):
        update["load"] = scenario.load.model_copy(
            update={"locustfile": _against(base_dir, locustfile)})
    if scenario.target is not None:
        update["target"] = _resolve_target(scenario.target, base_dir)
    if scenario.targets:
        update["targets"] = [_resolve_target(t, base_dir) for t in scenario.targets]
    return scenario.model_copy(update=update)


def _target_fields(scenario: Scenario) -> list[tuple[str, Target]]:
    """Each target with its field path as the scenario file spells it."""
    named = [("target", scenario.target)] if scenario.target is not None else []
    return named + [(f"targets[{i}]", t) for i, t in enumerate(scenario.targets)]


def _program_problem(where: str, program: str, env_path: str | None) -> str | None:
    if PLACEHOLDER_START in program:
        return None  # filled in when the run is planned; cannot be checked before
    if not _command_is_path(program):
        if shutil.which(program, path=env_path) is None:
            return f"{where}: {program!r} not found on PATH"
        return None
    path = Path(program)
    if not path.exists():
        return f"{where}: file not found: {program}"
    if path.is_dir():
        return f"{where}: {program}: is a folder, not an executable"
    if not os.access(path, os.X_OK):
        return f"{where}: {program}: not executable (chmod +x?)"
    return None


def path_problems(scenario: Scenario, *, targets: bool = True) -> list[str]:
    """One line per path of ``scenario`` that does not exist or cannot run, field named.

    ``targets=False`` checks only what the harness itself opens (the locustfile): for
    backends that do not start the targets (compose, attach).
    """
    problems: list[str] = []
    locustfile = scenario.load.locustfile
    is_file = locustfile is not None and locustfile_is_path(locustfile)
    if is_file and not Path(str(locustfile)).is_file():
        problems.append(f"load.locustfile: file not found: {locustfile}")
    if not targets:
        return problems
    for field, target in _target_fields(scenario):
        if target.cwd is not None and not Path(target.cwd).is_dir():
            problems.append(f"{field}.cwd: folder not found: {target.cwd}")
        if target.command:
            env_path = target.env.get("PATH", os.environ.get("PATH"))
            problem = _program_problem(f"{field}.command[0]", target.command[0], env_path)
            if problem:
                problems.append(problem)
    return problems
