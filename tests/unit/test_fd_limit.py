"""The open-file limit: raised to the hard limit at start, and a too-low hard limit said."""

from __future__ import annotations

import resource

import pytest

from harness.limits import FdLimit, needed_fds, raise_open_files
from harness.scenario import scenario_from_dict


def _scenario(load: dict[str, object], phases: list[dict[str, object]]):
    return scenario_from_dict({"name": "fd", "target": {"sample": "healthy"}, "load": load,
                               "phases": phases})


def test_needed_fds_follows_the_busiest_phase_and_the_open_model_cap():
    """Closed: 3 FDs per user of the busiest phase (+256); open: per request in flight."""
    closed = _scenario({"user": "HttpApiUser", "users": 10},
                       [{"name": "a", "duration": 5}, {"name": "b", "duration": 5, "users": 4000}])
    assert needed_fds(closed) == 256 + 3 * 4000
    opened = _scenario({"user": "OpenHttpUser", "arrival_rate": 50, "max_in_flight": 500},
                       [{"name": "a", "duration": 5}])
    assert needed_fds(opened) == 256 + 3 * 500


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
