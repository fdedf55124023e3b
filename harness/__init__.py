"""Soak Harness: chaos and load tests that find resource leaks before production does.

The public API (everything else is internal and may change)::

    from harness import load_scenario, run_scenario, RunOptions
    outcome = run_scenario(load_scenario("scenarios/smoke.yaml"), RunOptions(quiet=True))
    outcome.summary.verdict        # Verdict.PASS / Verdict.FAIL

Names are imported lazily so ``harness --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Check": "harness.verdicts",
    "EnvironmentFailure": "harness.errors",
    "HarnessError": "harness.errors",
    "InputError": "harness.errors",
    "RunOptions": "harness.run",
    "RunOutcome": "harness.run",
    "Scenario": "harness.scenario",
    "ScenarioError": "harness.errors",
    "Summary": "harness.verdicts",
    "Verdict": "harness.verdicts",
    "analyze": "harness.analysis",
    "load_run": "harness.runfolder",
    "load_scenario": "harness.scenario",
    "run_scenario": "harness.run",
}

__all__ = [
    "Check",
    "EnvironmentFailure",
    "HarnessError",
    "InputError",
    "RunOptions",
    "RunOutcome",
    "Scenario",
    "ScenarioError",
    "Summary",
    "Verdict",
    "analyze",
    "load_run",
    "load_scenario",
    "run_scenario",
]

if TYPE_CHECKING:
    from harness.analysis import analyze
    from harness.errors import EnvironmentFailure, HarnessError, InputError, ScenarioError
    from harness.run import RunOptions, RunOutcome, run_scenario
    from harness.runfolder import load_run
    from harness.scenario import Scenario, load_scenario
    from harness.verdicts import Check, Summary, Verdict


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
