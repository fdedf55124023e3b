"""report.html in a real headless Chromium: loads offline, charts visible."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.report import write_reports
from harness.runfolder import load_run
from harness.testing import (
    CHROMIUM,
    SyntheticRun,
    failed_loads,
    run_chromium,
    synthetic_summary,
    write_synthetic_run,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "test-artifacts"
OKABE_BLUE = np.array([0, 114, 178])

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(180),
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed "
                       "(apt-get install -y chromium)"),
]


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_chromium(tmp_path / "profile", *args)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("browser") / "run"
    spec = SyntheticRun(name="browser-check", duration_s=180, leak_per_min=20,
                        targets=("gateway", "upstream"))
    write_synthetic_run(path, spec)
    write_reports(load_run(path), synthetic_summary(spec), None)
    return path / "report.html"


def test_loads_without_failed_requests(report: Path, tmp_path: Path):
    """The DOM has only data: images that are PNGs, and Chromium logs no failed load."""
    done = _chromium(tmp_path, "--dump-dom", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "Checks" in dom and "browser-check" in dom
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', dom)
    assert len(srcs) >= 6 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", dom)
    failed = failed_loads(done.stderr)
    assert not failed, failed


def test_screenshot_shows_charts(report: Path, tmp_path: Path):
    """A 1280x2000 screenshot is not blank and contains chart lines; kept as an artifact."""
    shot = tmp_path / "report.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000",
                     report.as_uri())
    assert shot.exists(), done.stderr[-2000:]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "report-browser.png")
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels.std() > 20, "screenshot looks blank"
    lower = pixels[900:]  # below the checks table: the charts
    blue = (np.abs(lower - OKABE_BLUE).sum(axis=2) < 40).sum()
    assert blue > 500, f"chart lines not visible ({blue} blue pixels)"
