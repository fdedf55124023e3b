"""Runs whose harness was killed: clean up what they left and finish their reports.

A harness killed hard (SIGKILL, OOM, power) leaves a run folder whose ``run.json`` names a
harness that no longer lives (pid + start time, ``harness._procs``) and was never marked
``reported``. The next ``harness run`` (for its reports root) and ``harness report`` (for the
folder it is given) kill that run's leftover processes, mark it interrupted, and write its
summary and report with ``finish()``. Folders of older versions (no ``harness`` record) and
folders whose harness still runs are left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness._finish import finish
from harness._procs import is_alive, kill_leftovers
from harness.runfolder import write_json_atomic
from harness.verdicts import Summary


def orphaned(run_dir: Path) -> dict[str, Any] | None:
    """The manifest of a run whose harness died before its report was written, else None."""
    try:
        manifest = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # damaged: `harness report` names it
        return None
    if not isinstance(manifest, dict) or manifest.get("reported", True):
        return None
    ident = manifest.get("harness")
    if not isinstance(ident, dict) or is_alive(ident):
        return None
    return manifest


@contextlib.contextmanager
def _claim(run_dir: Path) -> Iterator[bool]:
    """An exclusive lock on the folder, so two new runs do not finish the same one at once."""
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def recover(run_dir: Path, manifest: dict[str, Any]) -> tuple[Summary, int]:
    """Kill the run's leftovers, mark it interrupted, finish its report; (summary, killed)."""
    killed = kill_leftovers(run_dir)
    ident = manifest.get("harness", {})
    if manifest.get("status") in ("running", "completed"):
        manifest["status"] = "interrupted"
    why = (f"the harness (pid {ident.get('pid')}) died before it finished this run; "
           f"{len(killed)} leftover process(es) killed and the report written by pid {os.getpid()}")
    manifest["reason"] = f"{manifest.get('reason') or ''}\n{why}".strip()
    write_json_atomic(run_dir / "run.json", manifest)
    summary = finish(run_dir)
    manifest["reported"] = True
    write_json_atomic(run_dir / "run.json", manifest)
    return summary, len(killed)


def recover_runs(root: Path, *, log: Any = None) -> list[Path]:
    """Recover every orphaned run folder directly under ``root``; the folders recovered.

    ``log(text)`` hears one line per folder. A folder that cannot be finished (its disk is
    still full) is named and left for the next try.
    """
    done: list[Path] = []
    if not root.is_dir():
        return done
    for run_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        manifest = orphaned(run_dir)
        if manifest is None:
            continue
        with _claim(run_dir) as mine:
            if not mine or orphaned(run_dir) is None:
                continue
            try:
                summary, killed = recover(run_dir, manifest)
            except Exception as exc:  # named, and left for the next run to retry
                if log:
                    log(f"could not finish the interrupted run {run_dir}: {exc}")
                continue
        done.append(run_dir)
        if log:
            log(f"finished the interrupted run {run_dir} ({summary.status}; "
                f"{killed} leftover process(es) killed)")
    return done
