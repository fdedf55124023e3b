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
The kernel's answer is a run of equal-sized records (one per socket): numpy reads their
state and inode columns at once instead of a Python loop over 40,000 records; a buffer of
mixed sizes (a kernel adding attributes to some) takes the loop.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterable

import numpy as np

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
_STATE_AT = _NLMSG.size + 1  # offsets in a record: inet_diag_msg.idiag_state, idiag_inode
_INODE_AT = _NLMSG.size + 4 + 48 + 16


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
    parser = DiagParser(codes)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as sock:
        for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), start=1):
            body = _REQ.pack(family, socket.IPPROTO_TCP, 0, mask)
            sock.send(_NLMSG.pack(_NLMSG.size + len(body), SOCK_DIAG_BY_FAMILY,
                                  NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
            while not parser.feed(sock.recv(1 << 20)):
                pass
    return parser.result()


class DiagParser:
    """The kernel's sock_diag answer, buffer by buffer, to ``{inode: state}``.

    Buffers made only of equal records (the usual answer) are kept and read at the end as
    numpy columns; any other buffer (the dump's end, an error, mixed sizes) record by
    record at once."""

    def __init__(self, codes: frozenset[int] = _TRACKED_CODES) -> None:
        self.codes = codes
        self._out: dict[int, int] = {}
        self._uniform: dict[int, list[bytes]] = {}  # record size -> buffers of such records

    def feed(self, data: bytes) -> bool:
        """Take one buffer; True when it ended the dump (NLMSG_DONE); OSError for a
        malformed message or the kernel's refusal."""
        size = _uniform_size(data)
        if size:
            self._uniform.setdefault(size, []).append(data)
            return False
        return _parse_diag(data, self.codes, self._out)

    def result(self) -> dict[int, int]:
        for size, buffers in self._uniform.items():
            _parse_uniform(b"".join(buffers), size, self.codes, self._out)
        self._uniform.clear()
        return self._out


def parse_sock_diag(buffers: Iterable[bytes],
                    codes: frozenset[int] = _TRACKED_CODES) -> dict[int, int]:
    """``{inode: state}`` of the tracked states from sock_diag answer buffers (up to the
    first that ends the dump)."""
    parser = DiagParser(codes)
    for data in buffers:
        if parser.feed(data):
            break
    return parser.result()


def _uniform_size(data: bytes) -> int:
    """The record size of a buffer of equal socket records (the kernel's usual answer, read
    as columns by ``_parse_uniform``); 0 for anything else (the end, an error, mixed)."""
    if len(data) < _NLMSG.size:
        return 0
    size, kind = struct.unpack_from("=IH", data, 0)
    if (kind != SOCK_DIAG_BY_FAMILY or size < _INODE_AT + 4 or size % 4
            or len(data) % size):
        return 0
    last_size, last_kind = struct.unpack_from("=IH", data, len(data) - size)
    return size if (last_size, last_kind) == (size, SOCK_DIAG_BY_FAMILY) else 0


def _parse_uniform(data: bytes, size: int, codes: frozenset[int], out: dict[int, int]) -> None:
    """Records of ``size`` bytes each: their states and inodes as numpy columns."""
    table = np.frombuffer(data, dtype=np.dtype({
        "names": ["len", "type", "state", "inode"], "formats": ["<u4", "<u2", "u1", "<u4"],
        "offsets": [0, 4, _STATE_AT, _INODE_AT], "itemsize": size}))
    if not ((table["len"] == size).all() and (table["type"] == SOCK_DIAG_BY_FAMILY).all()):
        step = size * 256  # not what it seemed: record by record, whole records a slice
        for i in range(0, len(data), step):
            _parse_diag(data[i:i + step], codes, out)
        return
    wanted = np.zeros(256, dtype=bool)
    wanted[list(codes)] = True
    keep = wanted[table["state"]] & (table["inode"] != 0)
    out.update(zip(table["inode"][keep].tolist(), table["state"][keep].tolist(), strict=True))


def _parse_diag(data: bytes, codes: frozenset[int], out: dict[int, int]) -> bool:
    """Add one netlink buffer's ``{inode: state}`` to ``out``, record by record; True at
    the dump's end."""
    offset = 0
    while offset + _NLMSG.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(data, offset)
        if length < _NLMSG.size:
            raise OSError("sock_diag: a malformed netlink message")
        if kind == NLMSG_DONE:
            return True
        if kind == NLMSG_ERROR:
            raise OSError("sock_diag: the kernel refused the query")
        if length >= _NLMSG.size + _MSG.size:
            fields = _MSG.unpack_from(data, offset + _NLMSG.size)
            state, inode = fields[1], fields[8]
            if inode and state in codes:
                out[inode] = state
        offset += (length + 3) & ~3
    return False


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
    try:  # links read relative to the open folder: no /proc/<pid>/fd walk per fd
        folder = os.open(f"/proc/{pid}/fd", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        names = os.listdir(folder)
        inodes: set[int] = set()
        for name in names:
            try:
                link = os.readlink(name, dir_fd=folder)
            except OSError:
                continue  # closed between listing and reading
            if link.startswith(_SOCKET_PREFIX):
                try:
                    inodes.add(int(link[len(_SOCKET_PREFIX):-1]))
                except ValueError:
                    continue
        return len(names), inodes
    except OSError:
        return None  # the process exited while its folder was open
    finally:
        os.close(folder)


def count_states(inodes: Iterable[int], states: dict[int, int]) -> dict[str, int]:
    """How many of ``inodes`` are in each tracked state (each inode once)."""
    counts = dict.fromkeys(TRACKED, 0)
    by_code = {code: kind for kind, code in TRACKED.items()}
    for inode in set(inodes):
        kind = by_code.get(states.get(inode, -1))
        if kind is not None:
            counts[kind] += 1
    return counts
