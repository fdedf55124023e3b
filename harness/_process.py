"""Child processes that cannot outlive the run, nor leave their own children behind.

Each child is started through a small supervisor (``_supervise.py``): the supervisor is the
harness's direct child and gets a parent-death signal, is a child subreaper, and runs the
child in its own process group; when the harness dies (even by SIGKILL), the child exits, or
``stop()`` is called, the supervisor kills the child's group and every descendant. The child
(not the supervisor) is what ``pid`` names and what the sampler reads. stdout/stderr go to a
log file in the run folder; ``<name>.proc.json`` beside it records the child's and the
supervisor's identity (pid + start time) so the next run can clean up after a killed one.
``stop()`` sends SIGTERM to the group, waits a grace period, then SIGKILLs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Literal

from harness._procs import identity

Role = Literal["target", "control", "load"]  # who a process is in the run

SUPERVISOR = str(Path(__file__).with_name("_supervise.py"))
_REPORT_TIMEOUT = 30.0  # seconds for the supervisor to say the child started (a busy machine)


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
        self._proc: subprocess.Popen[bytes] | None = None  # the supervisor
        self._pid: int | None = None  # the child
        self._log: IO[bytes] | None = None
        self.expected_exit = False

    @property
    def pid(self) -> int | None:
        """The child's pid (not its supervisor's): what the sampler reads."""
        return self._pid

    def start(self) -> ManagedProcess:
        """Start the child (through its supervisor); OSError if it cannot be executed."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._log.write(f"$ {' '.join(self.argv)}\n".encode())
        self._log.flush()
        report_r, report_w = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", SUPERVISOR, str(report_w), str(os.getpid()), "--",
                 *self.argv],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self._env,
                cwd=self._cwd,
                start_new_session=True,
                pass_fds=(report_w,),
            )
        except BaseException:
            os.close(report_r)
            self._log.close()
            raise
        finally:
            os.close(report_w)
        try:
            answer = self._read_report(report_r)
        finally:
            os.close(report_r)
        if not answer.startswith(b"error"):
            self._pid = int(answer)
            self._record()
            return self
        self._proc.wait()
        self._log.close()
        _, code, message = [*answer.decode(errors="replace").split(" ", 2), "", ""][:3]
        raise OSError(int(code) if code.isdigit() else 0, message.strip(), self.argv[0])

    def _read_report(self, fd: int) -> bytes:
        assert self._proc is not None
        data = b""
        deadline = time.monotonic() + _REPORT_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
            if data.endswith(b"\n") or data.startswith(b"error"):
                break
        if not data:
            self._proc.kill()
            self._proc.wait()
            return b"error 0 the supervisor did not start the process in time"
        return data.strip()

    def _record(self) -> None:
        """``<name>.proc.json``: who to clean up if the harness is killed (see harness._procs)."""
        assert self._proc is not None and self._pid is not None
        record = {"name": self.name, "role": self.role, "argv": self.argv,
                  "target": identity(self._pid), "supervisor": identity(self._proc.pid)}
        with contextlib.suppress(OSError):  # the log dir is full: the run's env vars still mark it
            self.log_path.with_suffix(".proc.json").write_text(json.dumps(record),
                                                               encoding="utf-8")

    def poll(self) -> int | None:
        """The exit code if the process has exited, else None."""
        return self._proc.poll() if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the child's whole process group (ignored if already gone)."""
        if self._pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._pid, sig)

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
        if self._proc.poll() is None:  # the supervisor itself: TERM makes it kill the tree
            self._proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5.0)
            self._proc.kill()
            self._proc.wait()
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
