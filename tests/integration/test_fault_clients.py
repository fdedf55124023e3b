"""The bundled fault clients against real third-party servers (Debian's nginx and redis).

Each test runs one fault client twice at the same time, with a real headless Locust each:
against a leaky configuration (a timeout of an hour, or none) and a fixed one (2 s). The
clients know nothing about these servers: plain TCP or HTTP, options from ``load.options``.
What is measured is the servers' own view: the ESTABLISHED connections their process tree
holds (psutil), and which of them survive from one look to the next.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.load import LocustRun
from harness.runfolder import read_latency
from harness.scenario import scenario_from_dict
from tests.integration.third_party import BIG_FILE, Server, nginx, redis

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

USERS = 4
LOAD_S = 12  # users run this long, then a phase with no users
AFTER_S = 6
FIRST_LOOK, SECOND_LOOK = 6.0, 11.0  # seconds into the load: 5 s apart, > 2 s + timer slack
AFTER_LOOK = LOAD_S + 3.0  # 3 s after the users stopped


def scenario(user: str, options: dict[str, object]):
    return scenario_from_dict({
        "name": "fault-clients", "target": {"command": ["true"], "port": 9},
        "load": {"user": user, "users": USERS, "spawn_rate": 100, "options": options},
        "phases": [{"name": "load", "duration": LOAD_S},
                   {"name": "after", "duration": AFTER_S, "users": 0}],
    })


@contextlib.contextmanager
def locust(user: str, options: dict[str, object], server: Server,
           run_dir: Path) -> Iterator[LocustRun]:
    run = LocustRun(scenario(user, options), server.url, run_dir, t0=time.time())
    run.start()
    try:
        assert run.wait_ready(60), run.failure
        yield run
    finally:
        run.stop()


def sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.time()))


def drive(user: str, options: dict[str, object], leaky: Server, fixed: Server,
          tmp_path: Path) -> dict[str, dict[str, object]]:
    """Both runs on one clock; what each server held at the looks, and the request counts."""
    seen: dict[str, dict[str, object]] = {"leaky": {}, "fixed": {}}
    servers = {"leaky": leaky, "fixed": fixed}
    with locust(user, options, leaky, tmp_path / "run-leaky") as run_l, \
            locust(user, options, fixed, tmp_path / "run-fixed") as run_f:
        start = time.time() + 0.5
        run_l.begin(start)
        run_f.begin(start)
        sleep_until(start + FIRST_LOOK)
        first = {k: s.connections() for k, s in servers.items()}
        sleep_until(start + SECOND_LOOK)
        second = {k: s.connections() for k, s in servers.items()}
        sleep_until(start + AFTER_LOOK)
        after = {k: s.connections() for k, s in servers.items()}
        for name, run in (("leaky", run_l), ("fixed", run_f)):
            deadline = start + LOAD_S + AFTER_S + 20
            while run.exited() is None and time.time() < deadline:
                time.sleep(0.2)
            assert run.exited() == 0, f"{name} Locust did not finish cleanly"
    for name in servers:
        table = read_latency(tmp_path / f"run-{name}" / "latency.csv")
        seen[name] = {
            "first": len(first[name]), "survivors": len(first[name] & second[name]),
            "after": len(after[name]), "requests": int(table.requests.sum()),
            "failures": int(table.failures.sum()),
        }
    print(user, seen)  # the numbers docs/patterns.md quotes (pytest -s)
    return seen


def test_stalled_client_leaks_redis_connections_without_an_idle_timeout(tmp_path):
    """StalledClient on redis: with ``timeout 0`` every silent client is held, even after the
    users stopped (no FIN ever came); with ``timeout 2`` none outlives 2 s."""
    with redis(tmp_path / "redis-leaky", timeout=0) as leaky, \
            redis(tmp_path / "redis-fixed", timeout=2) as fixed:
        seen = drive("StalledClient", {}, leaky, fixed, tmp_path)
    # One new connection per user per second: ~24 open at the first look (4 users x 6 s),
    # all still there 5 s later; half of that leaves room for a slow start on a busy machine.
    assert seen["leaky"]["survivors"] >= USERS * FIRST_LOOK / 2, seen
    assert seen["leaky"]["after"] >= USERS * LOAD_S / 2, seen
    # redis closes a client idle for more than 2 s within its 1 s cron: none survives 5 s.
    assert seen["fixed"]["survivors"] == 0 and seen["fixed"]["after"] == 0, seen
    for name in ("leaky", "fixed"):  # every connect was reported, and none failed
        assert seen[name]["requests"] >= USERS * LOAD_S / 2 and seen[name]["failures"] == 0


def test_stalled_client_with_a_partial_request_holds_nginx_without_a_header_timeout(tmp_path):
    """StalledClient sending half a request line: nginx with ``client_header_timeout 3600s``
    keeps every one after the users stopped; with ``2s`` it drops them."""
    with nginx(tmp_path / "nginx-leaky", client_header_timeout="3600s") as leaky, \
            nginx(tmp_path / "nginx-fixed", client_header_timeout="2s") as fixed:
        seen = drive("StalledClient", {"payload": "GET / HT"}, leaky, fixed, tmp_path)
    assert seen["leaky"]["after"] >= USERS * LOAD_S / 2, seen  # ~48 expected, as above
    assert seen["fixed"]["survivors"] == 0 and seen["fixed"]["after"] == 0, seen


def test_slowloris_client_holds_nginx_only_without_a_header_timeout(tmp_path):
    """SlowlorisClient trickling a header a second: nginx with ``client_header_timeout
    3600s`` keeps every connection; with ``2s`` none lives 5 s; the users close theirs on
    stop, so the leaky server is released once they have stopped."""
    with nginx(tmp_path / "nginx-leaky", client_header_timeout="3600s") as leaky, \
            nginx(tmp_path / "nginx-fixed", client_header_timeout="2s") as fixed:
        seen = drive("SlowlorisClient", {"header_every": 1.0}, leaky, fixed, tmp_path)
    assert seen["leaky"]["survivors"] >= USERS * FIRST_LOOK / 2, seen  # ~24 expected
    assert seen["fixed"]["survivors"] == 0, seen
    assert seen["leaky"]["after"] == 0, seen  # closed by the stopping users
    # connects, one header event per connection per second, and the drops by the fixed one
    assert seen["leaky"]["requests"] > seen["fixed"]["failures"] == 0, seen


def test_idle_keepalive_client_holds_nginx_only_without_a_keepalive_timeout(tmp_path):
    """IdleKeepAliveClient: after one full response each connection idles; nginx with
    ``keepalive_timeout 3600s`` keeps them all, with ``2s`` none lives 5 s."""
    with nginx(tmp_path / "nginx-leaky", keepalive_timeout="3600s") as leaky, \
            nginx(tmp_path / "nginx-fixed", keepalive_timeout="2s") as fixed:
        seen = drive("IdleKeepAliveClient", {"path": "/index.html"}, leaky, fixed, tmp_path)
    assert seen["leaky"]["survivors"] >= USERS * FIRST_LOOK / 2, seen  # ~24 expected
    assert seen["fixed"]["survivors"] == 0, seen
    assert seen["leaky"]["after"] == 0, seen
    for name in ("leaky", "fixed"):  # a response that was not whole would be a failure
        assert seen[name]["requests"] >= USERS * LOAD_S / 2 and seen[name]["failures"] == 0


def test_slow_reader_holds_nginx_only_without_a_send_timeout(tmp_path):
    """SlowHttpReader of a 64 MiB file at 64 B/s: nginx with ``send_timeout 3600s`` keeps
    one connection per reader for as long as it reads; with ``2s`` it gives up on each."""
    with nginx(tmp_path / "nginx-leaky", send_timeout="3600s") as leaky, \
            nginx(tmp_path / "nginx-fixed", send_timeout="2s") as fixed:
        seen = drive("SlowHttpReader", {"path": f"/{BIG_FILE}"}, leaky, fixed, tmp_path)
    # One download per user, never finished (64 MiB at 64 B/s): exactly USERS held.
    assert seen["leaky"]["survivors"] == USERS, seen
    # nginx fills the tiny window, then its send timer (2 s) closes each well before 6 s.
    assert seen["fixed"]["first"] == 0 and seen["fixed"]["survivors"] == 0, seen
    assert seen["leaky"]["after"] == 0, seen  # unread data on close: an RST frees nginx
    assert seen["leaky"]["requests"] > 0 and seen["leaky"]["failures"] == 0, seen


def test_abrupt_closer_resets_and_leaves_no_time_wait(tmp_path):
    """AbruptCloser: nginx logs connection resets, and no connection to it is left in
    TIME_WAIT on either side (an RST skips it; a FIN close by the client would not)."""
    def time_wait(port: int) -> set[tuple[int, int]]:
        return {(c.laddr.port, c.raddr.port) for c in psutil.net_connections(kind="tcp")
                if c.status == psutil.CONN_TIME_WAIT and c.raddr
                and port in (c.laddr.port, c.raddr.port)}

    with nginx(tmp_path / "nginx", keepalive_timeout="3600s") as server, \
            locust("AbruptCloser", {"path": "/index.html"}, server, tmp_path / "run") as run:
        before = time_wait(server.port)  # the fixture's readiness probe closed with a FIN
        start = time.time() + 0.5
        run.begin(start)
        sleep_until(start + LOAD_S + 1)
        new_time_wait = time_wait(server.port) - before
        held = server.connections()
        resets = server.log().count("Connection reset by peer")
        deadline = start + LOAD_S + AFTER_S + 20
        while run.exited() is None and time.time() < deadline:
            time.sleep(0.2)
    table = read_latency(tmp_path / "run" / "latency.csv")
    print("AbruptCloser", {"requests": int(table.requests.sum()), "resets": resets,
                           "time_wait": len(new_time_wait), "held": len(held)})
    # 4 users x 5 connections a second x 12 s ~ 240 connects and resets
    assert table.requests.sum() >= USERS * LOAD_S, table.requests
    assert table.failures.sum() == 0
    assert resets >= 1, "nginx saw no reset"
    assert new_time_wait == set(), new_time_wait
    assert held == set(), "a reset connection is gone from the server at once"
