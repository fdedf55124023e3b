"""The open-file limit: raised to the hard limit at start, and a too-low hard limit said."""

from __future__ import annotations

import resource

import pytest

from harness.limits import FdLimit, connections, needed_fds, raise_open_files, toxiproxy_processes
from harness.scenario import scenario_from_dict


def _raw(load: dict[str, object], phases: list[dict[str, object]], *,
         proxies: bool = False) -> dict[str, object]:
    return {"name": "fd", "target": {"sample": "healthy"}, "load": load, "phases": phases,
            **({"proxies": [{"name": "front", "upstream": "target"}]} if proxies else {})}


def _scenario(load: dict[str, object], phases: list[dict[str, object]], *,
              proxies: bool = False):
    return scenario_from_dict(_raw(load, phases, proxies=proxies))


def test_needed_fds_follows_the_busiest_phase_and_the_open_model_cap():
    """The busiest process: one FD per user of the busiest phase (Locust, the target) and
    two per connection in Toxiproxy (+256); open model: per request in flight."""
    closed = _scenario({"user": "HttpApiUser", "users": 10},
                       [{"name": "a", "duration": 5}, {"name": "b", "duration": 5, "users": 4000}])
    assert needed_fds(closed) == 256 + 4000  # no proxy: Locust's and the target's one each
    proxied = _scenario({"user": "HttpApiUser", "users": 4000}, [{"name": "a", "duration": 5}],
                        proxies=True)
    assert needed_fds(proxied) == 256 + 2 * 4000
    assert needed_fds(proxied, toxiproxy_processes=2) == 256 + 4000
    assert needed_fds(proxied, toxiproxy_processes=4) == 256 + 4000  # then Locust's is the max
    opened = _scenario({"user": "OpenHttpUser", "arrival_rate": 50, "max_in_flight": 500},
                       [{"name": "a", "duration": 5}], proxies=True)
    assert needed_fds(opened) == 256 + 2 * 500


def test_toxiproxy_processes_keep_each_under_the_hard_limit():
    """Two FDs per proxied connection: 10,000 stalled sockets under a hard limit of 20,000
    need two toxiproxy-server processes; a scenario's own number wins; no proxy, none."""
    stalled = {"user": "StalledClient", "users": 100, "options": {"max_open": 100}}
    many = _scenario(stalled, [{"name": "a", "duration": 5}], proxies=True)
    assert connections(many) == 10_000
    assert toxiproxy_processes(many, hard=20_000) == 2
    assert toxiproxy_processes(many, hard=1 << 20) == 1
    assert toxiproxy_processes(many, hard=resource.RLIM_INFINITY) == 1
    assert toxiproxy_processes(many, hard=2_000) == 12  # 872 each
    assert toxiproxy_processes(many, hard=1_000) == 16  # capped: the fd_limit warning says it
    few = _scenario({"user": "HttpApiUser", "users": 100}, [{"name": "a", "duration": 5}],
                    proxies=True)
    assert toxiproxy_processes(few, hard=20_000) == 1
    assert toxiproxy_processes(_scenario(stalled, [{"name": "a", "duration": 5}]),
                               hard=20_000) == 0  # nothing proxied
    fixed = scenario_from_dict({**_raw(stalled, [{"name": "a", "duration": 5}], proxies=True),
                                "toxiproxy_processes": 3})
    assert toxiproxy_processes(fixed, hard=1 << 20) == 3


def test_fault_clients_hold_no_more_than_they_can_open_in_the_run():
    """max_open is a cap, not a count: 10 users opening one a second over a 60 s timeline
    hold at most 61 each (the redis and nginx examples: 610, one toxiproxy-server and no
    warning), whatever max_open says; without `every` the cap stands."""
    phases = [{"name": "a", "duration": 10}, {"name": "b", "duration": 30},
              {"name": "c", "duration": 20}]
    paced = _scenario({"user": "StalledClient", "users": 10,
                       "options": {"every": 1, "max_open": 1000}}, phases, proxies=True)
    assert connections(paced) == 10 * 61
    assert toxiproxy_processes(paced, hard=20_000) == 1
    fast = _scenario({"user": "StalledClient", "users": 10,
                      "options": {"every": 0.01, "max_open": 1000}}, phases, proxies=True)
    assert connections(fast) == 10 * 1000
    unpaced = _scenario({"user": "StalledClient", "users": 10, "options": {"max_open": 1000}},
                        phases, proxies=True)
    assert connections(unpaced) == 10 * 1000


def test_the_soft_limit_is_raised_to_the_hard_limit():
    """After the call the soft limit is the hard one (restored afterwards)."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, before[1]), before[1]))
        limit = raise_open_files(100)
        assert limit.before == min(256, before[1])
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == limit.soft
        if before[1] != resource.RLIM_INFINITY:
            assert limit.soft == before[1]
        assert not limit.too_low and "WARNING" not in limit.message()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


@pytest.mark.parametrize(("hard", "needed", "warned"), [(1024, 30_256, True),
                                                        (1_048_576, 30_256, False)])
def test_a_hard_limit_below_the_estimate_is_said_plainly(hard, needed, warned):
    """The message names the hard limit, the estimate and how to raise it."""
    limit = FdLimit(before=1024, soft=hard, hard=hard, needed=needed)
    assert limit.too_low is warned
    assert ("WARNING: the hard limit 1024 is below" in limit.message()) is warned
