"""The load side: Locust processes driven by the scenario's phases.

``LocustRun`` starts Locust headless as child processes (standalone, or Locust's own master
and workers), feeds it the phase plan, and collects per-second HDR latency windows into the
run folder. Nothing here imports Locust: that happens only inside the Locust processes.

For user classes (your own locustfile, or the bundled ones in ``harness.load.users``)::

    from harness.load import option
    path = option("path", "/")      # the scenario's load.options["path"], or "/" without it
"""

from harness.load._options import option
from harness.load._plan import PlanPhase, plan_from_scenario
from harness.load._runner import LoadFailed, LocustRun

__all__ = ["LoadFailed", "LocustRun", "PlanPhase", "option", "plan_from_scenario"]
