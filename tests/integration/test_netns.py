"""A real network namespace, veth and iptables chain, driven the way the local backend does.

Needs Linux and root (the CI machine is both); `make setup-test-tools` installs iproute2 and
iptables where missing. Every socket here is on the namespace's own /29 (10.213.0.0/16).
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends import Netns, netns_leftovers, release_netns, reserve_netns
from harness.scenario import NetworkFault

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(platform.system() != "Linux", reason="network namespaces are Linux's"),
    pytest.mark.skipif(platform.system() == "Linux" and os.geteuid() != 0,
                       reason="network namespaces and iptables need root"),
]

# inside the namespace: connect to host:port, print "ok" or the error, within 1.5 s
DIAL = ("import socket,sys\n"
        "try:\n"
        "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5).close()\n"
        "    print('ok')\n"
        "except OSError as e:\n"
        "    print(type(e).__name__)\n")


@pytest.fixture
def ns(tmp_path: Path) -> Iterator[Netns]:
    """A created namespace, destroyed (and checked gone) at the end."""
    made = reserve_netns(["t"])["t"]
    try:
        made.create(tmp_path)
        yield made
    finally:
        assert release_netns([made]) == []
        assert [item for item in netns_leftovers() if made.name in item] == []


@pytest.fixture
def listener(ns: Netns) -> Iterator[socket.socket]:
    """A TCP server on the host's side of the link (what the namespace can reach)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((ns.addresses.host, 0))
    sock.listen(16)
    yield sock
    sock.close()


def dial_from_inside(ns: Netns, host: str, port: int) -> str:
    done = subprocess.run([*ns.enter(), sys.executable, "-c", DIAL, host, str(port)],
                          capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.strip()


def host_rules() -> str:
    return subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=True).stdout


def test_partition_cuts_one_upstream_only_while_in_force(ns: Netns, listener: socket.socket):
    """partition: the target cannot reach the named upstream during the fault, can before
    and after; the host's own firewall is never touched (the chain lives in the namespace)."""
    port = listener.getsockname()[1]
    before = host_rules()
    assert dial_from_inside(ns, ns.addresses.host, port) == "ok"
    fault = NetworkFault(target="t", type="partition", upstream=f"{ns.addresses.host}:{port}")
    ns.apply(fault, "p-0")
    try:
        assert dial_from_inside(ns, ns.addresses.host, port) == "TimeoutError"
        assert host_rules() == before
    finally:
        ns.remove("p-0")
    assert dial_from_inside(ns, ns.addresses.host, port) == "ok"
    for conn in [listener.accept()[0], listener.accept()[0]]:
        conn.close()


def test_the_namespace_reaches_its_link_and_nothing_else(ns: Netns):
    """No route out: the namespace cannot reach the machine's other addresses (so nothing
    beyond them either: it has no default route)."""
    addrs = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True,
                           check=True).stdout.split()
    own = [a.split("/")[0] for a in addrs if "/" in a and not a.startswith(("127.", "10.213."))]
    assert own, "precondition: the machine has an address outside loopback and the pool"
    # the machine's own address: even a broken namespace could not send a packet off it
    assert dial_from_inside(ns, own[0], 9) == "OSError"  # ENETUNREACH: no route at all
    out = subprocess.run([*ns.enter(), "ip", "-4", "route"], capture_output=True, text=True,
                         check=True).stdout
    assert "default" not in out


def test_a_blackholed_connection_stays_dropped_and_new_ones_work(ns: Netns):
    """blackhole (heal: false): a connection it caught stays silent after the phase; a
    connection made afterwards works; with heal: true the caught one resumes."""
    port = 18080  # any port: nothing else listens in a namespace made for this test
    # a process in the namespace that echoes on its service address, like a target
    echo = subprocess.Popen(
        [*ns.enter(), sys.executable, "-c",
         "import socket,threading\n"
         "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
         f"s.bind(('0.0.0.0', {port})); s.listen(8); print('up', flush=True)\n"
         "def serve(c):\n"
         "    while (d := c.recv(64)): c.sendall(d)\n"
         "while True: threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()\n"],
        stdout=subprocess.PIPE, text=True)
    conns: list[socket.socket] = []
    try:
        assert echo.stdout is not None and echo.stdout.readline().strip() == "up"

        def connect() -> socket.socket:
            c = socket.create_connection((ns.addresses.service, port), timeout=1.0)
            conns.append(c)
            return c

        def echoes(c: socket.socket) -> bool:
            try:
                c.sendall(b"x")
                return c.recv(8) == b"x"
            except OSError:
                return False

        caught, healed = connect(), connect()
        assert echoes(caught) and echoes(healed)
        ns.apply(NetworkFault(target="t", type="blackhole"), "b-0")
        assert not echoes(caught)  # the packets are gone: no answer, no reset
        ns.remove("b-0")
        assert not echoes(caught)  # still gone after the phase
        assert echoes(connect())  # a new peer gets through
        # heal: true: a connection it caught resumes (its retransmission gets through)
        ns.apply(NetworkFault(target="t", type="blackhole", heal=True), "b-1")
        assert not echoes(healed)
        ns.remove("b-1")
        healed.settimeout(10.0)  # TCP's retransmission backoff after the 1 s wait: < 4 s
        assert healed.recv(8) == b"x"
    finally:
        for c in conns:
            c.close()
        echo.kill()
        echo.wait()
        if echo.stdout is not None:
            echo.stdout.close()
