"""Issue 14's scale pieces: sock_diag parsing, the sampler's schedule and stamps, several
toxiproxy-server processes acting as one, the load spread over their listen addresses."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path

import pytest

from harness.backends import TargetHandle
from harness.chaos import ToxiproxyClient, ToxiproxyGroup
from harness.errors import ScenarioError, ToxiproxyError
from harness.load import spread_hosts
from harness.metrics import Sampler, next_tick, parse_sock_diag
from harness.runfolder import read_samples
from harness.scenario import Fault, is_reserved, scenario_from_dict
from harness.testing import ConstantSource, wait_until

ESTABLISHED, LISTEN, CLOSE_WAIT, DONE = 0x01, 0x0A, 0x08, 0x03


def _record(state: int, inode: int, size: int = 124) -> bytes:
    """One sock_diag answer record: netlink header, inet_diag_msg, attribute padding."""
    msg = struct.pack("=BBBB48xIIIII", 2, state, 0, 0, 0, 0, 0, 0, inode)
    body = msg + bytes(size - 16 - len(msg))
    return struct.pack("=IHHII", size, 20, 2, 1, 0) + body


def _done() -> bytes:
    return struct.pack("=IHHII", 20, DONE, 2, 1, 0) + bytes(4)


def test_sock_diag_buffers_read_as_columns_match_record_by_record():
    """Equal-sized records (read as numpy columns) and a mixed buffer (read one by one)
    give the same states; listening sockets and inode 0 are left out."""
    sockets = [(ESTABLISHED, 1000 + i) for i in range(300)] + [(CLOSE_WAIT, 7), (LISTEN, 8),
                                                                (ESTABLISHED, 0)]
    uniform = [b"".join(_record(s, i) for s, i in sockets[:200]),
               b"".join(_record(s, i) for s, i in sockets[200:])]
    mixed = [b"".join(_record(s, i, size=124 if n % 2 else 132)
                      for n, (s, i) in enumerate(sockets))]
    expected = {i: s for s, i in sockets if s != LISTEN and i}
    assert parse_sock_diag([*uniform, _done()]) == expected
    assert parse_sock_diag([*mixed, _done()]) == expected
    assert parse_sock_diag([uniform[0] + _done()]) == {i: s for s, i in sockets[:200]
                                                      if s != LISTEN and i}
    # what comes after the end is not read
    assert parse_sock_diag([_done(), uniform[0]]) == {}


def test_a_refused_sock_diag_query_raises():
    """An NLMSG_ERROR answer is an OSError (the caller falls back to /proc)."""
    error = struct.pack("=IHHII", 36, 0x02, 0, 1, 0) + bytes(20)
    with pytest.raises(OSError, match="refused"):
        parse_sock_diag([error])


@pytest.mark.parametrize(("last", "now", "expected"), [
    (10.0, 10.4, 11.0),  # a quick tick: the next on the schedule
    (10.0, 11.3, 11.0),  # overran by 0.3 s: the next at once (late), still on the schedule
    (10.0, 12.5, 12.0),  # overran past a whole interval: 11.0 skipped, 12.0 at once
    (10.0, 14.0, 14.0),
])
def test_the_schedule_is_fixed(last: float, now: float, expected: float):
    """Tick n starts at start + n * interval; ticks that could not start are skipped."""
    assert next_tick(last, 1.0, now) == pytest.approx(expected)


def test_a_tick_stamps_every_row_with_its_start_and_says_how_long_it_took(tmp_path: Path):
    """Every series of one tick shares the tick's stamp, read side by side or not; the
    harness's own series gets tick_s."""
    sampler = Sampler(tmp_path, t0=1000.0, interval=1.0)
    sampler.add([TargetHandle(name="a", sources={"x": ConstantSource("c", 1.0)}),
                 TargetHandle(name="b", sources={"y": ConstantSource("c", 2.0)}),
                 TargetHandle(name="harness", role="control",
                              sources={"rss": ConstantSource("c", 3.0)})])
    sampler.sample_once(at=1001.5)
    sampler.start()  # the loop reads the handles in worker threads, its first tick at once
    try:
        assert wait_until(lambda: sampler.ticks >= 2, timeout=10)
    finally:
        sampler.stop()
    samples = read_samples(tmp_path / "samples.csv")
    assert list(samples[("a", "x")].t[:1]) == [1.5]
    assert list(samples[("b", "y")].t) == list(samples[("a", "x")].t)
    assert list(samples[("harness", "tick_s")].t) == list(samples[("a", "x")].t)
    assert len(samples[("a", "x")].t) >= 2
    # constants read in microseconds: under 1 s even on a machine busy with other jobs
    assert all(0 <= v < 1.0 for v in samples[("harness", "tick_s")].v)


class _ThreadOf:
    """A source that says which thread read it (and takes ``delay`` seconds to)."""

    spec = "test:thread"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.threads: list[str] = []

    def read(self) -> float:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay)
        return 1.0


def test_quick_handles_are_read_by_the_sampler_thread_slow_ones_beside_it(tmp_path: Path):
    """Every handle is read side by side at first; from the next tick on only a handle
    whose last reading took 10 ms or more is (in a reader thread), the quick ones by the
    sampler thread itself, and every row is still written, in handle order."""
    slow, quick, other = _ThreadOf(0.05), _ThreadOf(), _ThreadOf()
    sampler = Sampler(tmp_path, t0=1000.0, interval=0.2)
    sampler.add([TargetHandle(name="quick", sources={"q": quick}),
                 TargetHandle(name="slow", sources={"s": slow}),
                 TargetHandle(name="other", sources={"o": other})])
    sampler.start()
    try:
        assert wait_until(lambda: sampler.ticks >= 3, timeout=10)
    finally:
        sampler.stop()
    assert quick.threads[0].startswith("sampler-read") and other.threads[0].startswith(
        "sampler-read")
    assert set(quick.threads[1:3]) == set(other.threads[1:3]) == {"sampler"}
    assert all(name.startswith("sampler-read") for name in slow.threads[:3])
    samples = read_samples(tmp_path / "samples.csv")
    assert [len(samples[key].t) >= 3 for key in (("quick", "q"), ("slow", "s"), ("other", "o"))
            ] == [True] * 3
    assert list(samples[("quick", "q")].t) == list(samples[("slow", "s")].t)


class _Server(ToxiproxyClient):
    """A toxiproxy-server in memory: takes faults, or refuses them (``broken``)."""

    def __init__(self, port: int, broken: bool = False) -> None:
        super().__init__("127.0.0.1", port)
        self.broken = broken
        self.toxics: set[tuple[str, str]] = set()

    def add_fault(self, proxy: str, fault: Fault, name: str | None = None) -> str:
        if self.broken:
            raise ToxiproxyError(f"toxiproxy add toxic to {proxy!r}: HTTP 500")
        self.toxics.add((proxy, name or fault.type))
        return name or fault.type

    def remove_fault(self, proxy: str, toxic: str) -> None:
        self.toxics.discard((proxy, toxic))


def test_a_group_applies_a_fault_to_every_server_or_to_none():
    """A fault goes to every toxiproxy-server; one refusing it undoes it on the others."""
    fault = Fault.model_validate({"proxy": "front", "type": "latency",
                                  "attributes": {"latency": 100}})
    one, two = _Server(1), _Server(2)
    group = ToxiproxyGroup([one, two])
    assert group.add_fault("front", fault, name="slow") == "slow"
    assert one.toxics == two.toxics == {("front", "slow")}
    group.remove_fault("front", "slow")
    assert one.toxics == two.toxics == set()
    broken = ToxiproxyGroup([one, _Server(3, broken=True)])
    with pytest.raises(ToxiproxyError, match="HTTP 500"):
        broken.add_fault("front", fault, name="slow")
    assert one.toxics == set()


class _User:
    host = "http://127.0.0.1:1"

    def __init__(self) -> None:
        self.client = self.host  # as HttpUser builds its client from self.host


class _Sub(_User):
    pass


def test_users_take_the_listen_addresses_in_turn():
    """Each new user gets the next host before its __init__ runs; a class is wrapped once
    and a subclass's user takes one host, not two turns."""
    hosts = ["http://127.0.0.1:1", "http://127.0.0.1:2"]
    spread_hosts(_User, hosts)
    spread_hosts(_User, hosts)
    spread_hosts(_Sub, hosts)
    users = [_User() for _ in range(6)]
    assert sorted(u.client for u in users) == sorted(hosts * 3)
    assert all(u.client == u.host for u in users)
    subs = [_Sub() for _ in range(4)]
    assert sorted(u.host for u in subs) == sorted(hosts * 2)


def test_the_further_toxiproxy_names_are_reserved():
    """toxiproxy-2... name control series: a target may not take them."""
    assert is_reserved("toxiproxy-2") and is_reserved("locust")
    assert not is_reserved("toxiproxy2") and not is_reserved("api")
    with pytest.raises(ScenarioError, match="reserved"):
        scenario_from_dict({"name": "x", "target": {"name": "toxiproxy-2", "sample": "healthy"},
                            "load": {"user": "HttpApiUser"},
                            "phases": [{"name": "a", "duration": 5}]})
