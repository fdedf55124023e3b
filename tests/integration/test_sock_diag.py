"""TCP states by sock_diag netlink agree with the /proc text tables (real sockets, 127.0.0.1
and ::1), and a process tree's connection count uses them."""

from __future__ import annotations

import contextlib
import os
import socket

import pytest

from harness.metrics import ProcessTree, diag_tcp_states, read_proc_tcp_states

pytestmark = pytest.mark.integration


def _pairs(family: int, host: str, n: int) -> list[socket.socket]:
    with socket.create_server((host, 0), family=family) as server:
        address = server.getsockname()[:2]
        out: list[socket.socket] = []
        for _ in range(n):
            out.append(socket.create_connection(address))
            out.append(server.accept()[0])
    return out


def test_sock_diag_sees_the_same_established_and_close_wait_sockets_as_proc():
    """Both readings give the same {inode: state}, IPv4 and IPv6, ESTABLISHED and CLOSE_WAIT,
    and a tree of this process counts its 2 x 50 + 2 x 5 connections (1 closed by its peer)."""
    socks = _pairs(socket.AF_INET, "127.0.0.1", 50)
    # no IPv6 loopback on this machine: IPv4 alone still pins the reading
    with contextlib.suppress(OSError):
        socks += _pairs(socket.AF_INET6, "::1", 5)
    peer = socks.pop(0)  # the client of the first pair; its server side goes CLOSE_WAIT
    peer.close()
    try:
        tree = ProcessTree(os.getpid(), descendants=False)
        for kind in ("conns", "close_wait"):
            tree.want(kind)
        reading = tree.read(1)
        via_diag, via_proc = diag_tcp_states(), read_proc_tcp_states(os.getpid())
        mine = {os.fstat(s.fileno()).st_ino for s in socks}
        assert {i: via_diag[i] for i in mine if i in via_diag} == \
            {i: via_proc[i] for i in mine if i in via_proc}
        assert mine <= set(via_diag)
        assert reading is not None
        assert reading.totals["close_wait"] == 1
        assert reading.totals["conns"] == len(socks) - 1
    finally:
        for s in socks:
            s.close()
