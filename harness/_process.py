"""Child processes that cannot outlive the run.

Each child runs in its own process group (so its own children are stopped with it), logs
stdout/stderr to files in the run folder, and on Linux gets PR_SET_PDEATHSIG so that even a
SIGKILLed harness does not leave it behind. ``stop()`` sends SIGTERM to the group, waits a
grace period, then SIGKILLs the group.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Literal

Role = Literal["target", "control", "load"]  # who a process is in the run

_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ManagedProcess:
    """One child process in its own group, with its output in ``<log_dir>/<name>.log``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        role: Role = "target",
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.role = role
        self.log_path = log_dir / f"{name}.log"
        self._env = dict(os.environ if env is None else env)
        self._cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.expected_exit = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._log.write(f"$ {' '.join(self.argv)}\n".encode())
        self._log.flush()
        self._proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self._env,
            cwd=self._cwd,
            start_new_session=True,
            preexec_fn=_child_setup,
        )
        return self

    def poll(self) -> int | None:
        """The exit code if the process has exited, else None."""
        return self._proc.poll() if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the whole process group (ignored if already gone)."""
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM the group, wait ``grace`` s, then SIGKILL. Idempotent; never raises."""
        if self._proc is None:
            return None
        self.expected_exit = True
        if self._proc.poll() is None:
            self.signal(signal.SIGTERM)
            self.signal(signal.SIGCONT)  # a stopped (SIGSTOPped) process handles it only now
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=grace)
        # the group may hold grandchildren even after the leader exited
        self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5.0)
        if self._log and not self._log.closed:
            self._log.close()
        return self._proc.returncode

    def tail(self, lines: int = 20) -> str:
        """The last lines of the process's log, for error messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout`` s passed: the one polling helper."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
