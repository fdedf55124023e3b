"""Reading scenario files: YAML, overrides, variant, duration scale, then validation."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import ScenarioError
from harness.scenario._model import Scenario
from harness.scenario._paths import resolve_paths
from harness.scenario._types import MAX_DURATION, format_duration
from harness.scenario._yaml import MAX_BYTES, YamlLimitError, load_yaml

SCENARIO_DIRS = (Path("scenarios"), Path(__file__).resolve().parents[2] / "scenarios")


def resolve_path(ref: str | Path) -> Path:
    """A scenario path, or a name found in ``scenarios/`` (``smoke``, ``examples/nginx/nginx``:
    the names ``harness list`` prints)."""
    path = Path(ref)
    if path.exists():
        return path
    if path.suffix == "" and not path.is_absolute() and ".." not in path.parts:
        for folder in SCENARIO_DIRS:
            candidate = folder / f"{path}.yaml"
            if candidate.exists():
                return candidate
    raise ScenarioError(str(ref), ["file not found (give a path or a name in scenarios/)"])


def read_capped(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of ``path``, reading at most one byte past ``limit`` (a device or a pipe
    that never ends cannot hang the read; load_yaml then says it is too big)."""
    with path.open("rb") as fh:
        return fh.read(limit + 1)


def format_location(loc: tuple[int | str, ...]) -> str:
    """``('phases', 1, 'faults', 0, 'type')`` -> ``phases[1].faults[0].type``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after[_something_to_check()]",) or str(part).startswith(
            ("function-", "tagged-union")
        ):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _validation_lines(exc: ValidationError) -> list[str]:
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        where = format_location(tuple(err["loc"]))
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        for line in msg.splitlines():
            # cross-reference errors already carry their own path
            sub = re.match(r"^(attributes\.\w+): (.*)$", line)
            if not where:
                lines.append(line)
            elif sub:
                lines.append(f"{where}.{sub.group(1)}: {sub.group(2)}")
            else:
                lines.append(f"{where}: {line}")
    return lines


_SET_PATH = re.compile(r"[^.\[\]]+|\[\d+\]")


def apply_set(data: dict[str, Any], assignment: str) -> None:
    """Apply ``key.path=value`` (``phases[1].duration=5s``); the value is parsed as YAML."""
    if "=" not in assignment:
        raise ScenarioError("--set", [f"{assignment!r}: expected key=value"])
    key, raw = assignment.split("=", 1)
    try:
        parts: list[str | int] = [
            int(p[1:-1]) if p.startswith("[") else (int(p) if p.isdigit() else p)
            for p in _SET_PATH.findall(key.strip())
        ]
    except ValueError as exc:  # an index of thousands of digits
        raise ScenarioError("--set", [f"{key[:40]!r}...: no such field ({exc})"]) from exc
    if not parts:
        raise ScenarioError("--set", [f"{assignment!r}: empty key"])
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        try:
            if isinstance(part, int):
                node = node[part]
            else:
                node = node.setdefault(part, [] if isinstance(nxt, int) else {})
        except (IndexError, KeyError, TypeError, AttributeError) as exc:
            raise ScenarioError("--set", [f"{key}: no such field ({exc})"]) from exc
    last = parts[-1]
    try:
        value = load_yaml(raw)
    except YamlLimitError as exc:
        raise ScenarioError("--set", [f"{key}: the value {raw!r} is not usable YAML: {exc}"]) from exc
    try:
        node[last] = value
    except (IndexError, TypeError) as exc:
        raise ScenarioError("--set", [f"{key}: no such field ({exc})"]) from exc


def load_scenario(
    ref: str | Path,
    *,
    variant: str | None = None,
    sets: list[str] | tuple[str, ...] = (),
    duration_scale: float = 1.0,
) -> Scenario:
    """Read, override and validate a scenario. Raises ScenarioError naming each bad field.

    Relative paths in it resolve against the file's folder (see ``resolve_paths``).
    """
    path = resolve_path(ref)
    try:
        raw = load_yaml(read_capped(path))
    except YamlLimitError as exc:
        raise ScenarioError(str(path), [str(exc)]) from exc
    except OSError as exc:
        raise ScenarioError(str(path), [f"cannot read: {exc.strerror or exc}"]) from exc
    if not isinstance(raw, dict):
        raise ScenarioError(str(path), ["the file must be a mapping (name:, target:, load:, phases:)"])
    return scenario_from_dict(raw, source=str(path), variant=variant, sets=sets,
                              duration_scale=duration_scale, base_dir=path.parent.resolve())


def scenario_from_dict(
    raw: dict[str, Any],
    *,
    source: str = "<scenario>",
    variant: str | None = None,
    sets: list[str] | tuple[str, ...] = (),
    duration_scale: float = 1.0,
    base_dir: Path | None = None,
) -> Scenario:
    """Validate an already-parsed scenario mapping (see load_scenario).

    Relative paths resolve against ``base_dir`` (default: the current folder).
    """
    data = copy.deepcopy(raw)
    for assignment in sets:
        apply_set(data, assignment)
    if variant is not None:
        if variant not in ("leaky", "fixed"):
            raise ScenarioError("--variant", [f"{variant!r}: must be 'leaky' or 'fixed'"])
        data["variant"] = variant
        for key in ("target",):
            if isinstance(data.get(key), dict) and "sample" in data[key]:
                data[key]["variant"] = variant
        for t in data.get("targets") or []:
            if isinstance(t, dict) and "sample" in t and t.get("variant_fixed") is None:
                t["variant"] = variant
    if not math.isfinite(duration_scale) or duration_scale <= 0:
        raise ScenarioError("--duration-scale", [f"{duration_scale}: must be a finite number > 0"])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, _validation_lines(exc)) from exc
    if duration_scale != 1.0:
        phases = [p.model_copy(update={"duration": max(1.0, p.duration * duration_scale)})
                  for p in scenario.phases]
        too_long = [f"phases[{i}].duration: {format_duration(p.duration)} after "
                    f"--duration-scale {duration_scale:g} is longer than "
                    f"{format_duration(MAX_DURATION)}"
                    for i, p in enumerate(phases) if p.duration > MAX_DURATION]
        if too_long:
            raise ScenarioError(source, too_long)
        scenario = scenario.model_copy(update={"phases": phases})
    scenario = resolve_paths(scenario, base_dir)
    if scenario.variant is None:
        variants = {t.variant for t in scenario.all_targets if t.variant}
        if len(variants) == 1:
            scenario = scenario.model_copy(update={"variant": variants.pop()})
    return scenario
