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
