"""A target's process tree, read once a tick for every ``proc:`` source of that target.

``ProcessTree(pid)`` is the process and all its descendants (a master and its workers, a
``sh -c`` wrapper and its child), listed again at every reading so a worker forked mid-run
counts from its first tick; ``ProcessTree(pid, descendants=False)`` is the process alone
(``proc:<kind>:self``). psutil does the listing and the per-process numbers; its
``Process`` objects are kept per pid across ticks (a reused pid is told apart by its create
time) and dropped when their process leaves the tree, so memory stays flat. A process that
vanishes or turns zombie between listing and reading is left out of that reading.

Every source of a target shares one reading per tick: a source that reads twice from the
same reading (the next tick) or a reading older than ``max_age`` takes a fresh one. The TCP
table is read once per reading, and only when a connection source asked for it, in a
thread of its own while this one walks the tree's fd folders: both are mostly the kernel's
work (a sock_diag dump of every TCP socket, a readlink per fd), so on a machine with a spare
core the reading takes the longer of the two rather than their sum (at 10,000 connections
through Toxiproxy, ~40,000 sockets and a 10,000-fd worker, each is 100-200 ms of CPU).
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import psutil

from harness._procs import PROC, stat
from harness.metrics._tcp import TRACKED, count_states, fd_sockets, read_tcp_states

TREE_KINDS = ("fds", "rss", "threads", "conns", "close_wait")
SUMMED = ("fds", "rss", "threads")
PPID_MAX_AGE = 0.25  # seconds one scan of every process's parent serves every tree
PPID_FULL_EVERY = 30  # every n-th scan reads every process's parent afresh


class ParentTable:
    """``{pid: ppid}`` of every process, one scan of /proc shared by every tree of a tick.

    Finding a tree's members means knowing every process's parent, which psutil gets by
    reading /proc/<pid>/stat of every process on the machine; the sampler reads one tree
    per target and tool each tick (the target, toxiproxy-server, Locust, the harness), so
    each did that scan again (py-spy: a fifth of the harness process's own CPU in a run).
    A scan is reused by a tree that has not used it yet and only while it is younger than
    ``max_age``: a tree's next reading (the next tick, or a reader reading again) always
    scans afresh, so a process forked since its last reading is found, as before.

    A scan after the first reads only what may have changed: it lists /proc's pids and reads
    the parent of each pid it has not seen, and of each whose parent has gone (its child was
    re-parented); every ``full_every``-th scan reads them all (a pid reused between two scans
    is told apart then at the latest: with pid_max 32768 that takes 32,768 forks in a
    second). A process's parent changes only when that parent exits, so the rest stays
    right: ~0.3 ms a scan instead of ~3 ms with 80 processes here."""

    def __init__(self, max_age: float = PPID_MAX_AGE, full_every: int = PPID_FULL_EVERY,
                 pids: Callable[[], list[int]] | None = None,
                 parents: Callable[[list[int]], dict[int, int]] | None = None) -> None:
        self.max_age = max_age
        self.full_every = full_every
        self._lock = threading.Lock()
        self._at = -math.inf
        self._scan = 0  # which scan ``_children`` is; also how many were taken
        self._children: dict[int, list[int]] = {}
        self._ppid: dict[int, int] = {}
        incremental = pids is not None or PROC.is_dir()
        self._pids = pids if pids is not None else _proc_pids
        self._parents = parents if parents is not None else _proc_parents
        self._incremental = incremental and full_every > 1

    @property
    def scans(self) -> int:
        """How many scans of /proc this table has taken."""
        return self._scan

    def descendants(self, pid: int, used: int | None = None) -> tuple[list[int], int]:
        """Every pid below ``pid`` (depth first) and which scan that is; a
        scan is taken afresh when the last is older than ``max_age`` or is ``used`` (the
        one the caller's previous reading came from)."""
        with self._lock:
            now = time.monotonic()
            if now - self._at > self.max_age or self._scan == used:
                self._ppid = self._parent_map()
                children: dict[int, list[int]] = {}
                for child, parent in self._ppid.items():
                    children.setdefault(parent, []).append(child)
                self._children, self._at, self._scan = children, now, self._scan + 1
            table, scan = self._children, self._scan
        found: list[int] = []
        todo = [pid]
        seen = {pid}
        while todo:
            for child in table.get(todo.pop(), ()):
                if child not in seen:  # a pid reused mid-scan cannot make a loop
                    seen.add(child)
                    found.append(child)
                    todo.append(child)
        return found, scan


    def _parent_map(self) -> dict[int, int]:
        if not self._incremental or self._scan % self.full_every == 0:
            return self._parents(self._pids()) if self._incremental else _ppid_map()
        pids = self._pids()
        alive = set(pids)
        known, ppid = self._ppid, {}
        unread = []
        for pid in pids:
            parent = known.get(pid)
            if parent is None or (parent not in alive and parent != 0):
                unread.append(pid)  # new, or re-parented since its parent exited
            else:
                ppid[pid] = parent
        ppid.update(self._parents(unread))
        return ppid


def _proc_pids() -> list[int]:
    return [int(name) for name in os.listdir(PROC) if name.isdigit()]


def _proc_parents(pids: list[int]) -> dict[int, int]:
    """``{pid: ppid}`` from each /proc/<pid>/stat; a pid gone meanwhile is left out."""
    found: dict[int, int] = {}
    for pid in pids:
        try:
            st = stat(pid)
        except (ValueError, IndexError):  # a stat line cut short
            continue
        if st is not None:
            found[pid] = st.ppid
    return found


def _ppid_map() -> dict[int, int]:
    """psutil's own scan (what ``Process.children`` uses); its public equivalent if gone."""
    scan = getattr(psutil, "_ppid_map", None)
    if scan is not None:
        return dict(scan())
    return {p.pid: p.info["ppid"] for p in psutil.process_iter(["ppid"])
            if p.info["ppid"] is not None}


PARENTS = ParentTable()


@dataclass(frozen=True)
class ProcessReading:
    """One process of the tree at one reading: its own values (a shared socket counts in
    every process holding it)."""

    pid: int
    name: str
    values: dict[str, float]


@dataclass
class TreeReading:
    """One reading of a whole tree: totals (connections deduplicated) and each process."""

    totals: dict[str, float]
    processes: list[ProcessReading]
    readers: set[int] = field(default_factory=set)
    at: float = 0.0


def _read_process(proc: psutil.Process, wanted: set[str],
                  sockets: bool) -> tuple[ProcessReading, set[int]] | None:
    """One process's values and (with ``sockets``) its socket inodes, its connection counts
    still to come from the TCP states; None when it vanished or is a zombie."""
    values: dict[str, float] = {}
    inodes: set[int] = set()
    try:
        with proc.oneshot():
            name = proc.name()
            if "threads" in wanted:
                values["threads"] = float(proc.num_threads())
            if "rss" in wanted:
                values["rss"] = float(proc.memory_info().rss)
            if sockets:
                found = fd_sockets(proc.pid)
                if found is None:
                    return None
                values["fds"] = float(found[0])
                inodes = found[1]
            elif "fds" in wanted:
                values["fds"] = float(proc.num_fds())
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
    except psutil.Error:  # NoSuchProcess, ZombieProcess, AccessDenied
        return None
    return ProcessReading(proc.pid, name, values), inodes


class ProcessTree:
    """The process ``pid`` (and, with ``descendants``, every process below it)."""

    def __init__(self, pid: int, *, descendants: bool = True, max_age: float = 0.5,
                 sock_diag: bool = True, parents: ParentTable | None = None) -> None:
        self.pid = pid
        self.parents = parents if parents is not None else PARENTS
        self.sock_diag = sock_diag  # False: TCP states from the /proc text tables only
        self.descendants = descendants
        self.max_age = max_age
        self.wanted: set[str] = set()
        self._lock = threading.Lock()
        self._reading: TreeReading | None = None
        self._procs: dict[int, psutil.Process] = {}
        self._scan: int | None = None  # the parent scan of the last reading
        try:
            self._root: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self._root = None

    def want(self, kind: str) -> None:
        """A source of ``kind`` reads this tree (so the reading computes it)."""
        if kind not in TREE_KINDS:
            raise ValueError(f"proc:{kind}: unknown; known: {', '.join(TREE_KINDS)}")
        with self._lock:
            self.wanted.add(kind)

    def read(self, reader: int) -> TreeReading | None:
        """The reading of this tick for ``reader`` (a source's id); None if the root is gone."""
        with self._lock:
            now = time.monotonic()
            cached = self._reading
            if cached is not None and reader not in cached.readers and now - cached.at < self.max_age:
                cached.readers.add(reader)
                return cached
            self._reading = self._take(now)
            if self._reading is not None:
                self._reading.readers.add(reader)
            return self._reading

    def _members(self) -> list[psutil.Process] | None:
        """The root and its descendants now, as cached Process objects (None: root gone)."""
        root = self._root
        if root is None or not root.is_running():
            return None
        members: dict[int, psutil.Process] = {root.pid: root}
        if self.descendants:
            born = root.create_time()
            below, self._scan = self.parents.descendants(root.pid, self._scan)
            for pid in below:
                cached = self._procs.get(pid)
                try:
                    proc = psutil.Process(pid)
                    if proc.create_time() < born:  # the pid was reused since the scan
                        continue
                except psutil.Error:  # it exited since the scan
                    continue
                # equal Process objects: same pid and create time (a reused pid differs)
                members[pid] = cached if cached is not None and cached == proc else proc
        self._procs = members  # processes that left the tree are forgotten
        return list(members.values())

    def _take(self, now: float) -> TreeReading | None:
        members = self._members()
        if members is None:
            return None
        wanted = set(self.wanted)
        sockets = bool(wanted & set(TRACKED))
        states = _Background(partial(read_tcp_states, self.pid, sock_diag=self.sock_diag)
                             ) if sockets else None
        totals = dict.fromkeys(SUMMED, 0.0)
        processes: list[tuple[ProcessReading, set[int]]] = []
        try:
            for proc in members:
                got = _read_process(proc, wanted, sockets)
                if got is None:
                    if proc is members[0]:
                        return None  # the root itself is gone: nothing to report
                    continue
                processes.append(got)
                for kind in SUMMED:
                    totals[kind] += got[0].values.get(kind, 0.0)
        finally:
            table = states.result() if states is not None else None
        if table is not None:
            inodes: set[int] = set()
            for reading, own in processes:
                inodes |= own
                reading.values.update({k: float(n) for k, n in count_states(own, table).items()})
            totals.update({k: float(n) for k, n in count_states(inodes, table).items()})
        # stamped when the reading is done: the other sources of this tick reuse it however
        # long it took (stamped at its start, a reading slower than max_age was taken again
        # for every source, and a slow tick became three)
        return TreeReading(totals, [reading for reading, _ in processes], at=time.monotonic())


class _Background:
    """``fn()`` in a thread of its own; ``result()`` waits for it (and raises its error)."""

    def __init__(self, fn: Callable[[], dict[int, int]]) -> None:
        self._fn = fn
        self._value: dict[int, int] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tcp-states", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def result(self) -> dict[int, int]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


_TREES: weakref.WeakValueDictionary[tuple[int, float, bool], ProcessTree] = (
    weakref.WeakValueDictionary())
_TREES_LOCK = threading.Lock()


def tree_for(pid: int, *, descendants: bool) -> ProcessTree:
    """The shared tree of ``pid`` (one per live process and mode, while a source holds it)."""
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        started = 0.0
    key = (pid, started, descendants)
    with _TREES_LOCK:
        tree = _TREES.get(key)
        if tree is None:
            tree = ProcessTree(pid, descendants=descendants)
            _TREES[key] = tree
        return tree
