"""Sockets of vanished peers: kept open and silent until the run ends.

A client whose network vanished sends no FIN: to the server its connection is still there.
A user that abandons a socket hands it to :func:`abandon`, which keeps a reference (so the
garbage collector does not close it) until Locust stops (``test_stop``/``quitting``). A
socket whose server already closed or reset it is released earlier: the server is done with
it, so closing our end changes nothing it can see, and the load side stays bounded against a
server that drops dead peers.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

from locust import events

_ABANDONED: list[socket.socket] = []
_TCP_CLOSE, _TCP_CLOSE_WAIT = 7, 8  # tcpi_state (linux/tcp_states.h): reset / peer sent FIN
_PRUNE_EVERY = 1.0  # seconds between scans for sockets the server has closed
_last_prune = 0.0


def peer_closed(sock: socket.socket) -> bool:
    """The server closed (FIN) or reset this connection; never reads or sends anything."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)
    except OSError:
        return True
    return info[0] in (_TCP_CLOSE, _TCP_CLOSE_WAIT)


def abandon(sock: socket.socket) -> None:
    """Leave ``sock`` open and silent until the run ends (or the server closes it)."""
    global _last_prune
    now = time.monotonic()
    if now - _last_prune >= _PRUNE_EVERY:
        _last_prune = now
        for old in [s for s in _ABANDONED if peer_closed(s)]:
            _ABANDONED.remove(old)
            old.close()
    _ABANDONED.append(sock)


def held() -> int:
    """How many abandoned sockets are held."""
    return len(_ABANDONED)


def close_abandoned(**_: Any) -> None:
    """Close every abandoned socket (the run is over)."""
    while _ABANDONED:
        with contextlib.suppress(OSError):
            _ABANDONED.pop().close()


_hooks: Any = events  # locust's event hooks are untyped
_hooks.test_stop.add_listener(close_abandoned)
_hooks.quitting.add_listener(close_abandoned)
