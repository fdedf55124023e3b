"""In-memory stand-ins for a backend, the load runner and Toxiproxy, for unit tests of ``Run``.

They implement the whole contract (``harness.backends.Backend``, ``FaultInjector``,
``harness.typing.LoadRunner``) and write down every call in order in one shared ``calls``
list, so that a test reads the run's life as a list: ``["up", "load.start", ...,
"add_fault front chaos-0-latency-downstream", "remove_fault front ...", ..., "down"]``.
A test makes any call fail with ``fail_on``: ``{"add_fault chaos": KeyboardInterrupt()}``
raises when a call's text starts with that key, and freezes a tool with ``freezes_on``:
``{"add_fault front chaos": "toxiproxy"}`` makes ``FakeBackend.probe`` report toxiproxy
silent from that call on (``"locust"``: ``FakeLoad.last_alive`` stops at that moment).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.backends import Backend, BackendContext, ProcessExit, TargetHandle, Topology
from harness.errors import EnvironmentFailure
from harness.scenario import ContainerFault, Fault, NetworkFault, PodFault, Scenario
from harness.typing import LoadRunner


@dataclass
class CallLog:
    """Every call of the fakes, in order, and the failures to raise on some of them."""

    calls: list[str] = field(default_factory=list)
    fail_on: dict[str, BaseException] = field(default_factory=dict)
    exits_on: dict[str, ProcessExit] = field(default_factory=dict)  # call prefix -> exit
    pending_exits: list[ProcessExit] = field(default_factory=list)
    freezes_on: dict[str, str] = field(default_factory=dict)  # call prefix -> tool
    frozen: dict[str, float] = field(default_factory=dict)  # tool -> epoch it froze at

    def record(self, call: str) -> None:
        self.calls.append(call)
        for prefix, tool in self.freezes_on.items():
            if call.startswith(prefix):
                self.frozen.setdefault(tool, time.time())
        for prefix, exit_ in self.exits_on.items():
            if call.startswith(prefix):
                self.pending_exits.append(exit_)
        for prefix, exc in self.fail_on.items():
            if call.startswith(prefix):
                raise exc

    def starting(self, prefix: str) -> list[str]:
        return [c for c in self.calls if c.startswith(prefix)]


class FakeFaults:
    """A Toxiproxy that only remembers: faults in force are ``active``."""

    def __init__(self, log: CallLog) -> None:
        self.log = log
        self.active: dict[str, str] = {}  # toxic -> proxy

    def add_fault(self, proxy: str, fault: Fault, name: str | None = None) -> str:
        toxic = name or f"{fault.type}_{fault.stream}"
        self.log.record(f"add_fault {proxy} {toxic}")
        self.active[toxic] = proxy
        return toxic

    def remove_fault(self, proxy: str, toxic: str) -> None:
        self.log.record(f"remove_fault {proxy} {toxic}")
        self.active.pop(toxic, None)

    def clear(self) -> list[str]:
        self.log.record("clear")
        self.active.clear()
        return []


class ConstantSource:
    """A metric source that reads ``value`` (a number, or a function of nothing)."""

    def __init__(self, spec: str, value: float | Callable[[], float]) -> None:
        self.spec = spec
        self._value = value

    def read(self) -> float | None:
        return float(self._value() if callable(self._value) else self._value)


class FakeBackend(Backend):
    """Every target of the scenario, "running" with flat fds and tasks; nothing started."""

    name = "fake"

    def __init__(self, scenario: Scenario, log: CallLog | None = None) -> None:
        self.scenario = scenario
        self.log = log or CallLog()
        self.faults = FakeFaults(self.log)
        self.container_faults: list[ContainerFault] = []  # in force now
        self.network_faults: dict[str, NetworkFault] = {}  # label -> fault, in force now
        self.retrans = 0  # the fake namespace's RetransSegs; each network fault adds 7
        self.pod_faults: dict[str, PodFault] = {}  # label -> fault, in force now
        self.replicas = 3  # the fake Deployment's replicas (scale_zero sets 0, undo puts back)
        self.pod_fault_fails = False  # True: apply_pod_fault raises (a kill with no effect)
        self.down_calls = 0

    def versions(self) -> dict[str, str]:
        return {"toxiproxy": "fake"}

    def up(self, ctx: BackendContext) -> Topology:
        self.log.record("up")
        proxies = {p.name: ("127.0.0.1", 20000 + i) for i, p in enumerate(self.scenario.proxies)}
        targets = {t.name: TargetHandle(name=t.name, port=10000 + i, sources={
            "fds": ConstantSource("proc:fds", 20), "tasks": ConstantSource("fake:tasks", 5)})
            for i, t in enumerate(self.scenario.all_targets)}
        return Topology(toxiproxy=self.faults, proxies=proxies, targets=targets)

    def probe(self, timeout: float) -> dict[str, str]:
        self.log.calls.append("probe")
        if "toxiproxy" in self.log.frozen:
            return {"toxiproxy": f"its API did not answer within {timeout:g}s"}
        return {}

    def exited(self) -> list[ProcessExit]:
        out, self.log.pending_exits = self.log.pending_exits, []
        return out

    def apply_container_fault(self, fault: ContainerFault) -> None:
        self.log.record(f"apply_container_fault {fault.action} {fault.target}")
        self.container_faults.append(fault)

    def remove_container_fault(self, fault: ContainerFault) -> None:
        self.log.record(f"remove_container_fault {fault.action} {fault.target}")
        self.container_faults.remove(fault)

    def apply_network_fault(self, fault: NetworkFault, label: str) -> None:
        self.log.record(f"apply_network_fault {fault.type} {fault.target} {label}")
        self.network_faults[label] = fault
        self.retrans += 7

    def remove_network_fault(self, fault: NetworkFault, label: str) -> None:
        self.log.record(f"remove_network_fault {fault.type} {fault.target} {label}")
        del self.network_faults[label]

    def network_counters(self, target: str) -> dict[str, int]:
        return {"RetransSegs": self.retrans, "OutSegs": 100, "InSegs": 100}

    def apply_pod_fault(self, fault: PodFault, label: str) -> dict[str, object]:
        self.log.record(f"apply_pod_fault {fault.type} {fault.target} {label}")
        if self.pod_fault_fails:
            raise EnvironmentFailure(f"kill on {fault.target}: had no effect (fake)")
        self.pod_faults[label] = fault
        if fault.type == "scale_zero":
            before, self.replicas = self.replicas, 0
            return {"replicas_before": before}
        return {"pods": [f"{fault.target}-{i}" for i in range(fault.count)]}

    def remove_pod_fault(self, fault: PodFault, label: str) -> dict[str, object]:
        self.log.record(f"remove_pod_fault {fault.type} {fault.target} {label}")
        del self.pod_faults[label]
        if fault.type == "scale_zero":
            self.replicas = 3
            return {"replicas": 3}
        return {}

    def down(self) -> list[str]:
        self.down_calls += 1
        if any(f.type == "scale_zero" for f in self.pod_faults.values()):
            self.replicas = 3  # what the attach backend's down() does: scale back
        self.pod_faults.clear()
        self.network_faults.clear()
        self.log.calls.append("down")  # never raises, as the contract says
        self.faults.clear()
        self.container_faults.clear()
        return []


class FakeLoad:
    """A load runner that is ready at once and exits at the end of the phase plan, as
    Locust's shape does."""

    def __init__(self, log: CallLog, duration: float) -> None:
        self.log = log
        self.duration = duration
        self._end: float | None = None
        self.failure: str | None = None
        self.started = self.stopped = False
        self.exit_code: int | None = None

    @classmethod
    def factory(cls, log: CallLog) -> Callable[[Scenario, str | list[str], Path, float],
                                                LoadRunner]:
        """What ``Run(load=...)`` takes; the runner it makes shares ``log``."""
        return lambda scenario, host_url, run_dir, t0: cls(log, scenario.duration)

    @property
    def pid(self) -> int | None:
        return None  # nothing to sample

    def start(self) -> None:
        self.log.record("load.start")
        self.started = True

    def wait_ready(self, timeout: float) -> bool:
        self.log.record("load.ready")
        return True

    def begin(self, load_start: float) -> None:
        self.log.record("load.begin")
        self._end = load_start + self.duration

    def exited(self) -> int | None:
        if self.exit_code is None and self._end is not None and time.time() >= self._end:
            self.exit_code = 0
        return self.exit_code

    def last_alive(self) -> float | None:
        return self.log.frozen.get("locust", time.time())

    def tail(self) -> str:
        return ""

    def stop(self, grace: float = 5.0) -> None:
        self.log.calls.append("load.stop")
        self.stopped = True
        self.exit_code = 0 if self.exit_code is None else self.exit_code


__all__ = ["CallLog", "ConstantSource", "FakeBackend", "FakeFaults", "FakeLoad"]
