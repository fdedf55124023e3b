"""Shared test helpers: the CLI as a subprocess, and finding processes a run left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 180, env: dict[str, str] | None = None,
            cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """``python -m harness ARGS`` as a user would type it; output captured as text."""
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def processes_with_env(marker: str) -> list[str]:
    """Live processes whose environment contains ``marker`` (e.g. HARNESS_RUN_ID=...)."""
    found = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                state = (entry / "stat").read_text().split()[2]
                if state != "Z":
                    found.append(f"{entry.name}: {cmd}")
        except OSError:
            continue
    return found


@pytest.fixture
def repo() -> Path:
    return REPO
