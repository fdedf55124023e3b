"""Open-file limits: a soak with thousands of connections needs more than the usual 1,024.

At the start of a run the harness raises its own ``RLIMIT_NOFILE`` soft limit to the hard
limit; every process it starts afterwards (toxiproxy-server, the targets, Locust) inherits
it. It also estimates what the scenario needs and says so, before anything starts, when
even the hard limit is lower: a run that hits EMFILE mid-way would fail in ways that look
like the target's fault.

Toxiproxy holds two descriptors per proxied connection (the client's side and the
upstream's), so one toxiproxy-server process carries at most about half its hard limit in
connections (9,900 under a hard limit of 20,000 that the harness may not raise). The local
backend therefore runs as many toxiproxy-server processes as the scenario's connections
need (``toxiproxy_processes``): each proxy listens in every one of them, faults apply to all
of them, and the load spreads its users over their listen addresses.
"""

from __future__ import annotations

import math
import resource
from dataclasses import dataclass

from harness.scenario import Scenario

BASE_FDS = 256  # the harness, Locust's own files, logs, the sampler's /proc reads
PER_PROXIED = 2  # toxiproxy's two descriptors per connection (client side and upstream side)
TOXIPROXY_OWN_FDS = 256  # toxiproxy-server's own: API listener, proxy listeners, runtime, slack
MAX_TOXIPROXY_PROCESSES = 16


@dataclass(frozen=True)
class FdLimit:
    before: int  # the soft limit found
    soft: int  # the soft limit now
    hard: int
    needed: int  # the scenario's estimate for its busiest process (needed_fds)

    @property
    def too_low(self) -> bool:
        return self.hard != resource.RLIM_INFINITY and self.hard < self.needed

    def message(self) -> str:
        hard = "unlimited" if self.hard == resource.RLIM_INFINITY else str(self.hard)
        line = (f"open files: soft limit {self.before} -> {self.soft} (hard {hard}); the "
                f"busiest process of this scenario needs about {self.needed}")
        if self.too_low:
            line += (f". WARNING: the hard limit {hard} is below that: Locust, toxiproxy or "
                     "the target will run out of file descriptors (EMFILE). Raise it (ulimit "
                     "-Hn as root, LimitNOFILE= in systemd, --ulimit nofile= in docker), "
                     "spread Locust over load.workers, or lower the load")
        return line


def connections(scenario: Scenario) -> int:
    """Concurrent connections of the busiest phase: a connection per user (each of
    ``max_open`` sockets for the fault clients that hold several, but no more than one per
    ``every`` seconds of the whole timeline), or per request in flight in the open model."""
    if scenario.open_model:
        return scenario.load.max_in_flight
    count = max([scenario.load.users,
                 *(p.users for p in scenario.phases if p.users is not None)])
    max_open = scenario.load.options.get("max_open")
    if isinstance(max_open, int) and max_open > 1:
        every = scenario.load.options.get("every")
        if isinstance(every, (int, float)) and not isinstance(every, bool) and every > 0:
            # a user opens one every `every` s: it never holds more than it opened in the run
            max_open = min(max_open, math.ceil(scenario.duration / every) + 1)
        count *= max_open
    return count


def needed_fds(scenario: Scenario, toxiproxy_processes: int = 1) -> int:
    """Rough FDs the busiest process of the run needs: each toxiproxy-server two per
    connection it carries (the connections spread over ``toxiproxy_processes``), Locust and
    the target one per connection (more Locust workers split it; the target may not)."""
    conns = connections(scenario)
    proxied = PER_PROXIED * math.ceil(conns / max(1, toxiproxy_processes)) if scenario.proxies else 0
    return BASE_FDS + max(proxied, conns)


def toxiproxy_processes(scenario: Scenario, hard: int | None = None) -> int:
    """How many toxiproxy-server processes the local backend runs: the scenario's
    ``toxiproxy_processes`` when it sets one, else as many as keep each under the open-file
    hard limit ``hard`` (default: this process's) with two FDs per proxied connection; none
    when the scenario declares no proxy (nothing to carry)."""
    if not scenario.proxies:
        return 0
    if scenario.toxiproxy_processes is not None:
        return scenario.toxiproxy_processes
    if hard is None:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return 1
    per_process = max(1, (hard - TOXIPROXY_OWN_FDS) // PER_PROXIED)
    return max(1, min(MAX_TOXIPROXY_PROCESSES, math.ceil(connections(scenario) / per_process)))


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
