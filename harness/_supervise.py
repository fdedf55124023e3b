"""The supervisor between the harness and each process it starts (run as a script, stdlib only).

``python -I -S _supervise.py REPORT_FD PARENT_PID -- ARGV...``

The kernel's parent-death signal reaches only a direct child, so a SIGKILLed harness used to
leave its targets' children (workers, helpers, daemons that called setsid) running. This
process is that direct child: it gets SIGTERM when the harness dies (PR_SET_PDEATHSIG), is a
child subreaper (PR_SET_CHILD_SUBREAPER: every orphaned descendant of the target is
re-parented to it instead of init, so none escapes its view), and starts ARGV in its own
process group. When the harness dies, or the supervisor gets SIGTERM/SIGINT/SIGHUP, or the
target exits, it kills the target's group and every descendant it has, reaps them, and exits
the way the target did (the same exit code, or the same signal).

It writes the target's pid to REPORT_FD (or ``error ERRNO MESSAGE`` when ARGV could not be
executed) and closes it. It is not imported by the harness: it must start fast and never
load the harness, its dependencies or the target's environment (``-I -S``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
STOPS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class _Stop(Exception):
    pass


def _prctl(option: int, value: int) -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _stats() -> dict[int, tuple[int, int, bytes]]:
    """{pid: (ppid, pgrp, state)} of every process now."""
    out: dict[int, tuple[int, int, bytes]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2:].split()
        out[int(name)] = (int(fields[1]), int(fields[2]), fields[0])
    return out


def _victims(group: int) -> list[int]:
    """Live processes below this one, or in the target's process group."""
    stats = _stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _pgrp, _state) in stats.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    found |= {pid for pid, (_pp, pgrp, _st) in stats.items() if pgrp == group}
    found.discard(os.getpid())
    return [pid for pid in found if stats.get(pid, (0, 0, b"Z"))[2] != b"Z"]


def _reap() -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_all(group: int) -> None:
    """SIGKILL the group and every descendant until none is left (forks in flight included)."""
    for _ in range(200):
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
        victims = _victims(group)
        for pid in victims:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        _reap()
        if not victims:
            return
        time.sleep(0.01)


def _exec_child(argv: list[str], err_w: int) -> None:  # the forked child; never returns
    try:
        os.setpgid(0, 0)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        for sig in (*STOPS, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(err_w, f"error {exc.errno} {exc.strerror}".encode())
    except BaseException as exc:  # anything else: say it, then exit
        os.write(err_w, f"error 0 {exc!r}".encode())
    os._exit(127)


def _exit_like(status: int) -> None:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        sig = -code
        with contextlib.suppress(OSError, ValueError):  # SIGKILL/SIGSTOP have no handler
            signal.signal(sig, signal.SIG_DFL)
        with contextlib.suppress(OSError, ValueError):
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            os.kill(os.getpid(), sig)
            time.sleep(1)
        os._exit(128 + sig)
    os._exit(code)


def _raise_stop(_signum: int, _frame: object) -> None:
    raise _Stop


def main(argv: list[str]) -> None:
    report_fd, parent, target = int(argv[1]), int(argv[2]), argv[4:]
    signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)  # held until the handlers are in place
    os.set_inheritable(report_fd, False)  # the target must not hold the harness's pipe
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    if os.getppid() != parent:  # the harness died before the line above: start nothing
        os.write(report_fd, b"error 0 the harness exited before its child started")
        os._exit(1)
    err_r, err_w = os.pipe()  # close-on-exec: EOF means the exec worked
    pid = os.fork()
    if pid == 0:
        os.close(err_r)
        _exec_child(target, err_w)
    os.close(err_w)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # also here: no window where the group does not exist yet
    failure = b""
    while chunk := os.read(err_r, 4096):
        failure += chunk
    os.close(err_r)
    os.write(report_fd, failure or f"{pid}\n".encode())
    os.close(report_fd)
    if failure:
        os.waitpid(pid, 0)
        os._exit(127)
    for sig in STOPS:
        signal.signal(sig, _raise_stop)
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPS)
        while True:
            try:
                done, status = os.waitpid(-1, 0)
            except ChildProcessError:
                os._exit(1)
            if done == pid:
                break
    except _Stop:
        for sig in STOPS:
            signal.signal(sig, signal.SIG_IGN)
        _kill_all(pid)
        os._exit(128 + signal.SIGTERM)
    for sig in STOPS:
        signal.signal(sig, signal.SIG_IGN)
    _kill_all(pid)
    _exit_like(status)


if __name__ == "__main__":
    main(sys.argv)
