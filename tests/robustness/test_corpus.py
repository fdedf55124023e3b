"""The hostile-input corpus (cases.toml): bad scenarios, --set values, options, environment
values and damaged run folders. Each case asserts the exit code, that stderr names the
field or file, that no traceback and no raw control character reaches the terminal, and
that it was refused quickly (nothing hangs, nothing starts).

Most cases call ``harness.cli.main`` in-process (the same code path as the command, minus
interpreter start-up); the cases marked ``subprocess = true`` and every environment case run
``python -m harness`` as a user would, so the contract is checked both ways.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.report import write_summary
from harness.scenario import apply_set
from harness.testing import SyntheticRun, synthetic_summary, write_synthetic_run

HERE = Path(__file__).resolve().parent
CASES = tomllib.loads((HERE / "cases.toml").read_text(encoding="utf-8"))["case"]
BASE = HERE / "corpus" / "base.yaml"
# Control characters that must never reach a terminal raw (newline and tab are fine).
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Every case is refused before anything starts: a validate takes milliseconds, the slowest
# (a 256 KiB file, the 100,000-node alias count) well under a second on an idle core. 20 s
# leaves room for a machine whose two cores are busy with other test workers.
MAX_SECONDS = 20.0


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = [f"    l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines)


BASE_HEAD = "name: x\ntarget: {sample: healthy}\nphases: [{name: w, duration: 5s}]\n"

# name -> the scenario file's bytes
GENERATORS: dict[str, Callable[[], bytes]] = {
    "not_utf8": lambda: b"name: x\ndescription: caf\xe9 \xff\n",
    "utf16": lambda: BASE.read_text(encoding="utf-8").encode("utf-16"),
    "nul_byte": lambda: b"name: x\ndescription: a\x00b\n",
    "raw_escape": lambda: b"name: \x1b[31mred\n",
    "deep_flow": lambda: (BASE_HEAD + "load: {user: U, options: {a: " + "[" * 5000
                          + "]" * 5000 + "}}\n").encode(),
    "deep_mapping": lambda: (BASE_HEAD + "load: {user: U, options: " + "{a: " * 3000
                             + "1" + "}" * 3000 + "}\n").encode(),
    "deep_block": lambda: (BASE_HEAD + "load:\n  user: U\n  options:\n    a:\n"
                           + "".join(" " * (6 + 2 * i) + "-\n" for i in range(200))).encode(),
    "alias_bomb": lambda: (BASE_HEAD + "load:\n  user: HttpApiUser\n  options:\n"
                           + _alias_bomb() + "\n").encode(),
    "alias_bomb_top": lambda: ("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                               + "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n"
                                         for p, c in zip("abcdefgh", "bcdefghi", strict=True))
                               + BASE_HEAD).encode(),
    "too_big": lambda: (BASE_HEAD + "description: " + "x" * 300_000 + "\n").encode(),
    "random_bytes": lambda: bytes((i * 7919 + 13) % 256 for i in range(4096)),
    "int_overflow_duration": lambda: (
        "name: x\ntarget: {sample: healthy}\nload: {user: HttpApiUser}\n"
        f"phases: [{{name: w, duration: {'9' * 400}}}]\n").encode(),
}

# name -> extra argv (the case's argv is ["validate", "{base}", *these])
ARGV_GENERATORS: dict[str, Callable[[], list[str]]] = {
    "set_huge_index": lambda: ["--set", f"phases[{'9' * 5000}].duration=5s"],
    "set_alias_bomb": lambda: ["--set", "load.options={" + ", ".join(
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'lol'] * 9)}]"
        for i in range(9)) + "}"],
    "set_deep_value": lambda: ["--set", "load.options=" + "[" * 3000 + "]" * 3000],
}


def _deep_json(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


# name -> a function damaging the run folder
DAMAGE_GENERATORS: dict[str, Callable[[Path], None]] = {
    "deep_json_manifest": lambda run: (run / "run.json").write_text(_deep_json()),
    "deep_json_event": lambda run: _replace_line(run / "events.jsonl", 2,
                                                 (_deep_json() + "\n").encode()),
    "deep_json_summary": lambda run: (run / "summary.json").write_text(
        '{"checks": ' + _deep_json() + "}"),
    "alias_bomb_scenario": lambda run: (run / "scenario.yaml").write_bytes(
        GENERATORS["alias_bomb"]()),
    "summary_bad_verdict": lambda run: (run / "summary.json").write_text(re.sub(
        r'"verdict": "\w+"', '"verdict": "maybe"', (run / "summary.json").read_text(), count=1)),
}


def _replace_line(path: Path, number: int, data: bytes) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) >= number, f"{path} has only {len(lines)} lines"
    lines[number - 1] = data
    path.write_bytes(b"".join(lines))


def _damage(run: Path, op: dict[str, Any]) -> None:
    path = run / op["file"]
    if "line" in op:
        data = bytes.fromhex(op["hex"]) if "hex" in op else (op["text"] + "\n").encode()
        _replace_line(path, op["line"], data)
    elif op.get("delete"):
        path.unlink()
    elif op.get("folder"):
        if path.exists():
            path.unlink()
        path.mkdir()
        (path / "inside").write_text("x")
    elif "truncate" in op:
        path.write_bytes(path.read_bytes()[: op["truncate"]])
    elif "hex" in op:
        path.write_bytes(bytes.fromhex(op["hex"]))
    elif "append" in op:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(op["append"])
    else:
        path.write_text(op["text"], encoding="utf-8")


@pytest.fixture(scope="module")
def template_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic run folder with its summary.json (reports not rendered: fast)."""
    spec = SyntheticRun(duration_s=40.0)
    run = write_synthetic_run(tmp_path_factory.mktemp("template") / "run", spec)
    write_summary(run, synthetic_summary(spec))
    return run


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float


def _in_process(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Outcome:
    start = time.monotonic()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: --version, --help, usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    seconds = time.monotonic() - start
    out = capsys.readouterr()
    return Outcome(code, out.out, out.err, seconds)


def _subprocess(argv: list[str], env: dict[str, str], cwd: Path) -> Outcome:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")
                or k == "HARNESS_TOOLS_DIR"}
    full_env.update(env)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "harness", *argv], cwd=cwd, env=full_env,
                          capture_output=True, text=True, errors="surrogateescape",
                          timeout=120)
    return Outcome(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


def _prepare(case: dict[str, Any], tmp: Path, template: Path) -> list[str]:
    """Write the case's inputs under ``tmp``; its argv with placeholders filled."""
    afile = tmp / "afile.txt"
    afile.write_text("a regular file\n")
    scenario = tmp / "scenario.yaml"
    if "set" in case:
        data = yaml.safe_load(BASE.read_text(encoding="utf-8"))
        for assignment in case["set"]:
            apply_set(data, assignment)
        scenario.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    elif "scenario" in case:
        scenario.write_text(case["scenario"], encoding="utf-8")
    elif "generate" in case:
        scenario.write_bytes(GENERATORS[case["generate"]]())
    run, clean = tmp / "run", tmp / "clean"
    if "damage" in case or "generate_damage" in case or any(
            "{clean}" in a for a in case.get("argv", [])):
        shutil.copytree(template, run)
        shutil.copytree(template, clean)
        for op in case.get("damage", []):
            _damage(run, op)
        if "generate_damage" in case:
            DAMAGE_GENERATORS[case["generate_damage"]](run)
    argv = list(case.get("argv", ["validate", "{scenario}"]))
    if "generate_argv" in case:
        argv = ["validate", "{base}", *ARGV_GENERATORS[case["generate_argv"]]()]
    places = {"{scenario}": scenario, "{base}": BASE, "{run}": run, "{clean}": clean,
              "{tmp}": tmp, "{file}": afile}

    def fill(text: str) -> str:
        for key, value in places.items():
            text = text.replace(key, str(value))
        return text

    case["_env"] = {k: fill(v) for k, v in case.get("env", {}).items()}
    return [fill(a) for a in argv]


def test_corpus_is_large_and_ids_unique() -> None:
    """The corpus holds at least 100 hostile inputs, each with its own id."""
    ids = [c["id"] for c in CASES]
    assert len(ids) >= 100
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_hostile_input(case: dict[str, Any], tmp_path: Path, template_run: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    """One hostile input: the documented exit code, the field or file named, no traceback,
    no raw control character on the terminal, refused quickly."""
    case = dict(case)
    argv = _prepare(case, tmp_path, template_run)
    if case.get("subprocess") or case["_env"]:
        outcome = _subprocess(argv, case["_env"], tmp_path)
    else:
        outcome = _in_process(argv, capsys)
    shown = f"exit {outcome.code}\nstdout:\n{outcome.stdout[-3000:]}\nstderr:\n" \
            f"{outcome.stderr[-3000:]}"
    assert "Traceback" not in outcome.stderr + outcome.stdout, shown
    assert outcome.code == case.get("exit", 2), shown
    for name in case.get("names", []):
        assert name in outcome.stderr, f"{name!r} not named\n{shown}"
    assert not RAW_CONTROL.search(outcome.stdout + outcome.stderr), \
        f"raw control character on the terminal: {(outcome.stdout + outcome.stderr)!r}"
    assert outcome.seconds < MAX_SECONDS, f"took {outcome.seconds:.1f}s\n{shown}"
    if case.get("exit", 2) != 0:
        assert not (tmp_path / "out").exists(), "a run folder was created for bad input"
