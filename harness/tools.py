"""External binaries the harness needs, and ``harness setup`` that gets them.

toxiproxy-server is looked up in this order: ``$TOXIPROXY_SERVER``, ``PATH``,
``<repo>/.tools/bin``. If none is found and Go >= 1.23 is present, ``setup`` builds the
pinned release with ``go install`` into ``.tools/bin/toxiproxy-server``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ToolMissing

TOXIPROXY_VERSION = "v2.12.0"
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server"
MIN_GO = (1, 23)
REPO_ROOT = Path(__file__).resolve().parents[1]
TOOLS_DIR = Path(os.environ.get("HARNESS_TOOLS_DIR", REPO_ROOT / ".tools"))
BIN_DIR = TOOLS_DIR / "bin"

HOW_TO_GET_TOXIPROXY = f"""toxiproxy-server not found.
Looked in: $TOXIPROXY_SERVER, PATH, {BIN_DIR}.
Get it one of these ways:
  - install Go >= 1.23 and run `harness setup` (or `make setup`): it runs
      go install {TOXIPROXY_MODULE}@{TOXIPROXY_VERSION}
  - download the release binary toxiproxy-server-linux-amd64 ({TOXIPROXY_VERSION}) from
    the Shopify/toxiproxy GitHub releases, and set TOXIPROXY_SERVER=/path/to/it
  - run it as a container: ghcr.io/shopify/toxiproxy:{TOXIPROXY_VERSION.lstrip('v')}
    (then use --backend compose or --backend attach)"""


@dataclass(frozen=True)
class Tool:
    """A found binary and how it was found."""

    path: Path
    version: str
    source: str  # "env" | "path" | "tools" | "built"


def go_version() -> tuple[int, int] | None:
    """(major, minor) of the ``go`` on PATH, or None."""
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists()
                                else None)
    if not go:
        return None
    try:
        out = subprocess.run([go, "version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"go(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _go() -> str:
    return shutil.which("go") or "/usr/local/go/bin/go"


def _toxiproxy_version(path: Path) -> str:
    try:
        out = subprocess.run([str(path), "-version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout + out.stderr).strip()
    # `go install` builds say "git" (the version is injected only in release builds)
    if text.endswith("git") or not text:
        stamp = path.with_name(path.name + ".version")
        return stamp.read_text().strip() if stamp.exists() else f"{text or 'unknown'} (source build)"
    return text.splitlines()[-1]


def find_toxiproxy() -> Tool | None:
    """The toxiproxy-server to use, or None."""
    env = os.environ.get("TOXIPROXY_SERVER")
    if env:
        path = Path(env)
        if path.is_file() and os.access(path, os.X_OK):
            return Tool(path, _toxiproxy_version(path), "env")
        raise ToolMissing(f"TOXIPROXY_SERVER={env}: not an executable file")
    on_path = shutil.which("toxiproxy-server")
    if on_path:
        return Tool(Path(on_path), _toxiproxy_version(Path(on_path)), "path")
    local = BIN_DIR / "toxiproxy-server"
    if local.is_file() and os.access(local, os.X_OK):
        return Tool(local, _toxiproxy_version(local), "tools")
    return None


def require_toxiproxy() -> Tool:
    """The toxiproxy-server to use; ToolMissing (exit 3) with the how-to if there is none."""
    tool = find_toxiproxy()
    if tool is None:
        raise ToolMissing(HOW_TO_GET_TOXIPROXY)
    return tool


def install_toxiproxy() -> Tool:
    """Find toxiproxy-server, else build the pinned version with Go into .tools/bin."""
    tool = find_toxiproxy()
    if tool is not None:
        return tool
    version = go_version()
    if version is None or version < MIN_GO:
        have = "no Go" if version is None else f"Go {version[0]}.{version[1]}"
        raise ToolMissing(f"{HOW_TO_GET_TOXIPROXY}\n(building needs Go >= 1.23; found {have})")
    BIN_DIR.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(BIN_DIR), "CGO_ENABLED": "0"}
    cmd = [_go(), "install", f"{TOXIPROXY_MODULE}@{TOXIPROXY_VERSION}"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise ToolMissing(f"`{' '.join(cmd)}` failed:\n{result.stderr[-2000:]}")
    built = BIN_DIR / "server"
    target = BIN_DIR / "toxiproxy-server"
    os.replace(built, target)
    target.with_name(target.name + ".version").write_text(f"{TOXIPROXY_VERSION} (go install)\n")
    return Tool(target, _toxiproxy_version(target), "built")


def go_sample_binary() -> Path:
    """The Go sample service binary: ``.tools/bin/goleaks`` (built by ``harness setup`` when
    Go is present), else ``goleaks`` on PATH (the container image installs it there)."""
    local = BIN_DIR / "goleaks"
    if local.exists():
        return local
    on_path = shutil.which("goleaks")
    return Path(on_path) if on_path else local


def build_go_sample() -> Path:
    """Build the Go sample into ``.tools/bin/goleaks``; ToolMissing when Go is absent.

    ``harness/samples/go`` is its own module (standard library only), so the build runs in
    that folder: ``CGO_ENABLED=0 go -C harness/samples/go build -o .tools/bin/goleaks .``
    """
    source = REPO_ROOT / "harness" / "samples" / "go"
    if go_version() is None:
        raise ToolMissing(
            "the Go sample (goleaks) needs Go to build: install Go >= 1.23 and run "
            "`harness setup`, or skip the go_leaks scenario"
        )
    BIN_DIR.mkdir(parents=True, exist_ok=True)
    out = BIN_DIR / "goleaks"
    try:
        result = subprocess.run([_go(), "build", "-o", str(out), "."], cwd=source,
                                capture_output=True, text=True, timeout=600,
                                env={**os.environ, "CGO_ENABLED": "0"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissing(f"building the Go sample failed: {exc}") from exc
    if result.returncode != 0:
        raise ToolMissing(f"building the Go sample failed:\n{result.stderr[-2000:]}")
    return out
