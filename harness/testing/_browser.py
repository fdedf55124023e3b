"""Headless Chromium for the report rendering tests (Debian's ``chromium``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--enable-logging=stderr",
                  "--v=0")


def run_chromium(profile: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Chromium with a throwaway profile folder, output captured (stderr holds its log)."""
    if CHROMIUM is None:
        raise FileNotFoundError("chromium not installed (apt-get install -y chromium)")
    cmd = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def failed_loads(log: str) -> list[str]:
    """The lines of a Chromium log that say a resource failed to load."""
    return [line for line in log.splitlines()
            if "net::ERR_" in line or "Failed to load resource" in line]
