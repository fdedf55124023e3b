"""The harness's own cost per request on the load side, side by side in one Locust process.

    .venv/bin/python benchmarks/load_overhead.py [--blocks 160] [--block-s 1] [--users 40]

``throughput.py`` compares whole runs, seconds to minutes apart, and on this shared machine
the speed of one busy core drifts by tens of per cent from one minute to the next, so its
ratios carry that noise. This one isolates what the harness adds to every request a Locust
user makes, and alternates with and without it every ``--block-s`` seconds in one process,
so both halves see the same machine:

- ``bare``: Locust's ``FastHttpSession`` (the session of ``FastHttpUser`` and the bundled
  HTTP users) with Locust's own request statistics (a local runner's listener), no harness.
- ``harness``: the same plus what a harness run adds per request: the plugin's request
  listener (``LatencyPlugin.on_request``: total and per-name latency windows), with the
  plugin's own greenlets (the writer every 0.2 s, the phase-edge loop, the heartbeat)
  running throughout. Requests in flight are found by their frames at phase edges
  (``track_locust_clients``), nothing per request; before that a wrapper around every
  ``request`` call tracked them (still the fallback: ``instructions.py --modes wrapper``).

``--users`` greenlets call ``GET /`` on Debian's nginx (``fast_target.py``) with no wait, so
the process is one busy core and requests/s is its cost per request. Blocks run in the
order bare, harness, harness, bare, ... (a linear drift cancels within each four); each
block's requests/s and CPU per request (``time.process_time``) are printed, then the
medians and the ratio harness / bare of each adjacent pair.

Time on this shared machine still swings by +-15% from one second to the next, more than
the harness's cost, so the script also counts what does not swing: the Python function
calls (cProfile) of ``--calls`` requests made one after another in each mode, per request
and their ratio. Everything listens on 127.0.0.1; the run is bounded by ``--blocks`` x
``--block-s`` plus the counted requests.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import gevent  # noqa: E402
from locust import events  # noqa: E402  (imports gevent's monkey patching first)
from locust.contrib.fasthttp import FastHttpSession  # noqa: E402
from locust.env import Environment  # noqa: E402

from benchmarks.fast_target import start_nginx  # noqa: E402
from harness.load.plugin import LatencyPlugin, track_locust_clients  # noqa: E402


class BareSession(FastHttpSession):
    """Locust's session as it comes."""


class TrackedSession(FastHttpSession):
    """Locust's session as a harness run uses it (its requests in flight found by frame)."""


track_locust_clients()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=160, help="blocks in all (a multiple of 4)")
    parser.add_argument("--block-s", type=float, default=1.0, help="seconds per block")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--calls", type=int, default=3000,
                        help="requests counted (function calls) in each mode; 0: none")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="load-overhead-") as tmp_name:
        tmp = Path(tmp_name)
        nginx, url = start_nginx(tmp / "nginx")
        try:
            blocks = measure(tmp, url, args.blocks, args.block_s, args.users)
            calls = count_calls(tmp, url, args.calls) if args.calls else None
        finally:
            nginx.stop(grace=3.0)
    report(blocks, args)
    if calls is not None:
        bare, harness = calls
        print(f"  Python function calls a request ({args.calls} requests each, cProfile): "
              f"bare {bare:.1f}, harness {harness:.1f}: harness / bare {harness / bare:.3f}")
    return 0


def count_calls(tmp: Path, url: str, requests: int) -> tuple[float, float]:
    """Function calls per request, bare and with the harness (one greenlet, in turn)."""
    env = Environment(events=events)
    runner = env.create_local_runner()
    run_dir = tmp / "run-calls"
    run_dir.mkdir()
    plugin = LatencyPlugin(env, runner, run_dir, time.time())
    per_request = []
    for session in (BareSession(url, env.events.request, None),
                    TrackedSession(url, env.events.request, None)):
        if isinstance(session, TrackedSession):
            env.events.request.add_listener(plugin.on_request)  # type: ignore[no-untyped-call]
        session.get("/", name="api")  # the connection is open before counting
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(requests):
            session.get("/", name="api")
        profile.disable()
        stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        per_request.append(sum(entry[1] for entry in stats.values()) / requests)
    plugin.drain()
    return per_request[0], per_request[1]


def measure(tmp: Path, url: str, n_blocks: int, block_s: float,
            users: int) -> list[tuple[str, float, float]]:
    """(mode, requests/s, CPU us per request) of each block, in the order run."""
    env = Environment(events=events)
    runner = env.create_local_runner()  # Locust's own stats listener on the request event
    run_dir = tmp / "run"
    run_dir.mkdir()
    plugin = LatencyPlugin(env, runner, run_dir, time.time())
    mode = "bare"
    done = [0]

    def user() -> None:
        sessions = {
            "bare": BareSession(url, env.events.request, None),
            "harness": TrackedSession(url, env.events.request, None),
        }
        while True:
            sessions[mode].get("/", name="api")
            done[0] += 1
            gevent.sleep(0)  # what Locust's wait does between tasks with no wait time

    greenlets = [gevent.spawn(user) for _ in range(users)]
    gevent.sleep(1.0)  # connections open, code warm
    order = ["bare", "harness", "harness", "bare"]
    blocks = []
    for i in range(n_blocks):
        mode = order[i % 4]
        if mode == "harness":
            env.events.request.add_listener(plugin.on_request)  # type: ignore[no-untyped-call]
        gevent.sleep(0.2)  # the requests already in flight end under the new mode
        start, cpu, count = time.perf_counter(), time.process_time(), done[0]
        gevent.sleep(block_s)
        wall, used, requests = (time.perf_counter() - start, time.process_time() - cpu,
                                done[0] - count)
        if mode == "harness":
            env.events.request.remove_listener(plugin.on_request)  # type: ignore[no-untyped-call]
        blocks.append((mode, requests / wall, used / max(requests, 1) * 1e6))
        print(f"block {i + 1:3d} {mode:<8} {requests / wall:8.1f} req/s  "
              f"{used / max(requests, 1) * 1e6:6.1f} us CPU/request", flush=True)
    gevent.killall(greenlets)
    plugin.drain()
    if plugin.recorded == 0:
        raise RuntimeError("the harness listener recorded nothing: the comparison is void")
    return blocks


def report(blocks: list[tuple[str, float, float]], args: argparse.Namespace) -> None:
    rates = {m: [r for mode, r, _ in blocks if mode == m] for m in ("bare", "harness")}
    costs = {m: [c for mode, _, c in blocks if mode == m] for m in ("bare", "harness")}
    # adjacent pairs, each as (bare, harness): the order runs bare, harness, harness, bare
    pairs = [sorted(blocks[i:i + 2]) for i in range(0, len(blocks) - 1, 2)]
    rate_ratios = [h[1] / b[1] for b, h in pairs]
    cost_ratios = [b[2] / h[2] for b, h in pairs]
    print(f"\nnginx, FastHttpSession GET / with no wait, {args.users} users, "
          f"{len(blocks)} blocks of {args.block_s:g} s (median [min-max])")
    for m in ("bare", "harness"):
        print(f"  {m:<8} {statistics.median(rates[m]):8.1f} req/s "
              f"[{min(rates[m]):.0f}-{max(rates[m]):.0f}]  "
              f"{statistics.median(costs[m]):6.1f} us CPU/request "
              f"[{min(costs[m]):.1f}-{max(costs[m]):.1f}]")
    print(f"  harness / bare, req/s, {len(rate_ratios)} adjacent pairs: "
          f"median {statistics.median(rate_ratios):.3f} "
          f"[{min(rate_ratios):.3f}-{max(rate_ratios):.3f}]")
    print(f"  bare / harness, CPU per request: median {statistics.median(cost_ratios):.3f} "
          f"[{min(cost_ratios):.3f}-{max(cost_ratios):.3f}]; the harness adds "
          f"{statistics.median(costs['harness']) - statistics.median(costs['bare']):.1f} us "
          f"a request (medians)")


if __name__ == "__main__":
    sys.exit(main())
