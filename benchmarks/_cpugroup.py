"""Equal CPU for two sides of a benchmark run at the same time (Linux cgroups).

Run one after the other, two configurations meet different machines: on this shared VM a
core's speed moves by a third within minutes, more than the few percent a benchmark is
after. Run at the same time, both meet the same machine; what is left is making the
scheduler split it fairly between them, whatever each side runs (a Locust master and
workers, a sampler, a supervisor per child, its own nginx and toxiproxy-server). CFS does
that between cgroups of equal weight: each side is one cgroup of the ``cpu`` controller per
core it uses (``throughput.Placement``), and everything a side starts inherits its group.

cgroup v2 (``cpu.weight``) when the unified hierarchy has the ``cpu`` controller, else v1
(``cpu.shares``). Needs write access to the hierarchy (root, or a delegated subtree):
without it, :class:`CpuGroup` raises :class:`CpuGroupError` naming the path. Each group is
removed on :meth:`CpuGroup.close`; a process still in it is moved back to the parent first.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import psutil

ROOT = Path("/sys/fs/cgroup")


class CpuGroupError(RuntimeError):
    """The cgroup hierarchy is missing or not writable here."""


def _hierarchy() -> Path:
    unified = ROOT / "cgroup.controllers"
    if unified.exists() and "cpu" in unified.read_text().split():
        return ROOT
    if (ROOT / "cpu" / "cpu.shares").exists() or (ROOT / "cpu" / "cgroup.procs").exists():
        return ROOT / "cpu"
    raise CpuGroupError(f"no cgroup cpu controller under {ROOT} (v2 with cpu, or v1's cpu/)")


class CpuGroup:
    """One cgroup of the cpu controller at the default weight; processes join by pid."""

    def __init__(self, name: str) -> None:
        base = _hierarchy()
        self.parent = base
        self.path = base / f"{name}-{os.getpid()}"
        try:
            if base == ROOT:  # v2: the root must hand the cpu controller to its children
                (ROOT / "cgroup.subtree_control").write_text("+cpu")
            self.path.mkdir(exist_ok=True)
        except OSError as exc:
            raise CpuGroupError(f"cannot create the cgroup {self.path}: {exc} "
                                "(needs root or a delegated cgroup subtree)") from exc

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) and every descendant it has in; the
        children it starts later inherit (a cgroup v1 move takes one process, not the
        children it already has: an nginx's worker would stay outside)."""
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            self.procs.write_text(str(proc.pid))

    def argv(self, argv: list[str]) -> list[str]:
        """``argv`` run from inside the group: it joins before it execs, so every process
        it starts is in the group from its first instruction."""
        return ["sh", "-c", f'echo $$ > "{self.procs}" && exec "$@"', "sh", *argv]

    def close(self) -> None:
        """Move anything left back to the parent, then remove the group."""
        for _ in range(50):
            with contextlib.suppress(OSError):
                for pid in self.procs.read_text().split():
                    with contextlib.suppress(OSError):
                        (self.parent / "cgroup.procs").write_text(pid)
                self.path.rmdir()
                return
            time.sleep(0.1)
        raise CpuGroupError(f"could not remove the cgroup {self.path}")

    def __enter__(self) -> CpuGroup:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
