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

import yaml

from harness._finish import finish
from harness._procs import is_alive, kill_leftovers
from harness.events import EventKind
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
    for line in restore_scaled(run_dir):
        why += f"; {line}"
    manifest["reason"] = f"{manifest.get('reason') or ''}\n{why}".strip()
    write_json_atomic(run_dir / "run.json", manifest)
    summary = finish(run_dir)
    manifest["reported"] = True
    write_json_atomic(run_dir / "run.json", manifest)
    return summary, len(killed)


def scaled_to_zero(run_dir: Path) -> list[tuple[str, int]]:
    """``(target, replicas before)`` of every ``scale_zero`` pod fault the run's events show
    in force (added, neither undone nor removed) when its harness died."""
    added: dict[str, tuple[str, int]] = {}
    try:
        lines = (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:  # a line cut short by the kill
            continue
        if not isinstance(event, dict):
            continue
        kind, toxic = event.get("kind"), str(event.get("toxic"))
        if kind == EventKind.FAULT_ADDED and event.get("type") == "scale_zero" \
                and isinstance(event.get("replicas_before"), int):
            added[toxic] = (str(event.get("target")), int(event["replicas_before"]))
        elif kind in (EventKind.POD_FAULT_UNDONE, EventKind.FAULT_REMOVED):
            added.pop(toxic, None)
    return list(added.values())


def restore_scaled(run_dir: Path) -> list[str]:
    """Scale back what :func:`scaled_to_zero` finds (the Kubernetes API as the environment
    gives it); one line per Deployment: what was done, or why it could not be."""
    left = scaled_to_zero(run_dir)
    if not left:
        return []
    from harness.errors import HarnessError
    from harness.kube import scale_back
    from harness.scenario import KubeRef

    try:
        scenario = yaml.safe_load((run_dir / "scenario.yaml").read_text(encoding="utf-8"))
        targets = [scenario.get("target") or {}, *(scenario.get("targets") or [])]
        refs = {t.get("name", "target"): t.get("kube") for t in targets if isinstance(t, dict)}
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        return [f"scale_zero left in force, scenario.yaml unreadable ({exc}): scale "
                f"{', '.join(t for t, _ in left)} back by hand"]
    lines = []
    for target, replicas in left:
        try:
            lines.append(scale_back(KubeRef.model_validate(refs.get(target)), replicas))
        except (HarnessError, ValueError) as exc:
            lines.append(f"target {target}: its Deployment was left at 0 replicas and could "
                         f"not be scaled back to {replicas}: {exc}")
    return lines


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
