"""TCP sockets of a set of processes, by state, with no cooperation from the service.

A process's sockets are the ``socket:[<inode>]`` links in ``/proc/<pid>/fd``; their state is
the ``st`` column of ``/proc/<pid>/net/tcp`` and ``tcp6`` (the process's own network
namespace), matched by inode. A socket shared by several processes (a forked worker inherits
its parent's) has one inode, so a set of inodes counts it once. Listening sockets are never
counted: only the states in ``TRACKED`` are kept.

psutil's ``net_connections()`` gives the same answer but walks every process's fds on the
machine, and ``Process.net_connections()`` re-reads the whole table once per process:
benchmarks/sampler_tree.py measures both against this.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

# /proc/net/tcp ``st`` codes (include/net/tcp_states.h) of the states counted as metrics
ESTABLISHED = 0x01
CLOSE_WAIT = 0x08
LISTEN = 0x0A
TRACKED = {"conns": ESTABLISHED, "close_wait": CLOSE_WAIT}
_TRACKED_CODES = frozenset(TRACKED.values())
_SOCKET_PREFIX = "socket:["


def parse_tcp_table(text: str, codes: frozenset[int] = _TRACKED_CODES) -> dict[int, int]:
    """``/proc/net/tcp{,6}`` text -> ``{inode: state}`` for sockets in one of ``codes``.

    Lines that do not parse (the header, a torn line) and inode 0 (a socket already closed
    by every process, e.g. in TIME_WAIT) are skipped.
    """
    out: dict[int, int] = {}
    for line in text.splitlines():
        fields = line.split(None, 10)
        if len(fields) < 10:
            continue
        try:
            state = int(fields[3], 16)
            if state not in codes:
                continue
            inode = int(fields[9])
        except ValueError:
            continue
        if inode:
            out[inode] = state
    return out


def read_tcp_states(pid: int) -> dict[int, int]:
    """``{inode: state}`` of the tracked TCP sockets (IPv4 and IPv6) in ``pid``'s namespace."""
    states: dict[int, int] = {}
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{name}", encoding="ascii", errors="replace") as fh:
                states.update(parse_tcp_table(fh.read()))
        except OSError:
            continue  # no IPv6 in this kernel, or the process just exited
    return states


def fd_sockets(pid: int) -> tuple[int, set[int]] | None:
    """``(open fds, socket inodes)`` of one process; None when it is gone or unreadable."""
    folder = f"/proc/{pid}/fd"
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    inodes: set[int] = set()
    for name in names:
        try:
            link = os.readlink(f"{folder}/{name}")
        except OSError:
            continue  # closed between listing and reading
        if link.startswith(_SOCKET_PREFIX):
            try:
                inodes.add(int(link[len(_SOCKET_PREFIX):-1]))
            except ValueError:
                continue
    return len(names), inodes


def count_states(inodes: Iterable[int], states: dict[int, int]) -> dict[str, int]:
    """How many of ``inodes`` are in each tracked state (each inode once)."""
    counts = dict.fromkeys(TRACKED, 0)
    by_code = {code: kind for kind, code in TRACKED.items()}
    for inode in set(inodes):
        kind = by_code.get(states.get(inode, -1))
        if kind is not None:
            counts[kind] += 1
    return counts
