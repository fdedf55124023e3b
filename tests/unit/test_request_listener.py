"""The plugin's request listener names every keyword Locust's request event passes (real
requests through Locust's two HTTP sessions to a loopback server): a keyword only ``**_``
takes costs a slow match and a dict copy on every request.

The requests run in a child process: importing Locust patches threading with gevent, which
the test runner's own threads do not survive."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.unit.loopback_http import serve

REPO = Path(__file__).resolve().parents[2]
CHILD = r'''
import inspect, json, sys
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession
from locust.event import EventHook
from harness.load.plugin import LatencyPlugin

seen = {}
for cls in (HttpSession, FastHttpSession):
    hook = EventHook()
    keys = seen[cls.__name__] = []
    hook.add_listener(lambda **kwargs: keys.append(sorted(kwargs)))
    session = cls(sys.argv[1], hook, None)
    session.get("/", name="ok")
    session.get("http://127.0.0.1:1/")  # refused: a failed request
named = [name for name, p in inspect.signature(LatencyPlugin.on_request).parameters.items()
         if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
print(json.dumps({"seen": seen, "named": named}))
'''


def test_every_request_event_keyword_is_a_named_parameter(tmp_path):
    with serve(tmp_path) as url:
        out = subprocess.run([sys.executable, "-c", CHILD, url], cwd=REPO, capture_output=True,
                             text=True, timeout=60, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    named = set(result["named"])
    for session, events in result["seen"].items():
        assert len(events) == 2, session  # the request and the failed one
        for keys in map(set, events):
            assert {"request_type", "name", "response_time", "exception"} <= keys
            assert keys <= named, f"{session}: not named in on_request: {sorted(keys - named)}"


TAKEOVER_CHILD = r'''
import json, sys, time
from pathlib import Path
from locust import events
from locust.env import Environment
from harness.load.plugin import LatencyPlugin

out = {}
for case in ("locust", "no-locust-listener"):
    env = Environment(events=events)
    runner = env.create_local_runner()
    handlers = env.events.request._handlers
    if case == "no-locust-listener":  # a Locust whose own listener is not as expected
        handlers.clear()
    before = len(handlers)
    plugin = LatencyPlugin(env, runner, Path(sys.argv[1]), time.time())
    plugin.install()
    env.events.request.fire(request_type="GET", name="ok", response_time=1.5,
                            response_length=3, exception=None, context={})
    env.events.request.fire(request_type="GET", name="bad", response_time=2.0,
                            response_length=0, exception=ConnectionError("refused"), context={})
    out[case] = {
        "before": before, "after": len(handlers),
        "ours": sum(h == plugin.on_request for h in handlers),
        "locust_requests": env.stats.total.num_requests,
        "locust_failures": env.stats.total.num_failures,
        "locust_errors": len(env.stats.errors),
        "recorded": plugin.acc.pending,
    }
    env.events.request._handlers = []
    events.request._handlers = []
print(json.dumps(out))
'''


def test_the_listener_takes_the_place_of_locusts_own_and_does_its_work(tmp_path):
    """One listener a request: the plugin's replaces Locust's stats listener and logs
    Locust's stats too (requests, failures, errors), so Locust's CSV and summary still count
    every request; where Locust's listener is not found it is added beside instead."""
    out = subprocess.run([sys.executable, "-c", TAKEOVER_CHILD, str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    taken = result["locust"]
    assert (taken["before"], taken["after"], taken["ours"]) == (1, 1, 1), taken
    assert (taken["locust_requests"], taken["locust_failures"], taken["locust_errors"]) == (2, 1, 1)
    assert taken["recorded"] == 2
    beside = result["no-locust-listener"]
    assert (beside["before"], beside["after"], beside["ours"]) == (0, 1, 1), beside
    assert beside["locust_requests"] == 0  # nothing logged Locust's stats: none was there
    assert beside["recorded"] == 2
