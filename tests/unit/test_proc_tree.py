"""Process-tree metrics, pure parts: the TCP table, socket dedupe, specs and defaults."""

from __future__ import annotations

import copy

import pytest

from harness.backends.attach import remote_equivalent
from harness.errors import ScenarioError
from harness.metrics import count_states, parse_tcp_table
from harness.scenario import scenario_from_dict
from tests.unit.analysis_helpers import COMMAND

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1F90 0100007F:C351 08 00000000:00000000 00:00000000 00000000  1000        0 333 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:1F90 0100007F:C352 06 00000000:00000000 03:00001000 00000000     0        0 0 3 0000000000000000
   4: 0100007F:1F90 0100007F:C353 01 00000000:00000000 00:00000000 00000000  1000        0 444 1 0000000000000000 20 4 30 10 -1
   5: 0100007F:1F90 0100007F:C3
"""  # noqa: E501 (real /proc/net/tcp lines)

def test_tcp_table_keeps_established_and_close_wait_only():
    """LISTEN, TIME_WAIT (inode 0), the header and a torn line are all left out."""
    assert parse_tcp_table(TCP) == {222: 0x01, 333: 0x08, 444: 0x01}


def test_shared_socket_counts_once():
    """A socket inherited by a worker (same inode in two processes) is one connection."""
    states = parse_tcp_table(TCP)
    master, worker = {111, 222, 333}, {222, 333, 444}
    assert count_states(master | worker, states) == {"conns": 2, "close_wait": 1}
    assert count_states([222, 222, 999], states) == {"conns": 1, "close_wait": 0}


@pytest.mark.parametrize("key", ["fds", "rss", "threads", "conns", "close_wait"])
def test_command_target_defaults_accept_thresholds(key):
    """A command target with no metrics: is sampled for its tree, so thresholds on it validate."""
    data = copy.deepcopy(COMMAND)
    data["thresholds"] = {key: {"max_growth_per_min": 1}}
    scenario = scenario_from_dict(data)
    assert key in scenario.metric_aliases()


def test_declared_metrics_replace_the_defaults():
    """Once metrics: is given, a threshold on an undeclared default is still an error."""
    data = copy.deepcopy(COMMAND)
    data["target"]["metrics"] = {"conns": "proc:conns:self"}
    data["thresholds"] = {"fds": {"max_growth_per_min": 1}}
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data)
    assert "thresholds.fds" in str(info.value)


@pytest.mark.parametrize("spec,ok", [
    ("proc:close_wait", True), ("proc:fds:self", True), ("proc:conns:self", True),
    ("proc:sockets", False), ("proc:fds:tree", False),
])
def test_proc_specs(spec, ok):
    """proc:<kind> and proc:<kind>:self validate for the five kinds, nothing else."""
    data = copy.deepcopy(COMMAND)
    data["target"]["metrics"] = {"m": spec}
    if ok:
        scenario_from_dict(data)
    else:
        with pytest.raises(ScenarioError):
            scenario_from_dict(data)


def test_remote_backends_map_self_and_drop_connections():
    """attach/compose read :self like the tree form and cannot read a remote TCP table."""
    assert remote_equivalent("proc:fds:self") == "prometheus:process_open_fds"
    assert remote_equivalent("proc:close_wait") is None
    assert remote_equivalent("proc:conns:self", docker=True) is None
