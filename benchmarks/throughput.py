"""Requests/s: bare Locust against the healthy sample vs. Locust under the harness.

    .venv/bin/python benchmarks/throughput.py [--duration 20] [--users 50] [--repeats 2]

Same target code (``python -m harness.samples healthy``), same user class (``HttpApiUser``),
same users and spawn rate. Configurations, run alternately ``--repeats`` times:

- ``bare``: ``locust -f <just the user class> --headless -t D`` straight at the target; no
  harness plugin, no proxy. Requests from Locust's own ``--json`` totals.
- ``plugin``: ``LocustRun`` (HDR plugin + phase shape) straight at the target: the
  plugin's own cost.
- ``bare-proxy``: bare Locust through a toxiproxy-server with no toxic: the proxy's cost.
- ``harness``: the full ``harness run`` (local backend: toxiproxy-server with no toxic in
  front of the target, the 1 s sampler, the HDR latency plugin, report at the end) with one
  phase of D seconds. Requests from the run folder's ``latency.csv``.
- ``harness-w1`` / ``harness-w2``: the same with Locust's master + 1 or 2 workers.

Prints req/s per configuration (median of the repeats, and each repeat) and the ratio to bare.
Everything listens on 127.0.0.1; every run is bounded. The machine is shared: read the
spread of the repeats before the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.runfolder import read_latency  # noqa: E402
from harness.testing import (  # noqa: E402
    ManagedProcess,
    free_port,
    wait_until,
)

BARE_LOCUSTFILE = "from harness.load.users import HttpApiUser  # noqa: F401\n"
SPAWN_RATE = 100
SCENARIO = """\
name: throughput
target: {{name: api, sample: healthy}}
proxies: [{{name: front, upstream: api}}]
load: {{user: HttpApiUser, users: {users}, spawn_rate: {rate}, workers: {workers},
        options: {{path: /api/item/1}}}}
phases: [{{name: steady, duration: {duration}s}}]
"""


def healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1.0) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def start_target(tmp: Path) -> tuple[ManagedProcess, str]:
    port = free_port()
    target = ManagedProcess(f"target-{port}", [sys.executable, "-m", "harness.samples",
                                               "healthy", "--port", str(port)],
                            log_dir=tmp, cwd=REPO).start()
    url = f"http://127.0.0.1:{port}"
    if not wait_until(lambda: healthy(url), 20):
        target.stop()
        raise RuntimeError(f"target did not start:\n{target.tail()}")
    return target, url


def start_proxy(tmp: Path, upstream: str) -> tuple[ManagedProcess, str]:
    """A toxiproxy-server with one proxy (no toxic) in front of ``upstream``."""
    from harness.chaos.toxiproxy import ToxiproxyClient

    binary = next(b for b in (REPO / ".tools/bin/toxiproxy-server", REPO / ".tools/bin/server")
                  if b.exists())
    api = free_port()
    proc = ManagedProcess(f"toxiproxy-{api}", [str(binary), "-host", "127.0.0.1", "-port",
                                               str(api)], log_dir=tmp, role="toxiproxy").start()
    client = ToxiproxyClient("127.0.0.1", api)
    if not wait_until(client.ping, 10):
        proc.stop()
        raise RuntimeError(f"toxiproxy did not start:\n{proc.tail()}")
    listen = free_port()
    client.create_proxy("front", listen=f"127.0.0.1:{listen}",
                        upstream=upstream.removeprefix("http://"))
    return proc, f"http://127.0.0.1:{listen}"


def plugin(tmp: Path, users: int, duration: int) -> float:
    """LocustRun (plugin + shape) straight at the target: no proxy, no sampler."""
    from harness.load import LocustRun
    from harness.scenario import scenario_from_dict

    target, url = start_target(tmp)
    run_dir = tmp / f"plugin-{time.time_ns()}"
    scenario = scenario_from_dict({
        "name": "throughput", "target": {"sample": "healthy"},
        "load": {"user": "HttpApiUser", "users": users, "spawn_rate": SPAWN_RATE},
        "phases": [{"name": "steady", "duration": duration}]})
    run = LocustRun(scenario, url, run_dir, time.time())
    try:
        run.start()
        if not run.wait_ready(60):
            raise RuntimeError(str(run.failure))
        run.begin(time.time())
        wait_until(lambda: run.exited() is not None, duration + 30)
    finally:
        run.stop()
        target.stop(grace=3.0)
    return float(read_latency(run_dir / "latency.csv").requests.sum()) / duration


def bare(tmp: Path, users: int, duration: int, proxy: bool = False) -> float:
    """Plain Locust, no harness plugin, at a healthy sample (or through an idle toxiproxy)."""
    target, url = start_target(tmp)
    toxiproxy = None
    try:
        if proxy:
            toxiproxy, url = start_proxy(tmp, url)
        locustfile = tmp / "bare_locustfile.py"
        locustfile.write_text(BARE_LOCUSTFILE)
        out = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--host", url,
             "-u", str(users), "-r", str(SPAWN_RATE), "-t", f"{duration}s", "--only-summary",
             "--json", "--loglevel", "WARNING", "--exit-code-on-error", "0"],
            cwd=tmp, capture_output=True, text=True, timeout=duration + 60,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        if out.returncode != 0:
            raise RuntimeError(f"bare locust failed ({out.returncode}):\n{out.stderr[-2000:]}")
        stats = json.loads(out.stdout)
        return sum(int(e["num_requests"]) for e in stats) / duration
    finally:
        if toxiproxy is not None:
            toxiproxy.stop(grace=3.0)
        target.stop(grace=3.0)


def harness(tmp: Path, users: int, duration: int, workers: int) -> float:
    """The full ``harness run`` with one phase of ``duration`` s: requests per second."""
    scenario = tmp / f"throughput-w{workers}.yaml"
    scenario.write_text(SCENARIO.format(users=users, rate=SPAWN_RATE, workers=workers,
                                        duration=duration))
    out_dir = tmp / f"run-w{workers}-{time.time_ns()}"
    proc = subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--out",
                           str(out_dir), "-q"], cwd=REPO, capture_output=True, text=True,
                          timeout=duration + 180)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"harness run exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    table = read_latency(out_dir / "latency.csv")
    return float(table.requests.sum()) / duration


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per configuration")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--configs",
                        default="bare,plugin,bare-proxy,harness,harness-w1,harness-w2")
    args = parser.parse_args()
    configs = args.configs.split(",")
    results: dict[str, list[float]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp_name:
        tmp = Path(tmp_name)
        for repeat in range(args.repeats):
            for config in configs:
                if config in ("bare", "bare-proxy"):
                    rps = bare(tmp, args.users, args.duration, proxy=config == "bare-proxy")
                elif config == "plugin":
                    rps = plugin(tmp, args.users, args.duration)
                else:
                    workers = int(config.removeprefix("harness-w")) if "-w" in config else 0
                    rps = harness(tmp, args.users, args.duration, workers)
                results[config].append(rps)
                print(f"repeat {repeat + 1}: {config:<11} {rps:8.1f} req/s", flush=True)
    base = statistics.median(results["bare"]) if results.get("bare") else None
    print(f"\n{args.users} users, {args.duration}s each, {args.repeats} repeats (median; all)")
    print("harness = harness run: toxiproxy (no toxic) + sampler + HDR plugin")
    for config, values in results.items():
        med = statistics.median(values)
        ratio = f"  ratio {med / base:.3f}" if base and config != "bare" else ""
        print(f"  {config:<11} {med:8.1f} req/s  [{', '.join(f'{v:.0f}' for v in values)}]{ratio}")
    if base and results.get("harness"):
        ok = statistics.median(results["harness"]) / base >= 0.95
        print(f"target ratio harness/bare >= 0.95: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
