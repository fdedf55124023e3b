"""The detection matrix: every leaky sample fails on the metric it leaks, every fixed one passes.

This is the measure of the whole product. Each scenario with leaky/fixed variants runs both
ways through the real CLI (real toxiproxy-server, real Locust, real targets on 127.0.0.1),
scaled to at most ~30 s of timeline.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from harness.scenario import load_scenario
from tests.conftest import REPO, processes_with_env, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

MAX_TIMELINE_S = 30.0

# scenario -> the metric(s) its leaky variant must fail on (a failing check on one of them)
LEAKS: dict[str, set[str]] = {
    "stalled_stream": {"tasks", "fds"},
    "slow_reader": {"tasks", "rss"},
    "retained_buffers": {"rss"},
    "unbounded_spawn": {"tasks"},
    "response_leak": {"fds"},
    "client_per_request": {"fds"},
    "no_timeout": {"tasks", "fds"},
    "retry_storm": {"tasks"},
    "go_leaks": {"goroutines", "fds"},
    "vanished_stream": {"tasks", "fds"},
}


def matrix_scenarios() -> list[Path]:
    """Every bundled scenario that has leaky/fixed variants."""
    found = []
    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        scenario = load_scenario(path)
        if scenario.variant is not None:
            found.append(path)
    return found


def scale_for(path: Path) -> float:
    duration = load_scenario(path).duration
    return min(1.0, MAX_TIMELINE_S / duration)


def test_matrix_covers_every_variant_scenario():
    """Every scenario with variants is in the matrix table (so a new pattern cannot be skipped)."""
    names = {p.stem for p in matrix_scenarios()}
    assert names, "no scenario with variants found"
    assert names <= set(LEAKS), f"add these to LEAKS: {sorted(names - set(LEAKS))}"


CASES = [(p, v) for p in matrix_scenarios() for v in ("leaky", "fixed")]


@pytest.mark.parametrize(("path", "variant"), CASES,
                         ids=[f"{p.stem}-{v}" for p, v in CASES])
def test_detection(path: Path, variant: str, tmp_path: Path):
    """Leaky exits 1 with a failing check on the leaked metric; fixed exits 0."""
    if path.stem == "go_leaks" and not (REPO / ".tools/bin/goleaks").exists():
        pytest.skip("Go sample not built (no Go on this machine): `harness setup` builds it")
    if any(t.netns for t in load_scenario(path).all_targets) and (
            sys.platform != "linux" or os.geteuid() != 0):
        pytest.skip("a target in its own network namespace needs Linux and root")
    out = tmp_path / "run"
    scale = scale_for(path)
    result = run_cli("run", str(path), "--variant", variant, "--duration-scale", f"{scale:.3f}",
                     "--out", str(out), "-q", timeout=140)
    summary = json.loads((out / "summary.json").read_text())
    failed = [c for c in summary["checks"]
              if c["verdict"] in ("fail", "error") and c["category"] != "tool"]
    story = "\n".join(f"{c['name']}: {c['verdict']}: {c['detail']}" for c in summary["checks"])
    assert summary["status"] == "completed", story + result.stderr[-2000:]
    if variant == "leaky":
        assert result.returncode == 1, story
        leaked = {c["metric"] for c in failed}
        assert leaked & LEAKS[path.stem], f"no failing check on {LEAKS[path.stem]}:\n{story}"
        md = (out / "report.md").read_text(encoding="utf-8")  # plain Markdown, also failing
        assert not [bad for bad in ("&#x27;", "&gt;", "&quot;", "['") if bad in md], md
    else:
        assert result.returncode == 0, f"fixed variant flagged:\n{story}"
        assert not failed
    assert not processes_with_env(f"HARNESS_RUN_ID={out.resolve()}")
