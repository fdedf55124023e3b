"""A target in its own network namespace, and faults below TCP with iptables inside it.

One namespace per ``netns: true`` target (local backend). The harness picks a /29 from
10.213.0.0/16 that no address or route of the machine uses and no other run holds (records
under ``/run/soak-harness/netns``, taken under a lock, so concurrent runs never collide),
and joins it to the host with a veth pair:

- ``host``    (x.x.x.1, host side): what the target sees of the machine;
- ``service`` (x.x.x.2, namespace side): where proxies and load reach the target; the only
  address faults touch;
- ``control`` (x.x.x.3, namespace side): where the harness reads health, metrics and tasks,
  so a blackhole never blinds the sampler.

The namespace has no default route and nothing forwards or NATs for it: it reaches the
host's side of the link and nothing else. Its iptables rules live in one chain of its own
(``SOAK-<id>``, hooked into the namespace's INPUT and OUTPUT), so nothing on the host's
firewall is touched; deleting the namespace deletes them.

Names carry the id of the record (netns ``sk-<id>``, veth ``sk-<id>-h``/``sk-<id>-n``);
the record names the harness process (pid + start time) that owns it, so the next run finds
what a killed run left (``sweep``) and removes it: processes in the namespace, the veth, the
namespace, the record.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness._procs import identity, is_alive
from harness.errors import EnvironmentFailure, HarnessError
from harness.scenario import NetworkFault

NETNS_DIR = Path("/var/run/netns")
STATE_DIR = Path("/run/soak-harness/netns")  # tmpfs: gone at reboot, like the namespaces
POOL = ipaddress.IPv4Network("10.213.0.0/16")
BLOCK_PREFIX = 29
PREFIX = "sk-"
TOOLS = ("ip", "iptables", "nsenter")
CMD_TIMEOUT = 10.0
# connection marks of the connections a blackhole caught (bit per direction): their packets
# stay dropped after the phase unless the blackhole heals
VANISHED = {"in": 0x1, "out": 0x2}


class NetnsError(EnvironmentFailure):
    """A namespace, veth or iptables command failed (exit 3)."""


def machine_problems() -> list[str]:
    """Why this machine cannot run a target in its own network namespace (empty: it can)."""
    if platform.system() != "Linux":
        return [f"network namespaces need Linux (this is {platform.system()})"]
    problems = []
    if os.geteuid() != 0:
        problems.append(f"network namespaces and iptables need root (running as uid "
                        f"{os.geteuid()})")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        problems.append(f"missing on PATH: {', '.join(missing)} (Debian: apt-get install "
                        "iproute2 iptables util-linux)")
    return problems


def require_machine(what: str) -> None:
    """Raise EnvironmentFailure (exit 3) naming ``what`` needs it, before anything starts."""
    problems = machine_problems()
    if problems:
        raise EnvironmentFailure(f"{what}: this machine cannot run it: " + "; ".join(problems))


def _run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=CMD_TIMEOUT,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetnsError(f"{' '.join(argv)}: {exc}") from exc
    if check and done.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} failed ({done.returncode}): "
                         f"{(done.stderr or done.stdout).strip()}")
    return done


@dataclass(frozen=True)
class Addresses:
    """The /29 of one namespace and the three addresses used in it."""

    block: ipaddress.IPv4Network

    @property
    def host(self) -> str:
        return str(self.block.network_address + 1)

    @property
    def service(self) -> str:
        return str(self.block.network_address + 2)

    @property
    def control(self) -> str:
        return str(self.block.network_address + 3)


@dataclass
class Netns:
    """One target's namespace: reserved (a record), then created, then destroyed."""

    id: str
    target: str
    addresses: Addresses
    created: bool = False
    _applied: dict[str, list[list[str]]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.id}"

    @property
    def host_if(self) -> str:
        return f"{PREFIX}{self.id}-h"

    @property
    def ns_if(self) -> str:
        return f"{PREFIX}{self.id}-n"

    @property
    def chain(self) -> str:
        return f"SOAK-{self.id}"

    @property
    def record(self) -> Path:
        return STATE_DIR / f"{self.name}.json"

    def enter(self) -> list[str]:
        """The argv prefix that runs a command inside the namespace (nsenter execs it, so
        the pid the harness sees is the command's own)."""
        return ["nsenter", f"--net={NETNS_DIR / self.name}", "--"]

    # ------------------------------------------------------------------ life

    def create(self, run_dir: Path) -> None:
        """The namespace, the veth pair, the addresses, the chain; raises NetnsError."""
        _write_record(self, run_dir)
        self.created = True
        inside = self.enter()
        a = self.addresses
        _run(["ip", "netns", "add", self.name])
        _run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if,
              "netns", self.name])
        _run(["ip", "addr", "add", f"{a.host}/{BLOCK_PREFIX}", "dev", self.host_if])
        _run(["ip", "link", "set", self.host_if, "up"])
        _run([*inside, "ip", "link", "set", "lo", "up"])
        for addr in (a.service, a.control):  # service first: the source of its own dials
            _run([*inside, "ip", "addr", "add", f"{addr}/{BLOCK_PREFIX}", "dev", self.ns_if])
        _run([*inside, "ip", "link", "set", self.ns_if, "up"])
        self._iptables("-N", self.chain)
        for hook in ("INPUT", "OUTPUT"):
            self._iptables("-A", hook, "-j", self.chain)
        for direction, mark in VANISHED.items():  # the caught connections stay caught
            self._iptables("-A", self.chain, *self._select(direction), "-m", "connmark",
                           "--mark", f"{mark:#x}/{mark:#x}", "-j", "DROP")
        if not _wait_for_address(a.host, self.host_if):
            raise NetnsError(f"veth {self.host_if}: {a.host} never became usable")

    def destroy(self) -> list[str]:
        """Kill what runs inside, delete the veth and the namespace, drop the record.
        Idempotent; returns the problems met (never raises)."""
        problems = _destroy(self.name, self.host_if)
        with contextlib.suppress(FileNotFoundError):
            self.record.unlink()
        return problems

    # ------------------------------------------------------------------ faults

    def _iptables(self, *args: str) -> None:
        _run([*self.enter(), "iptables", "-w", "5", *args])

    def _select(self, direction: str) -> list[str]:
        a = self.addresses
        if direction == "in":
            return ["-i", self.ns_if, "-d", a.service]
        return ["-o", self.ns_if, "-s", a.service]

    def rules(self, fault: NetworkFault, label: str) -> list[list[str]]:
        """The rules (``-A`` arguments after the chain) that make ``fault``."""
        tag = ["-m", "comment", "--comment", label[:250]]
        directions = ["in", "out"] if fault.direction == "both" else [fault.direction]
        out: list[list[str]] = []
        if fault.type == "blackhole":
            if not fault.heal:
                bits = sum(VANISHED[d] for d in directions)
                for d in ("in", "out"):  # any packet of a connection marks it caught
                    out.append([*self._select(d), *tag, "-j", "CONNMARK", "--or-mark",
                                f"{bits:#x}"])
            out += [[*self._select(d), *tag, "-j", "DROP"] for d in directions]
        elif fault.type == "packet_loss":
            assert fault.percent is not None
            out += [[*self._select(d), *tag, "-m", "statistic", "--mode", "random",
                     "--probability", f"{fault.percent / 100:.4f}", "-j", "DROP"]
                    for d in directions]
        else:  # partition
            assert fault.upstream is not None
            host, _, port = fault.upstream.rpartition(":")
            ip = resolve_ipv4(host)
            out += [["-d", ip, "-p", "tcp", "--dport", port, *tag, "-j", "DROP"],
                    ["-s", ip, "-p", "tcp", "--sport", port, *tag, "-j", "DROP"]]
        return out

    def apply(self, fault: NetworkFault, label: str) -> None:
        """Append the fault's rules to the chain (all or none)."""
        added: list[list[str]] = []
        try:
            for rule in self.rules(fault, label):
                self._iptables("-A", self.chain, *rule)
                added.append(rule)
        except HarnessError:
            for rule in added:
                with contextlib.suppress(HarnessError):
                    self._iptables("-D", self.chain, *rule)
            raise
        self._applied[label] = added

    def remove(self, label: str) -> None:
        """Delete the rules ``apply`` added for ``label``; raises NetnsError."""
        for rule in list(self._applied.get(label, [])):
            self._iptables("-D", self.chain, *rule)
            self._applied[label].remove(rule)
        self._applied.pop(label, None)

    def counters(self) -> dict[str, int]:
        """The namespace's TCP counters (``nstat``-like, from ``/proc/net/snmp`` inside)."""
        done = _run([*self.enter(), "cat", "/proc/net/snmp"], check=False)
        rows = [line.split() for line in done.stdout.splitlines() if line.startswith("Tcp:")]
        if len(rows) < 2:
            return {}
        return {k: int(v) for k, v in zip(rows[0][1:], rows[1][1:], strict=False)
                if v.lstrip("-").isdigit()}


def resolve_ipv4(host: str) -> str:
    """``host`` as an IPv4 address (names resolved now); raises EnvironmentFailure."""
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    try:
        return socket.gethostbyname(host)
    except OSError as exc:
        raise EnvironmentFailure(f"partition upstream {host!r}: cannot resolve it "
                                 f"({exc})") from exc


def _wait_for_address(addr: str, dev: str, timeout: float = 3.0) -> bool:
    """The address left the kernel's tentative state (bindable) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((addr, 0))
                return True
            except OSError:
                time.sleep(0.05)
    return False


def _destroy(name: str, host_if: str) -> list[str]:
    problems: list[str] = []
    if (NETNS_DIR / name).exists():
        pids = _run(["ip", "netns", "pids", name], check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        if pids:
            deadline = time.monotonic() + 5.0
            while (_run(["ip", "netns", "pids", name], check=False).stdout.split()
                   and time.monotonic() < deadline):
                time.sleep(0.05)
    if Path(f"/sys/class/net/{host_if}").exists():
        done = _run(["ip", "link", "del", host_if], check=False)
        if done.returncode != 0 and Path(f"/sys/class/net/{host_if}").exists():
            problems.append(f"ip link del {host_if}: {done.stderr.strip()}")
    if (NETNS_DIR / name).exists():
        done = _run(["ip", "netns", "del", name], check=False)
        if done.returncode != 0:
            problems.append(f"ip netns del {name}: {done.stderr.strip()}")
    return problems


# ---------------------------------------------------------------------------- records


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(STATE_DIR / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_record(ns: Netns, run_dir: Path | None) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = ns.record.with_suffix(".tmp")
    tmp.write_text(json.dumps({
        "name": ns.name, "target": ns.target, "block": str(ns.addresses.block),
        "owner": identity(), "run_dir": str(run_dir) if run_dir else None,
    }), encoding="utf-8")
    tmp.replace(ns.record)


def _records() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if not STATE_DIR.is_dir():
        return out
    for path in STATE_DIR.glob(f"{PREFIX}*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        out[path.stem] = data if isinstance(data, dict) else {}
    return out


def _blocks_in_use() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network of an address or route on this machine (host namespace)."""
    nets: list[ipaddress.IPv4Network] = []
    addrs = _run(["ip", "-o", "-4", "addr", "show"], check=False).stdout
    routes = _run(["ip", "-4", "route", "show", "table", "all"], check=False).stdout
    for word in (addrs + "\n" + routes).split():
        with contextlib.suppress(ValueError):
            if "/" in word or word[:1].isdigit():
                nets.append(ipaddress.IPv4Network(word, strict=False))
    return nets


def reserve(targets: list[str]) -> dict[str, Netns]:
    """A namespace plan (id, /29) per target, each recorded as this process's, so no other
    run picks the same block; ``Netns.create`` makes them. Sweeps dead runs' leftovers
    first. Raises EnvironmentFailure when the pool is exhausted."""
    out: dict[str, Netns] = {}
    with _locked():
        _sweep_locked()
        taken = [*_blocks_in_use()]
        for rec in _records().values():
            with contextlib.suppress(ValueError, TypeError):
                taken.append(ipaddress.IPv4Network(rec.get("block")))
        blocks: list[ipaddress.IPv4Network] = list(POOL.subnets(new_prefix=BLOCK_PREFIX))
        start = secrets.randbelow(len(blocks))
        for target in targets:
            for i in range(len(blocks)):
                block = blocks[(start + i) % len(blocks)]
                if block.network_address == POOL.network_address:
                    continue
                if not any(block.overlaps(net) for net in taken):
                    break
            else:
                raise EnvironmentFailure(f"no free /{BLOCK_PREFIX} left in {POOL} for target "
                                         f"{target!r}'s network namespace")
            taken.append(block)
            ns = Netns(id=secrets.token_hex(4), target=target, addresses=Addresses(block))
            _write_record(ns, None)
            out[target] = ns
    return out


def release(namespaces: list[Netns]) -> list[str]:
    """Destroy what was created and drop every record; the problems met."""
    problems: list[str] = []
    for ns in namespaces:
        problems += ns.destroy()
    return problems


def sweep() -> list[str]:
    """Remove what runs whose harness died left (namespaces, veths, records); the names
    removed. Does nothing where namespaces cannot be used (not root, no ``ip``)."""
    if machine_problems():
        return []
    with _locked():
        return _sweep_locked()


def _sweep_locked() -> list[str]:
    removed: list[str] = []
    records = _records()
    listed = _run(["ip", "netns", "list"], check=False).stdout.split()
    names = {n for n in listed if n.startswith(PREFIX)} | set(records)
    links = Path("/sys/class/net")
    names |= {p.name[:-2] for p in links.glob(f"{PREFIX}*-h")} if links.is_dir() else set()
    for name in sorted(names):
        rec = records.get(name)
        owner = rec.get("owner") if rec else None
        if isinstance(owner, dict) and is_alive(owner):
            continue
        _destroy(name, f"{name}-h")
        with contextlib.suppress(FileNotFoundError):
            (STATE_DIR / f"{name}.json").unlink()
        removed.append(name)
    return removed


def leftovers() -> list[str]:
    """Every namespace, veth and record of this module that exists now (for tests)."""
    found = [f"netns {n}" for n in _run(["ip", "netns", "list"], check=False).stdout.split()
             if n.startswith(PREFIX)]
    links = Path("/sys/class/net")
    found += [f"veth {p.name}" for p in links.glob(f"{PREFIX}*")] if links.is_dir() else []
    found += [f"record {name}" for name in _records()]
    return found
