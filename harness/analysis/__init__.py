"""Analysis: a run's series, latency and events turned into checks with evidence.

``analyze(run, scenario)`` is the one entry point (the orchestrator calls it at the end of
a run, ``harness report`` on an old run folder). docs/thresholds.md documents every check.
"""

from harness.analysis._analyze import analyze

__all__ = ["analyze"]
