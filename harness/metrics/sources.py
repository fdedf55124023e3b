"""Metric sources: one number for one target, read once a tick.

``proc:fds|rss|threads|conns|close_wait`` read a local process and all its descendants
(``proc:<kind>:self``: the process alone); ``prometheus:<metric>`` scrapes a
/metrics URL (the sum of every series of that name, or of those matching ``{label="v"}``);
``pprof:goroutine`` reads a Go ``/debug/pprof/goroutine`` endpoint; ``net:retrans`` reads
the TCP retransmissions counter of the network namespace a process lives in
(``/proc/<pid>/net/snmp``: for a target in its own namespace, its own). Evidence sources take
snapshots of what a target is doing: the samples' ``/debug/tasks`` or Go goroutine stacks.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from harness.metrics._tree import TREE_KINDS, TreeReading, tree_for
from harness.typing import EvidenceSource, MetricSource, ProcessBreakdown

HTTP_TIMEOUT = 2.0
# Seconds between GETs of a tool's own /metrics (toxiproxy-server's goroutines), read every
# tick from the last answer in between. toxiproxy-server runs its proxies and its API on
# one Go scheduler (GOMAXPROCS 1 on a pinned core), so each scrape of its runtime metrics
# (~1.8 ms of its CPU) holds up every connection it carries (docs/toxiproxy.md has what
# was measured). A tool's own health is judged as a trend over minutes: seconds of
# staleness cost it nothing.
TOOL_SCRAPE_EVERY = 5.0


def http_get_text(url: str, timeout: float = HTTP_TIMEOUT) -> str:
    """The body of ``GET url`` (http or https) on a fresh connection, closed after it: what
    every HTTP source here needs (the scrapes each second, the evidence snapshots) and
    nothing more. ``requests`` builds a session, an adapter and a pool per call and looks up
    proxy settings; that was most of a scrape's CPU in the harness process (py-spy), a fixed
    cost beside the load on a busy machine. Raises OSError on failure or a non-2xx status,
    ``http.client.HTTPException`` on an answer that is not HTTP."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OSError(f"not an http(s) URL: {url!r}")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                     headers={"Accept": "*/*"})  # as requests sends
        resp = conn.getresponse()
        body = resp.read()
        if not 200 <= resp.status < 300:
            raise OSError(f"GET {url}: HTTP {resp.status}")
        return body.decode(resp.headers.get_content_charset() or "utf-8", errors="replace")
    finally:
        conn.close()


class ProcSource:
    """Open FDs, resident memory (bytes), threads or TCP connections of a local process tree.

    ``kind`` is one of ``fds``, ``rss``, ``threads`` (summed over the tree), ``conns``
    (ESTABLISHED) or ``close_wait`` (CLOSE_WAIT: the peer closed, the service never did), each
    socket counted once however many processes of the tree hold it. With ``tree=False``
    (``proc:<kind>:self``) only the process ``pid`` itself is read.
    """

    def __init__(self, pid: int, kind: str, *, tree: bool = True) -> None:
        self.pid = pid
        self.kind = kind
        self.tree = tree
        self.spec = f"proc:{kind}" if tree else f"proc:{kind}:self"
        self._tree = tree_for(pid, descendants=tree)
        self._tree.want(kind)
        self._last: TreeReading | None = None

    def read(self) -> float | None:
        self._last = reading = self._tree.read(id(self))
        return None if reading is None else reading.totals.get(self.kind)

    def per_process(self) -> list[tuple[int, str, float]]:
        """``(pid, name, own value)`` of each process behind the last read (tree mode only)."""
        if not self.tree or self._last is None:
            return []
        return [(p.pid, p.name, p.values[self.kind]) for p in self._last.processes
                if self.kind in p.values]


def wanted_lines(text: str, names: set[str]) -> str:
    """The lines of a Prometheus text exposition that samples named in ``names`` need: their
    own lines, and the ``# HELP``/``# TYPE`` lines of any family that could hold them (a
    family's name is a prefix of its samples': ``x`` holds ``x_total``, ``x_bucket``).

    A Go process's runtime metrics run to ~130 lines and the harness reads a few series of
    them; the parser (prometheus_client, pure Python) took a third of the harness
    process's own Python time in a no-wait run on nginx (py-spy --gil), 2.2 ms for
    toxiproxy-server's ``-runtime-metrics`` against 0.4 ms for the lines wanted."""
    kept = []
    for line in text.splitlines():
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) > 2 and any(name.startswith(parts[2]) for name in names):
                kept.append(line)
        else:
            name = line.split("{", 1)[0].split(None, 1)  # "name{labels} value" or "name value"
            if name and name[0] in names:
                kept.append(line)
    return "\n".join(kept) + "\n"


def parse_exposition(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """A Prometheus text exposition as sample name -> [(labels, value)] (ValueError if
    malformed)."""
    parsed: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            parsed.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return parsed


class _Scrape:
    """One GET of a /metrics URL shared by every source of the same tick (an answer younger
    than ``max_age`` is read again; a failed one is not kept); only the series its sources
    read are parsed (:func:`wanted_lines`)."""

    def __init__(self, url: str, max_age: float) -> None:
        self.url = url
        self.max_age = max_age
        self.names: set[str] = set()  # the sample names this URL's sources read
        self._lock = threading.Lock()
        self._at = 0.0
        self._families: dict[str, list[tuple[dict[str, str], float]]] | None = None

    def want(self, name: str) -> None:
        with self._lock:
            self.names.add(name)
            self._families = None  # parsed without it: take the next one afresh

    def families(self) -> dict[str, list[tuple[dict[str, str], float]]] | None:
        with self._lock:
            now = time.monotonic()
            if self._families is not None and now - self._at < self.max_age:
                return self._families
            self._at = now
            try:
                # a fresh connection each time: nothing left open between ticks or after a run
                text = http_get_text(self.url)
                self._families = parse_exposition(wanted_lines(text, self.names))
            except (OSError, http.client.HTTPException, ValueError):
                self._families = None
            return self._families


SCRAPE_MAX_AGE = 0.5  # s: the sources of one tick share a GET, the next tick takes its own
_SCRAPES: dict[str, _Scrape] = {}
_SCRAPES_LOCK = threading.Lock()


def _scrape_for(url: str, every: float | None = None) -> _Scrape:
    """The URL's shared scrape; ``every``: taken at most that often (the shortest any source
    of the URL asks for; default each tick)."""
    max_age = SCRAPE_MAX_AGE if every is None else every
    with _SCRAPES_LOCK:
        scrape = _SCRAPES.get(url)
        if scrape is None:
            scrape = _SCRAPES[url] = _Scrape(url, max_age)
        scrape.max_age = min(scrape.max_age, max_age)
        return scrape


_PROM = re.compile(r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(\{(?P<labels>.*)\})?$")


class PrometheusSource:
    """The sum of the series named ``metric`` (optionally filtered by labels) at a URL;
    ``every``: GET at most that often (:data:`TOOL_SCRAPE_EVERY`), read from the last answer
    in between."""

    def __init__(self, url: str, metric: str, *, every: float | None = None) -> None:
        match = _PROM.match(metric)
        if not match:
            raise ValueError(f"bad prometheus metric {metric!r}")
        self.spec = f"prometheus:{metric}"
        self.url = url
        self.name = match.group("name")
        self.labels = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', match.group("labels") or ""))
        self._scrape = _scrape_for(url, every)
        self._scrape.want(self.name)

    def read(self) -> float | None:
        families = self._scrape.families()
        if families is None:
            return None
        found = [
            value for labels, value in families.get(self.name, [])
            if all(labels.get(k) == v for k, v in self.labels.items())
        ]
        return float(sum(found)) if found else None


class PprofGoroutines:
    """Goroutine count from a Go ``/debug/pprof/goroutine`` endpoint (``debug=1``)."""

    spec = "pprof:goroutine"

    def __init__(self, url: str) -> None:
        self.url = url

    def _text(self) -> str | None:
        try:
            return http_get_text(self.url + ("&" if "?" in self.url else "?") + "debug=1")
        except (OSError, http.client.HTTPException):
            return None

    def read(self) -> float | None:
        text = self._text()
        match = re.search(r"goroutine profile: total (\d+)", text or "")
        return float(match.group(1)) if match else None

    def snapshot(self) -> dict[str, object] | None:
        text = self._text()
        return parse_pprof_goroutines(text) if text else None


def parse_pprof_goroutines(text: str) -> dict[str, object]:
    """``debug=1`` goroutine profile -> ``{"total", "groups": [{name, where, count}]}``."""
    total_match = re.search(r"goroutine profile: total (\d+)", text)
    groups: dict[tuple[str, str], int] = {}
    for block in text.split("\n\n"):
        head = re.match(r"^(\d+) @", block.strip())
        if not head:
            continue
        frames = re.findall(r"^#\s+0x[0-9a-f]+\s+(\S+)\+0x[0-9a-f]+\s+(\S+:\d+)", block, re.M)
        if not frames:
            continue
        # the first frame outside the runtime and the standard library's internals
        pick = next((f for f in frames if not f[0].startswith(("runtime.", "internal/",
                                                              "sync.", "syscall."))), frames[0])
        key = (pick[0], os.path.basename(pick[1]))
        groups[key] = groups.get(key, 0) + int(head.group(1))
    ordered = sorted(groups.items(), key=lambda kv: -kv[1])
    return {
        "total": int(total_match.group(1)) if total_match else sum(groups.values()),
        "groups": [{"name": n, "where": w, "count": c} for (n, w), c in ordered],
    }


class DebugTasks:
    """Snapshot of a Python sample's ``/debug/tasks`` (live asyncio tasks, grouped)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def snapshot(self) -> dict[str, object] | None:
        try:
            data: Any = json.loads(http_get_text(self.url))
        except (OSError, http.client.HTTPException, ValueError):
            return None
        return data if isinstance(data, dict) else None


def evidence_source(debug_url: str | None, pprof_url: str | None) -> EvidenceSource | None:
    """What shows a target's tasks: its ``/debug/tasks`` listing, else its goroutine stacks."""
    if debug_url:
        return DebugTasks(debug_url)
    if pprof_url:
        return PprofGoroutines(pprof_url)
    return None


SNMP_COUNTERS = {"retrans": ("Tcp", "RetransSegs")}


def read_snmp(pid: int, table: str, field: str) -> float | None:
    """One counter of ``/proc/<pid>/net/snmp`` (the process's network namespace), or None."""
    try:
        with open(f"/proc/{pid}/net/snmp", encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    rows = [line.split() for line in lines if line.startswith(f"{table}:")]
    if len(rows) < 2 or field not in rows[0]:
        return None
    return float(rows[1][rows[0].index(field)])


class NetnsCounter:
    """A TCP counter of the network namespace ``pid`` lives in (cumulative since the
    namespace was made): ``net:retrans`` is ``Tcp RetransSegs``."""

    def __init__(self, pid: int, name: str) -> None:
        if name not in SNMP_COUNTERS:
            raise ValueError(f"unknown metric source 'net:{name}'")
        self.pid = pid
        self.spec = f"net:{name}"
        self._table, self._field = SNMP_COUNTERS[name]

    def read(self) -> float | None:
        return read_snmp(self.pid, self._table, self._field)


def make_source(
    spec: str,
    *,
    pid: int | None = None,
    metrics_url: str | None = None,
    pprof_url: str | None = None,
    docker: Callable[[str], MetricSource] | None = None,
) -> MetricSource:
    """Build the source for a scenario's metric spec (validated by the scenario model)."""
    kind, _, arg = spec.partition(":")
    if kind == "proc":
        if pid is None:
            raise ValueError(f"{spec}: needs a local process (no pid for this target)")
        kind, _, mode = arg.partition(":")
        if kind not in TREE_KINDS or mode not in ("", "self"):
            raise ValueError(f"unknown metric source {spec!r}")
        return ProcSource(pid, kind, tree=mode != "self")
    if kind == "prometheus":
        if not metrics_url:
            raise ValueError(f"{spec}: needs metrics_url")
        return PrometheusSource(metrics_url, arg)
    if kind == "pprof":
        if not pprof_url:
            raise ValueError(f"{spec}: needs pprof_url")
        return PprofGoroutines(pprof_url)
    if kind == "net":
        if pid is None:
            raise ValueError(f"{spec}: needs a local process (no pid for this target)")
        return NetnsCounter(pid, arg)
    if kind == "kube":
        raise ValueError(f"{spec}: reads a target.kube workload's pods (--backend attach)")
    if kind == "docker":
        if docker is None:
            raise ValueError(f"{spec}: docker stats need --backend compose")
        return docker(arg)
    raise ValueError(f"unknown metric source {spec!r}")


__all__ = [
    "TREE_KINDS",
    "DebugTasks",
    "EvidenceSource",
    "MetricSource",
    "NetnsCounter",
    "PprofGoroutines",
    "ProcSource",
    "ProcessBreakdown",
    "PrometheusSource",
    "evidence_source",
    "make_source",
    "parse_pprof_goroutines",
    "read_snmp",
]
