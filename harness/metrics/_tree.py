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

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import psutil

from harness.metrics._tcp import TRACKED, count_states, fd_sockets, read_tcp_states

TREE_KINDS = ("fds", "rss", "threads", "conns", "close_wait")
SUMMED = ("fds", "rss", "threads")


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
                 sock_diag: bool = True) -> None:
        self.pid = pid
        self.sock_diag = sock_diag  # False: TCP states from the /proc text tables only
        self.descendants = descendants
        self.max_age = max_age
        self.wanted: set[str] = set()
        self._lock = threading.Lock()
        self._reading: TreeReading | None = None
        self._procs: dict[int, psutil.Process] = {}
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
        found = [root]
        if self.descendants:
            try:
                found += root.children(recursive=True)
            except psutil.Error:
                return None
        members: dict[int, psutil.Process] = {}
        for proc in found:
            cached = self._procs.get(proc.pid)
            # equal Process objects: same pid and create time (a reused pid differs)
            members[proc.pid] = cached if cached is not None and cached == proc else proc
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
