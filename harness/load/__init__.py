"""The load side: Locust processes driven by the scenario's phases.

``LocustRun`` starts Locust headless as child processes (standalone, or Locust's own master
and workers), feeds it the phase plan, and collects per-second HDR latency windows into the
run folder. Nothing here imports Locust: that happens only inside the Locust processes.

For user classes (your own locustfile, or the bundled ones in ``harness.load.users``)::

    from harness.load import option
    path = option("path", "/")      # the scenario's load.options["path"], or "/" without it
    with in_flight("WS", "ping"):   # a non-HTTP exchange that may hang: counted at phase
        ...                         # edges under this type and name (fire its request event
                                    # inside the block, with the same type and name)
"""

from harness.load._arrival import (
    ARRIVAL_COUNTS,
    ARRIVAL_ENV,
    ARRIVALS_COLUMNS,
    ARRIVALS_FILE,
    ArrivalPlan,
    Step,
    arrival_counts,
    arrival_plan,
    decode_arrival,
    encode_arrival,
    intended_offsets,
    requested,
)
from harness.load._inflight import STUCK_FACTOR, STUCK_FLOOR_S, InFlight, in_flight, request_name
from harness.load._options import option
from harness.load._plan import (
    HEARTBEAT_FILE,
    LOAD_START_FILE,
    InPhase,
    PlanPhase,
    Wait,
    decide,
    decode_plan,
    encode_plan,
    heartbeat_alive,
    phase_at,
    plan_from_scenario,
)
from harness.load._runner import LoadFailed, LocustRun, write_locustfile
from harness.load._userclass import HOSTS_ENV, spread_hosts
from harness.load._windows import (
    HIGHEST_US,
    LOWEST_US,
    NAME_CAP,
    OTHER_KEY,
    SIGNIFICANT_DIGITS,
    Accumulator,
    LatencyFiles,
    Merger,
    NameCap,
    Window,
    decode_windows,
    encode_windows,
    new_histogram,
    to_micros,
)

__all__ = [
    "ARRIVALS_COLUMNS",
    "ARRIVALS_FILE",
    "ARRIVAL_COUNTS",
    "ARRIVAL_ENV",
    "HEARTBEAT_FILE",
    "HIGHEST_US",
    "HOSTS_ENV",
    "LOAD_START_FILE",
    "LOWEST_US",
    "NAME_CAP",
    "OTHER_KEY",
    "SIGNIFICANT_DIGITS",
    "STUCK_FACTOR",
    "STUCK_FLOOR_S",
    "Accumulator",
    "ArrivalPlan",
    "InFlight",
    "InPhase",
    "LatencyFiles",
    "LoadFailed",
    "LocustRun",
    "Merger",
    "NameCap",
    "PlanPhase",
    "Step",
    "Wait",
    "Window",
    "arrival_counts",
    "arrival_plan",
    "decide",
    "decode_arrival",
    "decode_plan",
    "decode_windows",
    "encode_arrival",
    "encode_plan",
    "encode_windows",
    "heartbeat_alive",
    "in_flight",
    "intended_offsets",
    "new_histogram",
    "option",
    "phase_at",
    "plan_from_scenario",
    "request_name",
    "requested",
    "spread_hosts",
    "to_micros",
    "write_locustfile",
]
