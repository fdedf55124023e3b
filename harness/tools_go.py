"""The Go sample's binary: where it lives and how it is built (``harness setup``).

Build command (from the repository root)::

    CGO_ENABLED=0 go -C harness/samples/go build -o "$PWD/.tools/bin/goleaks" .

``harness/samples/go`` is its own module (``soakharness/goleaks``, standard library only),
so the build runs inside that folder.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness.errors import ToolMissing
from harness.tools import BIN_DIR, REPO_ROOT, _go, go_version

GO_SAMPLE_SOURCE = REPO_ROOT / "harness" / "samples" / "go"


def go_sample_binary() -> Path:
    """Path of the Go sample binary, ``.tools/bin/goleaks`` (it may not be built yet)."""
    return BIN_DIR / "goleaks"


def build_go_sample() -> Path:
    """Build the Go sample into ``.tools/bin/goleaks``; ToolMissing when Go is absent."""
    if go_version() is None:
        raise ToolMissing(
            "the Go sample (goleaks) needs Go to build: install Go >= 1.23 "
            "(https://go.dev/dl/) and run `harness setup`, or skip the go_leaks scenario"
        )
    BIN_DIR.mkdir(parents=True, exist_ok=True)
    out = go_sample_binary()
    cmd = [_go(), "build", "-o", str(out), "."]
    try:
        result = subprocess.run(cmd, cwd=GO_SAMPLE_SOURCE, capture_output=True, text=True,
                                timeout=600, env={**os.environ, "CGO_ENABLED": "0"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissing(f"building the Go sample failed: {exc}") from exc
    if result.returncode != 0:
        raise ToolMissing(f"building the Go sample failed:\n{result.stderr[-2000:]}")
    return out
