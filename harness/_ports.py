"""Free loopback ports, and a clear error when a requested one is taken."""

from __future__ import annotations

import socket

from harness.errors import PortInUse

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port the OS says is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ensure_free(port: int, what: str, host: str = LOOPBACK) -> None:
    """Raise PortInUse naming ``what`` if ``host:port`` cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"{what}: port {host}:{port} is already in use ({exc.strerror})") from exc


class PortAllocator:
    """Hands out distinct free ports for one run (no two parts get the same port)."""

    def __init__(self, host: str = LOOPBACK) -> None:
        self.host = host
        self._given: set[int] = set()

    def take(self, requested: int | None, what: str) -> int:
        if requested is not None:
            if requested in self._given:
                raise PortInUse(f"{what}: port {requested} is given twice in this scenario")
            ensure_free(requested, what, self.host)
            self._given.add(requested)
            return requested
        for _ in range(50):
            port = free_port(self.host)
            if port not in self._given:
                self._given.add(port)
                return port
        raise PortInUse(f"{what}: could not find a free port on {self.host}")
