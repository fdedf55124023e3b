"""Instructions per request on the load side (valgrind's callgrind): bare Locust vs the harness.

    .venv/bin/python benchmarks/instructions.py [--requests 5000] [--base 500] [--users 20]
        [--modes bare,wrapper,listener,harness]

Timed comparisons on this shared VM carry its noise (a core's speed moves by a third within
minutes, and there are no hardware counters to read); instructions executed do not move with
it. Each mode runs in a child process under callgrind, once making ``--base`` requests and
once ``--base + --requests``; the difference over ``--requests`` is the instructions one
request costs, start-up (imports, connections) cancelled out. Two children run at a time.

- ``bare``: Locust's ``FastHttpSession`` (the bundled HTTP users' session) with Locust's own
  request statistics (a local runner), ``--users`` greenlets calling ``GET /`` on Debian's
  nginx (``fast_target.py``) with no wait, the heap frozen after start-up as the plugin does;
- ``wrapper``: plus the in-flight tracking wrapper around ``request`` (``track_requests``):
  the harness's fallback when a Locust's ``Session.request`` lacks the locals its frames
  are read for (requests in flight are found by frame at phase edges otherwise);
- ``listener``: plus the plugin's request listener (``LatencyPlugin.on_request``) instead;
- ``harness``: as in a harness run's Locust worker: the listener in the place of Locust's
  own (``take_over_stats_listener``: it does Locust's stats first, one listener call a
  request), and Locust's sessions watched for frames at phase edges
  (``track_locust_clients``: nothing per request).

The plugin's timed greenlets (writer, heartbeat, phase edges) are not started here, and the
recorded batch is not folded into windows: both cost per second (a window's histograms, the
fold every ~3 s), not per request, and callgrind's ~50x slowdown would spread a second's cost
over ~50x fewer requests (``throughput.py`` measures them with the rest). The count is
exact for what runs, up to which requests find their response already waiting (a second
pass through gevent's wait, ~1% of a request), so differences under ~1% are noise.
Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODES = ("bare", "wrapper", "listener", "harness")


def child(mode: str, requests: int, url: str, run_dir: Path, users: int) -> None:
    """Make ``requests`` requests in ``mode`` (run under callgrind by the parent)."""
    import gc
    import time

    import gevent
    from locust import events
    from locust.contrib.fasthttp import FastHttpSession
    from locust.env import Environment

    from harness.load import Accumulator
    from harness.load.plugin import LatencyPlugin, track_locust_clients, track_requests

    class Session(FastHttpSession):
        """Locust's session (tracked in the wrapper modes)."""

    env = Environment(events=events)
    runner = env.create_local_runner()  # Locust's own stats listener on the request event
    if mode == "wrapper":
        track_requests(Session, full_url=True)
    elif mode == "harness":
        track_locust_clients()
    plugin: LatencyPlugin | None = None
    if mode in ("listener", "harness"):
        run_dir.mkdir(parents=True, exist_ok=True)
        spawn = gevent.spawn
        gevent.spawn = lambda *_a, **_k: None  # no timed greenlets: see the module's doc
        try:
            plugin = LatencyPlugin(env, runner, run_dir, time.time())
        finally:
            gevent.spawn = spawn
        plugin.acc = Accumulator(keep_seconds=1_000_000)  # no fold while counting
        # a harness worker's listener takes the place of Locust's own (doing its work too)
        if mode == "listener" or not plugin.take_over_stats_listener(env.events.request):
            env.events.request.add_listener(plugin.on_request)  # type: ignore[no-untyped-call]
    gc.collect()
    gc.freeze()
    done = [0]

    def user() -> None:
        session = Session(url, env.events.request, None)
        while done[0] < requests:
            session.get("/", name="api")
            done[0] += 1
            gevent.sleep(0)  # what Locust's wait does between tasks with no wait time

    gevent.joinall([gevent.spawn(user) for _ in range(users)])
    if plugin is not None and plugin.acc.pending < requests:
        raise SystemExit(f"the harness listener recorded {plugin.acc.pending} of {requests} "
                         "requests: the count is void")


def _instructions(out: Path) -> int:
    """Total instructions in a callgrind output file."""
    text = out.read_text(errors="replace")
    found = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no instruction total in {out}")
    return int(found.group(1))


def measure(tmp: Path, mode: str, requests: int, url: str, users: int) -> int:
    """Instructions of a child making ``requests`` requests in ``mode``, start-up included."""
    out = tmp / f"{mode}.{requests}.callgrind"
    log = tmp / f"{mode}.{requests}.log"
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
            __file__, "--child", mode, str(requests), url, str(tmp / f"run-{mode}-{requests}"),
            str(users)]
    # numpy's OpenBLAS threads (numpy comes with the harness's imports in every mode) spin
    # between jobs; under valgrind, which runs one thread at a time, that spinning counted
    # ~10,000 instructions a request in the modes that built a LatencyPlugin and ~750 in
    # bare, none of it the code measured (a harness run's Locust worker, timed: its threads
    # beside the main one took 5 of its 1,057 CPU ticks)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    with log.open("wb") as fh:
        code = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, timeout=1800,
                              env=env).returncode
    if code != 0:
        raise RuntimeError(f"{mode} ({requests} requests) exited {code}:\n"
                           f"{log.read_text(errors='replace')[-2000:]}")
    return _instructions(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests counted")
    parser.add_argument("--base", type=int, default=500, help="requests of the baseline run")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--child", nargs=5, metavar=("MODE", "N", "URL", "DIR", "USERS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, n, url, run_dir, users = args.child
        child(mode, int(n), url, Path(run_dir), int(users))
        return 0
    modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(modes) - set(MODES))
    if unknown or "bare" not in modes:
        parser.error(f"--modes: {', '.join(unknown) or 'bare is needed'} "
                     f"(known: {', '.join(MODES)}; bare is the reference)")
    if shutil.which("valgrind") is None:
        print("valgrind not found: apt-get install valgrind (callgrind counts the instructions)",
              file=sys.stderr)
        return 2
    from benchmarks.fast_target import start_nginx

    with tempfile.TemporaryDirectory(prefix="instructions-") as tmp_name:
        tmp = Path(tmp_name)
        nginx, url = start_nginx(tmp / "nginx")
        try:
            runs = [(m, n) for m in modes for n in (args.base, args.base + args.requests)]
            with ThreadPoolExecutor(2) as pool:
                totals = dict(zip(runs, pool.map(
                    lambda run: measure(tmp, run[0], run[1], url, args.users), runs),
                    strict=True))
        finally:
            nginx.stop(grace=3.0)
    per = {m: (totals[(m, args.base + args.requests)] - totals[(m, args.base)]) / args.requests
           for m in modes}
    print(f"instructions per request (callgrind; {args.requests} requests counted, "
          f"{args.users} greenlets, FastHttpSession GET / on nginx with no wait)")
    for mode in modes:
        added = per[mode] - per["bare"]
        print(f"  {mode:<9} {per[mode]:10,.0f}  {mode}/bare {per[mode] / per['bare']:.4f}"
              + (f"  (+{added:,.0f})" if mode != "bare" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
