"""Open-file limits: a soak with thousands of connections needs more than the usual 1,024.

At the start of a run the harness raises its own ``RLIMIT_NOFILE`` soft limit to the hard
limit; every process it starts afterwards (toxiproxy-server, the targets, Locust) inherits
it. It also estimates what the scenario needs and says so, before anything starts, when
even the hard limit is lower: a run that hits EMFILE mid-way would fail in ways that look
like the target's fault.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

from harness.scenario import Scenario

BASE_FDS = 256  # the harness, Locust's own files, logs, the sampler's /proc reads
PER_CONNECTION = 3  # Locust's socket, toxiproxy's two (client side and upstream side)


@dataclass(frozen=True)
class FdLimit:
    before: int  # the soft limit found
    soft: int  # the soft limit now
    hard: int
    needed: int  # the scenario's estimate (needed_fds)

    @property
    def too_low(self) -> bool:
        return self.hard != resource.RLIM_INFINITY and self.hard < self.needed

    def message(self) -> str:
        hard = "unlimited" if self.hard == resource.RLIM_INFINITY else str(self.hard)
        line = (f"open files: soft limit {self.before} -> {self.soft} (hard {hard}); this "
                f"scenario needs about {self.needed}")
        if self.too_low:
            line += (f". WARNING: the hard limit {hard} is below that: Locust, toxiproxy or "
                     "the target will run out of file descriptors (EMFILE). Raise it (ulimit "
                     "-Hn as root, LimitNOFILE= in systemd, --ulimit nofile= in docker) or "
                     "lower the load")
        return line


def needed_fds(scenario: Scenario) -> int:
    """Rough FDs the busiest phase needs in one process: a connection per user (or per
    request in flight in the open model), each held by Locust and twice by toxiproxy."""
    if scenario.open_model:
        connections = scenario.load.max_in_flight
    else:
        connections = max([scenario.load.users,
                           *(p.users for p in scenario.phases if p.users is not None)])
    # options some fault clients take: each user may hold up to max_open sockets
    max_open = scenario.load.options.get("max_open")
    if isinstance(max_open, int) and max_open > 1 and not scenario.open_model:
        connections *= max_open
    return BASE_FDS + PER_CONNECTION * connections


def _nr_open() -> int:
    try:
        with open("/proc/sys/fs/nr_open", encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return 1 << 20


def raise_open_files(needed: int) -> FdLimit:
    """Raise this process's soft ``RLIMIT_NOFILE`` to its hard limit (children inherit it).

    A hard limit below ``needed`` is raised too where the process may (root, with
    CAP_SYS_RESOURCE; at most ``fs.nr_open``); elsewhere it stands and ``too_low`` says so.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        wanted = min(needed, _nr_open())
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, wanted), wanted))
            hard = wanted
        except (ValueError, OSError):
            pass  # not privileged: the warning says what to do
    target = hard
    if hard == resource.RLIM_INFINITY:  # setrlimit refuses an infinite soft NOFILE
        target = max(soft, 1 << 20)
    if soft != target and (soft == resource.RLIM_INFINITY or soft < target):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            target = soft  # not allowed here (a container's cap): say what stands
    else:
        target = soft
    return FdLimit(before=soft, soft=target, hard=hard, needed=needed)
