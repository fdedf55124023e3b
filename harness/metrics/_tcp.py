"""TCP sockets of a set of processes, by state, with no cooperation from the service.

A process's sockets are the ``socket:[<inode>]`` links in ``/proc/<pid>/fd``; their state is
the ``st`` column of ``/proc/<pid>/net/tcp`` and ``tcp6`` (the process's own network
namespace), matched by inode. A socket shared by several processes (a forked worker inherits
its parent's) has one inode, so a set of inodes counts it once. Listening sockets are never
counted: only the states in ``TRACKED`` are kept.

psutil's ``net_connections()`` gives the same answer but walks every process's fds on the
machine, and ``Process.net_connections()`` re-reads the whole table once per process:
benchmarks/sampler_tree.py measures both against this.

When the process shares the harness's network namespace (the local backend), the states come
from the kernel's sock_diag netlink interface instead (``NETLINK_SOCK_DIAG``,
``inet_diag_req_v2``, filtered by state in the kernel): binary records for the tracked
states only, instead of the kernel printing every TCP socket of the namespace as text and
Python parsing it. With 10,000 connections through Toxiproxy (40,000 sockets on loopback) the
text tables cost most of a tick; benchmarks/sampler_tree.py measures both. Anything the
netlink query cannot do (another namespace, a kernel without it) falls back to the text.
"""

from __future__ import annotations

import os
import socket
import struct
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


NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x01, 0x300
NLMSG_ERROR, NLMSG_DONE = 0x02, 0x03
_NLMSG = struct.Struct("=IHHII")  # len, type, flags, seq, pid
# inet_diag_req_v2: family, protocol, ext, pad, states; then inet_diag_sockid (48 bytes)
_REQ = struct.Struct("=BBBxI48x")
# inet_diag_msg: family, state, timer, retrans, sockid (48), expires, rqueue, wqueue, uid, inode
_MSG = struct.Struct("=BBBB48xIIIII")


def _same_netns(pid: int) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return False


def diag_tcp_states(codes: frozenset[int] = _TRACKED_CODES) -> dict[int, int]:
    """``{inode: state}`` of this namespace's TCP sockets in ``codes``, by sock_diag netlink;
    OSError when the kernel will not answer (the caller falls back to /proc)."""
    mask = 0
    for code in codes:
        mask |= 1 << code
    out: dict[int, int] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as sock:
        for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), start=1):
            body = _REQ.pack(family, socket.IPPROTO_TCP, 0, mask)
            sock.send(_NLMSG.pack(_NLMSG.size + len(body), SOCK_DIAG_BY_FAMILY,
                                  NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
            done = False
            while not done:
                data = sock.recv(1 << 20)
                offset = 0
                while offset + _NLMSG.size <= len(data):
                    length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(data, offset)
                    if length < _NLMSG.size:
                        raise OSError("sock_diag: a malformed netlink message")
                    if kind == NLMSG_DONE:
                        done = True
                        break
                    if kind == NLMSG_ERROR:
                        raise OSError("sock_diag: the kernel refused the query")
                    if length >= _NLMSG.size + _MSG.size:
                        fields = _MSG.unpack_from(data, offset + _NLMSG.size)
                        state, inode = fields[1], fields[8]
                        if inode and state in codes:
                            out[inode] = state
                    offset += (length + 3) & ~3
    return out


def read_tcp_states(pid: int, *, sock_diag: bool = True) -> dict[int, int]:
    """``{inode: state}`` of the tracked TCP sockets (IPv4 and IPv6) in ``pid``'s namespace:
    by sock_diag when it is ours, else (or when that fails) from its /proc tables."""
    if sock_diag and _same_netns(pid):
        try:
            return diag_tcp_states()
        except OSError:
            pass  # no sock_diag here (an old kernel, a seccomp filter): the text tables
    return read_proc_tcp_states(pid)


def read_proc_tcp_states(pid: int) -> dict[int, int]:
    """``{inode: state}`` of the tracked TCP sockets from ``/proc/<pid>/net/tcp{,6}``."""
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
