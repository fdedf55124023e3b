"""Faults below TCP: the scenario model, the refusals, the rules, the run's timeline."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from harness import RunOptions
from harness.backends import Netns, NetnsAddresses, make_backend, netns_problems
from harness.errors import EnvironmentFailure, InputError, ScenarioError
from harness.metrics.sources import make_source, read_snmp
from harness.run import Run
from harness.scenario import NetworkFault, scenario_from_dict
from harness.testing import CallLog, FakeBackend, FakeLoad


def scenario(fault: dict[str, Any] | None = None, *, netns: bool = True,
             metrics: dict[str, str] | None = None) -> Any:
    fault = fault or {"target": "api", "type": "blackhole"}
    return scenario_from_dict({
        "name": "net",
        "target": {"name": "api", "command": ["true"], "netns": netns,
                   **({"metrics": metrics} if metrics else {})},
        "proxies": [{"name": "front", "upstream": "api"}],
        "load": {"user": "HttpApiUser", "users": 1},
        "sample_interval": "0.1s",
        "phases": [{"name": "warmup", "duration": "0.3s"},
                   {"name": "chaos", "duration": "0.3s", "network_faults": [fault]},
                   {"name": "recovery", "duration": "0.3s", "users": 0}],
    })


@pytest.mark.parametrize(("fault", "message"), [
    ({"type": "blackhol"}, "did you mean 'blackhole'"),
    ({"type": "packet_loss"}, "packet_loss needs percent"),
    ({"type": "packet_loss", "percent": 0}, "greater than 0"),
    ({"type": "packet_loss", "percent": 101}, "less than or equal to 100"),
    ({"type": "blackhole", "percent": 5}, "only packet_loss takes it"),
    ({"type": "partition"}, "partition needs upstream"),
    ({"type": "partition", "upstream": "db:0"}, "must be host:port"),
    ({"type": "partition", "upstream": "Not A Name"}, "must be host:port"),
    ({"type": "partition", "upstream": "db:5432", "direction": "in"}, "cuts both ways"),
    ({"type": "blackhole", "upstream": "db:5432"}, "only partition takes it"),
    ({"type": "packet_loss", "percent": 5, "heal": True}, "only blackhole takes it"),
    ({"type": "blackhole", "direction": "sideways"}, "direction"),
])
def test_bad_network_faults_are_refused_naming_the_field(fault: dict[str, Any], message: str):
    """Each malformed network fault is refused with a message that says what to change."""
    with pytest.raises((ValidationError, ScenarioError)) as err:
        scenario({"target": "api", **fault})
    assert message in str(err.value)


def test_a_network_fault_needs_its_target_in_a_namespace():
    """validate refuses network faults on a target without netns: true, naming the field."""
    with pytest.raises((ValidationError, ScenarioError)) as err:
        scenario(netns=False)
    assert "phases[1].network_faults[0].target" in str(err.value)
    assert "set netns: true" in str(err.value)
    with pytest.raises((ValidationError, ScenarioError)) as err:
        scenario({"target": "ap", "type": "blackhole"})
    assert "no target named 'ap' (did you mean 'api'?)" in str(err.value)


def test_a_partition_upstream_is_host_port_or_another_target():
    """partition's upstream: host:port, or another target by name (not itself, not a typo)."""
    assert scenario({"target": "api", "type": "partition", "upstream": "db:5432"})
    for bad, message in (("ap", "is neither another target"), ("api", "is neither")):
        with pytest.raises((ValidationError, ScenarioError)) as err:
            scenario({"target": "api", "type": "partition", "upstream": bad})
        assert f"phases[1].network_faults[0].upstream: {bad!r} {message}" in str(err.value)


def test_net_metrics_need_a_namespace_and_a_namespace_samples_retransmissions():
    """net:retrans reads the target's own namespace: refused without one, added with one."""
    with pytest.raises((ValidationError, ScenarioError)) as err:
        scenario_from_dict({"name": "x", "target": {"command": ["true"], "metrics": {
            "r": "net:retrans"}}, "load": {"user": "U"}, "phases": [
                {"name": "a", "duration": "1s"}]})
    assert "set netns: true" in str(err.value)
    sc = scenario()
    assert sc.target.sampled_metrics()["retrans"] == "net:retrans"
    assert sc.phases[1].any_faults and not sc.phases[0].any_faults


@pytest.mark.parametrize("backend", ["compose", "attach"])
def test_other_backends_refuse_a_namespace(backend: str):
    """A netns target needs the local backend: compose and attach refuse it (exit 2)."""
    with pytest.raises(InputError, match=r"targets\[0\] \(api\)\.netns: .*--backend local"):
        make_backend(backend, scenario())


def test_the_local_backend_refuses_without_root(monkeypatch: pytest.MonkeyPatch):
    """Not root: refused before anything starts (exit 3), with the reason."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert any("need root" in p for p in netns_problems())
    with pytest.raises(EnvironmentFailure, match="need root"):
        make_backend("local", scenario())


def test_the_local_backend_refuses_without_its_tools(monkeypatch: pytest.MonkeyPatch):
    """No ip/iptables/nsenter on PATH: refused before anything starts, naming them."""
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EnvironmentFailure, match="missing on PATH: ip, iptables, nsenter"):
        make_backend("local", scenario())


def ns() -> Netns:
    return Netns(id="0a1b2c3d", target="api",
                 addresses=NetnsAddresses(ipaddress.IPv4Network("10.213.4.8/29")))


def test_names_and_addresses_carry_the_id():
    """Namespace, veths and chain are named after the record's id; the /29 gives three
    addresses: the host's side, the service (faulted) and the control (never faulted)."""
    n = ns()
    assert (n.name, n.host_if, n.ns_if, n.chain) == (
        "sk-0a1b2c3d", "sk-0a1b2c3d-h", "sk-0a1b2c3d-n", "SOAK-0a1b2c3d")
    assert len(n.host_if) <= 15  # the kernel's interface name limit
    a = n.addresses
    assert (a.host, a.service, a.control) == ("10.213.4.9", "10.213.4.10", "10.213.4.11")
    assert n.enter() == ["nsenter", "--net=/var/run/netns/sk-0a1b2c3d", "--"]


def test_blackhole_rules_mark_the_caught_connections_unless_it_heals():
    """A blackhole drops the service address's packets; without heal it first marks every
    connection it catches (both directions), so they stay dropped after the phase."""
    rules = ns().rules(NetworkFault(target="api", type="blackhole", direction="in"), "c-0")
    assert [r[-3:] for r in rules[:2]] == [["CONNMARK", "--or-mark", "0x1"]] * 2
    assert rules[2][:4] == ["-i", "sk-0a1b2c3d-n", "-d", "10.213.4.10"]
    assert rules[2][-2:] == ["-j", "DROP"] and len(rules) == 3
    healed = ns().rules(NetworkFault(target="api", type="blackhole", heal=True), "c-0")
    assert [r[:4] for r in healed] == [["-i", "sk-0a1b2c3d-n", "-d", "10.213.4.10"],
                                       ["-o", "sk-0a1b2c3d-n", "-s", "10.213.4.10"]]


def test_packet_loss_and_partition_rules():
    """packet_loss drops at random per direction; partition cuts one upstream both ways."""
    loss = ns().rules(NetworkFault(target="api", type="packet_loss", percent=20,
                                   direction="out"), "c-1")
    assert len(loss) == 1 and loss[0][:4] == ["-o", "sk-0a1b2c3d-n", "-s", "10.213.4.10"]
    assert loss[0][loss[0].index("--probability") + 1] == "0.2000"
    cut = ns().rules(NetworkFault(target="api", type="partition", upstream="127.0.0.1:5432"),
                     "c-2")
    assert [r[:6] for r in cut] == [["-d", "127.0.0.1", "-p", "tcp", "--dport", "5432"],
                                    ["-s", "127.0.0.1", "-p", "tcp", "--sport", "5432"]]


def test_read_snmp_reads_this_processes_namespace():
    """net:retrans is Tcp RetransSegs of /proc/<pid>/net/snmp; a gone process reads None."""
    value = read_snmp(os.getpid(), "Tcp", "RetransSegs")
    assert value is not None and value >= 0
    assert make_source("net:retrans", pid=os.getpid()).spec == "net:retrans"
    assert read_snmp(2**22 + 7, "Tcp", "RetransSegs") is None


def test_the_run_applies_and_removes_network_faults_on_the_timeline(tmp_path: Path):
    """A phase's network faults are applied at its start and removed at its end, logged as
    fault_added/fault_removed (proxy netns:<target>) with the namespace's TCP counters."""
    log = CallLog()
    sc = scenario({"target": "api", "type": "packet_loss", "percent": 20, "direction": "in"})
    backend = FakeBackend(sc, log)
    run = Run(sc, RunOptions(out=tmp_path / "run", quiet=True), backend=backend,
              load=FakeLoad.factory(log))
    run.execute()
    assert log.starting("apply_network_fault") == [
        "apply_network_fault packet_loss api chaos-0-packet_loss-in"]
    assert log.starting("remove_network_fault") == [
        "remove_network_fault packet_loss api chaos-0-packet_loss-in"]
    assert backend.network_faults == {}
    lines = (run.run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    added = next(e for e in events if e["kind"] == "fault_added")
    assert (added["proxy"], added["stream"], added["attributes"]) == (
        "netns:api", "in", {"percent": 20.0})
    assert any(e["kind"] == "fault_removed" and e["toxic"] == added["toxic"] for e in events)
    counted = next(e for e in events if e["kind"] == "netns_counters")
    assert counted["delta"]["RetransSegs"] == 7
    # drawn in the report like any fault: the phase table (and the charts' fault bands)
    assert "packet_loss on netns:api/in" in (run.run_dir / "report.html").read_text()
