"""The open model: requests that start on a schedule, whatever the responses do.

``OpenHttpUser`` is the one scheduler user each Locust process runs when the scenario sets
``arrival_rate``. It starts every request in its own greenlet at its intended time (its
process's share of the rate, from ``HARNESS_ARRIVAL``, see ``harness/load/_arrival.py``), and
reports it as an ordinary Locust request whose ``response_time`` runs from the *intended*
start: a service that stalls for 1 s makes every request scheduled in that second wait too,
and P99 shows it (coordinated omission corrected). A request that starts more than
``load.late_tolerance`` after its time (the process is overloaded) is counted late; an
arrival that finds ``load.max_in_flight`` requests in flight is dropped and counted. Every
second the counts go to ``arrivals.csv``; the analysis turns too many into a tool failure.

Your own locustfile can subclass it and override :meth:`OpenHttpUser.arrive` (one request,
with ``catch_response=True`` and :func:`report_from`, so its latency runs from ``intended``).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import gevent
from gevent.pool import Pool
from locust import FastHttpUser, task

from harness.load._arrival import (
    ARRIVALS_COLUMNS,
    ARRIVALS_FILE,
    arrival_from_env,
    intended_offsets,
)
from harness.load._options import option
from harness.load._plan import LOAD_START_FILE, LOAD_START_TIMEOUT, RUN_DIR_ENV, T0_ENV
from harness.load._shape import POLL, read_load_start
from harness.load._userclass import spread_targets

__all__ = ["OpenHttpUser", "report_from"]

log = logging.getLogger("harness.load")
WRITE_EVERY = 1.0  # seconds between rows of arrivals.csv
INTENDED, STARTED, LATE, DROPPED = range(4)  # the count columns of a row, in order


def report_from(response: Any, intended: float) -> None:
    """Make a ``catch_response`` response report its latency from ``intended`` (epoch s)."""
    response.request_meta["response_time"] = (time.time() - intended) * 1000.0


class _Counts:
    """This process's arrivals by the (run second, phase) they were due in, written to
    ``arrivals.csv`` once a second."""

    def __init__(self, run_dir: Path, t0: float, source: str) -> None:
        self.path = run_dir / ARRIVALS_FILE
        self.t0, self.source = t0, source
        self.buckets: dict[tuple[int, str], list[int]] = {}  # intended, started, late, dropped
        if not self.path.exists():
            self._append(",".join(ARRIVALS_COLUMNS))

    def add(self, intended: float, phase: str, column: int) -> None:
        key = (math.floor(intended - self.t0), phase)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = [0, 0, 0, 0]
        bucket[column] += 1

    def _append(self, line: str) -> None:
        # one O_APPEND write per line: the processes' rows cannot interleave
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def flush(self) -> None:
        buckets, self.buckets = self.buckets, {}
        lines = [f"{t},{phase},{self.source},{','.join(map(str, counts))}"
                 for (t, phase), counts in sorted(buckets.items())]
        for line in lines:
            self._append(line)


class OpenHttpUser(FastHttpUser):
    """Open model: GET (or ``method``) ``path`` at the scenario's arrival rate.

    Options: ``path`` (default ``/api/item/1``), ``method`` (GET), ``name`` (``api``),
    ``timeout`` (seconds, default 10). One instance per Locust process schedules them all;
    when the proxy listens in several toxiproxy-server processes, its requests take their
    listen addresses in turn (one user would otherwise send them all to one).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.schedule = arrival_from_env()
        share = self.schedule.share()
        self.concurrency = share.max_in_flight  # one connection per request in flight
        self.network_timeout = self.connection_timeout = float(option("timeout", 10.0))
        super().__init__(*args, **kwargs)
        self.share = share
        self.run_dir = Path(os.environ.get(RUN_DIR_ENV, "."))
        self.t0 = float(os.environ.get(T0_ENV, "0") or 0)
        self.path = str(option("path", "/api/item/1"))
        self.method = str(option("method", "GET")).upper()
        self.request_name = str(option("name", "api"))
        hosts = spread_targets()
        self.urls = [h.rstrip("/") + self.path for h in hosts] if hosts else [self.path]
        self._turn = itertools.count(os.getpid())

    def wait_time(self) -> float:
        return 0.0

    def arrive(self, intended: float) -> None:
        """One request, due at ``intended`` (epoch s); its latency runs from then."""
        url = self.urls[next(self._turn) % len(self.urls)]
        with self.client.request(self.method, url, name=self.request_name,
                                 catch_response=True) as response:
            report_from(response, intended)

    def _one(self, intended: float, phase: str, counts: _Counts) -> None:
        counts.add(intended, phase, STARTED)
        if time.time() - intended > self.share.late_tolerance:
            counts.add(intended, phase, LATE)
        self.arrive(intended)

    @task
    def schedule_arrivals(self) -> None:
        """Start every arrival of this process's share on time, until the plan ends."""
        start = self._load_start()
        runner = self.environment.runner
        index = max(int(getattr(runner, "worker_index", 0)), 0)
        shift = (index / self.schedule.workers) % 1.0 if self.schedule.workers > 1 else 0.0
        counts = _Counts(self.run_dir, self.t0, f"{os.uname().nodename}-{os.getpid()}")
        pool = Pool(self.share.max_in_flight)
        writer = gevent.spawn(self._write_loop, counts)
        try:
            for offset, phase in intended_offsets(self.share.steps, shift):
                due = start + offset
                # behind schedule (sleep(0)): the due requests still start, counted late
                gevent.sleep(max(0.0, due - time.time()))
                counts.add(due, phase, INTENDED)
                if pool.full():
                    counts.add(due, phase, DROPPED)
                    continue
                pool.spawn(self._one, due, phase, counts)
            # the plan is over: what is in flight finishes; Locust stops this user (a task
            # that returned would be run again, and schedule the whole plan once more)
            while True:
                gevent.sleep(WRITE_EVERY)
        finally:
            writer.kill(block=False)
            pool.kill(block=False)
            counts.flush()

    def _load_start(self) -> float:
        """The run's load start: this user starts before it (``prestart``) and waits."""
        path = self.run_dir / LOAD_START_FILE
        deadline = time.monotonic() + LOAD_START_TIMEOUT
        while (start := read_load_start(path)) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {path} after {LOAD_START_TIMEOUT:g} s")
            gevent.sleep(POLL)
        return start

    def _write_loop(self, counts: _Counts) -> None:
        while True:
            gevent.sleep(WRITE_EVERY)
            try:
                counts.flush()
            except OSError:
                log.exception("writing %s failed", ARRIVALS_FILE)
