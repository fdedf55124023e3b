"""Processes by identity (pid + start time), and the leftovers of a harness that was killed.

A pid alone names a process only while it lives: the kernel reuses pids. A pid with its start
time (``/proc/<pid>/stat`` field 22, clock ticks since boot) and the boot id names exactly one
process, ever. The harness records its own identity in ``run.json`` (``harness``) and each
child's in ``logs/<name>.proc.json``; the next run uses them to find what a killed run left
behind, and never kills an unrelated process that reused a pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")
RUN_ID_ENV = "HARNESS_RUN_ID"  # every child of a run inherits it: the run folder's path


@dataclass(frozen=True)
class Stat:
    pid: int
    ppid: int
    pgrp: int
    state: str
    start: int  # clock ticks since boot


def stat(pid: int) -> Stat | None:
    """The process's stat line, or None when there is no such process."""
    try:
        data = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    return Stat(pid, int(fields[1]), int(fields[2]), fields[0].decode(), int(fields[19]))


def boot_id() -> str:
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def identity(pid: int | None = None) -> dict[str, Any]:
    """``{"pid", "start", "boot_id"}`` of a process (default: this one)."""
    pid = os.getpid() if pid is None else pid
    st = stat(pid)
    return {"pid": pid, "start": st.start if st else None, "boot_id": boot_id()}


def is_alive(ident: dict[str, Any]) -> bool:
    """True while the very process ``ident`` names runs (not a zombie, not a pid reuser)."""
    if ident.get("boot_id") and ident.get("boot_id") != boot_id():
        return False
    try:
        st = stat(int(ident["pid"]))
    except (KeyError, TypeError, ValueError):
        return False
    return st is not None and st.state != "Z" and st.start == ident.get("start")


def _ancestors() -> set[int]:
    out, pid = set(), os.getpid()
    while pid > 1:
        out.add(pid)
        st = stat(pid)
        if st is None:
            break
        pid = st.ppid
    return out


def _has_env(pid: int, needle: bytes) -> bool:
    try:
        environ = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return (b"\0" + environ + b"\0").find(b"\0" + needle + b"\0") >= 0


def child_records(run_dir: Path) -> list[dict[str, Any]]:
    """The ``logs/*.proc.json`` records of a run folder (unreadable ones skipped)."""
    records = []
    for path in sorted((run_dir / "logs").glob("*.proc.json")):
        with contextlib.suppress(OSError, ValueError, RecursionError):
            records.append(json.loads(path.read_text(encoding="utf-8")))
    return records


def leftovers(run_dir: Path) -> list[Stat]:
    """Live processes a run left behind: in a recorded process group, or carrying the run's
    ``HARNESS_RUN_ID``. Only for a run whose harness is dead; never this process or its
    ancestors.

    A group is taken as the run's when its leader is the recorded process (same start time),
    or when the leader is gone and members remain: the kernel does not hand out a pid that
    is still some group's id, so members of group N without process N are that old group's.
    """
    groups: set[int] = set()
    for record in child_records(run_dir):
        for ident in (record.get("target"), record.get("supervisor")):
            if not isinstance(ident, dict) or "pid" not in ident:
                continue
            with contextlib.suppress(TypeError, ValueError):
                leader = stat(int(ident["pid"]))
                if leader is None or is_alive(ident):
                    groups.add(int(ident["pid"]))
    needle = f"{RUN_ID_ENV}={run_dir.resolve()}".encode()
    spare = _ancestors()
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) in spare:
            continue
        st = stat(int(entry.name))
        if st is None or st.state == "Z":
            continue
        if st.pgrp in groups or st.pid in groups or _has_env(st.pid, needle):
            found.append(st)
    return found


def kill_leftovers(run_dir: Path) -> list[Stat]:
    """SIGKILL every leftover of ``run_dir`` (repeating while forks land); what was killed."""
    killed: dict[int, Stat] = {}
    for _ in range(50):
        found = leftovers(run_dir)
        if not found:
            break
        for st in found:
            with contextlib.suppress(OSError):
                os.kill(st.pid, signal.SIGKILL)
            killed.setdefault(st.pid, st)
        time.sleep(0.02)
    return list(killed.values())
