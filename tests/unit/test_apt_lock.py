"""scripts/_apt.sh: our apt-get calls run one at a time.

`make setup-test` runs kube-cluster.sh and docker-engine.sh side by side; on a machine with
neither engine both installed packages at once and the second died on apt's lock. The
stand-in apt-get below holds a lock of its own for a moment and fails as apt does when it
is taken, so the test needs no network and no root.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import REPO

FAKE_APT = """\
#!/bin/bash
# apt-get's lists lock: fail at once when another run holds it (as apt does)
exec 9>"$FAKE_APT_LOCK"
flock -n 9 || { echo "E: Could not get lock $FAKE_APT_LOCK" >&2; exit 100; }
sleep 0.4
echo "apt-get $*"
"""


def _env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "apt-get"
    fake.write_text(FAKE_APT)
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "FAKE_APT_LOCK": str(tmp_path / "lists.lock"),
            "HARNESS_APT_LOCK": str(tmp_path / "ours.lock")}


def _side_by_side(command: str, env: dict[str, str]) -> list[int]:
    procs = [subprocess.Popen(["bash", "-c", command], env=env, cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(3)]
    return [proc.wait(timeout=30) for proc in procs]


def test_plain_apt_get_side_by_side_fails_on_the_lock(tmp_path: Path) -> None:
    """The stand-in reproduces the failure (otherwise the next test proves nothing)."""
    codes = _side_by_side("apt-get update -qq", _env(tmp_path))
    assert sorted(codes) == [0, 100, 100]


def test_apt_get_side_by_side_runs_one_at_a_time(tmp_path: Path) -> None:
    codes = _side_by_side('. scripts/_apt.sh && apt_get update -qq', _env(tmp_path))
    assert codes == [0, 0, 0]
