"""The load side: Locust processes driven by the scenario's phases.

``LocustRun`` starts Locust headless as child processes (standalone, or Locust's own master
and workers), feeds it the phase plan, and collects per-second HDR latency windows into the
run folder. Nothing here imports Locust: that happens only inside the Locust processes.
"""

from harness.load._plan import PlanPhase, plan_from_scenario
from harness.load._runner import LoadFailed, LocustRun

__all__ = ["LoadFailed", "LocustRun", "PlanPhase", "plan_from_scenario"]
