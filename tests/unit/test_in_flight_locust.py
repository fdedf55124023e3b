"""Locust's own HTTP sessions' requests in flight are found by their frames at an edge:
this Locust's ``Session.request`` has the locals the plugin reads (when it stops having
them, the plugin falls back to a wrapper and this test says so), a hung request is found
with the age and the name Locust reports, and its event, when the answer finally comes,
is dropped once.

Real requests to a real loopback socket, in a child process: importing Locust patches
threading with gevent, which the test runner's own threads do not survive."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHILD = r'''
import json, sys, time
import gevent
from gevent import socket
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession
from locust.event import EventHook
from harness.load.plugin import TRACKER, suspended_frames, track_locust_clients

track_locust_clients()
wrapped = [cls.__name__ for cls in (HttpSession, FastHttpSession)
           if getattr(cls.request, "_harness_tracked", False)]

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
base = f"http://127.0.0.1:{listener.getsockname()[1]}"
held = []  # accepted connections, answered only after the edge

def accept():
    while True:
        conn, _ = listener.accept()
        held.append(conn)

gevent.spawn(accept)
hook = EventHook()
events = []  # (name, recorded?) for every request event
hook.add_listener(lambda name, **_: events.append(
    (name, TRACKER.should_record(gevent.getcurrent(), sys._getframe()))))

def fast():
    FastHttpSession(base, hook, None).get("/f?x=1")

def fast_named():
    with FastHttpSession(base, hook, None).get("/g", name="gee", catch_response=True):
        pass

def slow():
    HttpSession(base, hook, None).get("/h?y=2")

users = [gevent.spawn(fast), gevent.spawn(fast_named), gevent.spawn(slow)]
started = time.time()
gevent.sleep(0.5)
stuck = TRACKER.expire_named(started + 5.0, frames=suspended_frames())
for conn in held:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
gevent.joinall(users, timeout=10)
print(json.dumps({"wrapped": wrapped, "stuck": sorted([age, name] for age, name in stuck),
                  "events": sorted(events), "held": len(held)}))
'''


def test_locust_sessions_requests_in_flight_are_found_by_frame_and_their_events_dropped():
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["wrapped"] == [], (
        "this Locust's Session.request lacks a local the edge reads: the plugin wraps each "
        "request instead (see harness/load/_inflight.py, SESSION_LOCALS)")
    assert result["held"] == 3
    names = [tuple(name) for _, name in result["stuck"]]
    # as Locust reports them: FastHttpSession the URL as given, HttpSession its path and query
    assert sorted(names) == [("GET", "/f?x=1"), ("GET", "/h?y=2"), ("GET", "gee")]
    for age, _ in result["stuck"]:
        assert 4.9 < age < 5.5  # from the request's own start_time
    # each answer came after the edge: every one of those events is dropped, once
    assert [recorded for _, recorded in result["events"]] == [False, False, False]
