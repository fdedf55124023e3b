"""Requests/s where the load generator is the bottleneck: bare Locust vs the harness.

    .venv/bin/python benchmarks/throughput.py [--duration 15] [--users 40] [--workers 1,2]

The target is Debian's nginx (one worker, ``return 200``: ``benchmarks/fast_target.py``),
which answers several times what Locust sends here, so the numbers are the load side's.
The user is the bundled ``HttpApiUser`` with no wait (``load.options.wait: [0, 0]``). For
each worker count N, side by side in one run:

- ``bare``: ``locust --headless --processes N`` (Locust's own master + N workers) straight at
  nginx with just the user class: no harness plugin, no proxy. Requests from ``--json``, over
  the span from its first to its last request.
- ``direct``: ``harness run`` with ``workers: N`` and ``load.host`` the nginx URL: the HDR
  plugin, the phase shape, the 1 s sampler (nginx's tree, toxiproxy, Locust, the harness).
  Requests from the run folder's ``latency.csv``.
- ``toxiproxy``: the same through a toxiproxy-server proxy with no toxic (the harness's
  default topology).

Prints req/s per configuration (median of ``--repeats``, and each) and the ratios to bare.
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

from benchmarks.fast_target import nginx_argv, start_nginx  # noqa: E402
from harness.runfolder import read_latency  # noqa: E402
from harness.testing import free_port  # noqa: E402

BARE_LOCUSTFILE = "from harness.load.users import HttpApiUser  # noqa: F401\n"
SPAWN_RATE = 1000
OPTIONS = {"path": "/", "wait": [0, 0]}
SCENARIO = """\
name: throughput
target: {{name: nginx, command: {command}, port: {port}, health: {{http: /}},
          metrics: {{fds: "proc:fds", rss: "proc:rss"}}}}
proxies: [{{name: front, upstream: nginx}}]
load: {{user: HttpApiUser, users: {users}, spawn_rate: {rate}, workers: {workers},
        host: {host}, options: {options}}}
phases: [{{name: steady, duration: {duration}s}}]
"""


def _rates(text: str) -> list[float]:
    """Requests/s of every JSON stats array in ``text``: requests over the span from the
    first to the last request (``start_time`` .. ``last_request_timestamp``), so the
    workers' start-up under ``--processes`` does not count as load time. The workers print
    their own (empty) arrays too; the master's holds the run's."""
    decoder, found, i = json.JSONDecoder(), [], 0
    while (i := text.find("[", i)) != -1:
        try:
            value, end = decoder.raw_decode(text, i)
        except ValueError:
            i += 1
            continue
        entries = [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []
        requests = sum(int(e.get("num_requests", 0)) for e in entries)
        if requests:
            first = min(float(e["start_time"]) for e in entries)
            last = max(float(e["last_request_timestamp"]) for e in entries)
            found.append(requests / max(last - first, 1e-3))
        i = end
    return found


def bare(tmp: Path, users: int, duration: int, workers: int) -> float:
    """Plain Locust (master + ``workers`` via --processes) at nginx: requests/s."""
    nginx, url = start_nginx(tmp / f"nginx-bare-{time.time_ns()}")
    try:
        locustfile = tmp / "bare_locustfile.py"
        locustfile.write_text(BARE_LOCUSTFILE)
        out = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--host", url,
             "-u", str(users), "-r", str(SPAWN_RATE), "-t", f"{duration}s", "--only-summary",
             "--processes", str(workers), "--json", "--loglevel", "WARNING",
             "--exit-code-on-error", "0"],
            cwd=tmp, capture_output=True, text=True, timeout=duration + 90,
            env={**os.environ, "PYTHONPATH": str(REPO),
                 "HARNESS_LOAD_OPTIONS": json.dumps(OPTIONS)},
        )
        if out.returncode != 0:
            raise RuntimeError(f"bare locust failed ({out.returncode}):\n{out.stderr[-2000:]}")
        return max(_rates(out.stdout), default=0.0)
    finally:
        nginx.stop(grace=3.0)


def harness(tmp: Path, users: int, duration: int, workers: int, proxy: bool) -> float:
    """``harness run`` at nginx (direct, or through toxiproxy): requests/s in its phase."""
    folder = tmp / f"nginx-h-{time.time_ns()}"
    folder.mkdir()
    port = free_port()
    argv = nginx_argv(folder, port)
    scenario = tmp / f"throughput-{time.time_ns()}.yaml"
    scenario.write_text(SCENARIO.format(
        command=json.dumps(argv), port=port, users=users, rate=SPAWN_RATE, workers=workers,
        host="front" if proxy else f"http://127.0.0.1:{port}", options=json.dumps(OPTIONS),
        duration=duration))
    out_dir = tmp / f"run-{time.time_ns()}"
    proc = subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--out",
                           str(out_dir), "-q"], cwd=REPO, capture_output=True, text=True,
                          timeout=duration + 180)
    if proc.returncode not in (0, 1, 4):
        raise RuntimeError(f"harness run exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    table = read_latency(out_dir / "latency.csv")
    return float(table.requests.sum()) / duration


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per configuration")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workers", default="1,2", help="Locust worker counts to compare")
    parser.add_argument("--configs", default="bare,direct,toxiproxy")
    args = parser.parse_args()
    configs = args.configs.split(",")
    counts = [int(w) for w in args.workers.split(",")]
    results: dict[tuple[int, str], list[float]] = {(w, c): [] for w in counts for c in configs}
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp_name:
        tmp = Path(tmp_name)
        for repeat in range(args.repeats):
            for workers in counts:
                for config in configs:
                    if config == "bare":
                        rps = bare(tmp, args.users, args.duration, workers)
                    else:
                        rps = harness(tmp, args.users, args.duration, workers,
                                      proxy=config == "toxiproxy")
                    results[(workers, config)].append(rps)
                    print(f"repeat {repeat + 1}: {workers} worker(s) {config:<9} "
                          f"{rps:8.1f} req/s", flush=True)
    print(f"\nnginx target, HttpApiUser with no wait, {args.users} users, {args.duration}s "
          f"each, {args.repeats} repeat(s) (median; all)")
    for workers in counts:
        base_values = results.get((workers, "bare"))
        base = statistics.median(base_values) if base_values else None
        for config in configs:
            values = results[(workers, config)]
            med = statistics.median(values)
            ratio = f"  ratio to bare {med / base:.3f}" if base and config != "bare" else ""
            print(f"  {workers} worker(s) {config:<9} {med:8.1f} req/s  "
                  f"[{', '.join(f'{v:.0f}' for v in values)}]{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
