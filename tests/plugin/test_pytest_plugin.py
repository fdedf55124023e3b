"""The pytest plugin as a user writes soak tests with it: temporary projects run by a real
pytest in a subprocess (``runpytest_subprocess``), so the harness's signal handlers and its
processes stay out of this pytest. Real toxiproxy-server, Locust and sample targets on
127.0.0.1.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.scenario import load_scenario
from tests.conftest import REPO

# here and not in a conftest: pytest refuses pytest_plugins in a conftest below the rootdir
# once collection has started (`pytest tests`); a test module may declare it
pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

# client_per_request separates leaky from fixed in the detection matrix at <= 30 s of
# timeline (tests/e2e/test_detection_matrix.py): the same scale here
SCENARIO = "client_per_request"
SCALE = round(min(1.0, 30.0 / load_scenario(REPO / "scenarios" / f"{SCENARIO}.yaml").duration), 3)

SOAK_TESTS = f'''
"""A user's soak tests of the client_per_request gateway."""
import pytest
from harness.pytest_plugin import assert_no_leak


def test_leaky_gateway(soak):
    """The leaky gateway keeps a socket per request."""
    result = soak("{SCENARIO}", variant="leaky", duration_scale={SCALE})
    assert_no_leak(result, "fds", "gateway")


def test_fixed_gateway(soak):
    """The fixed gateway shares one session."""
    result = soak("{SCENARIO}", variant="fixed", duration_scale={SCALE})
    result.assert_passed()


@pytest.mark.soak
def test_marked_only():
    """A soak test by its marker alone."""
'''


def _project(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    pytester.makepyfile(test_soaks=SOAK_TESTS)


def test_soak_tests_skip_without_the_option(pytester: pytest.Pytester):
    """Without --soak every soak test (marked, or using the fixture) is skipped with the reason."""
    _project(pytester)
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*soak test: run with --soak*"])


def test_leaky_sample_fails_with_the_checks_detail_in_output_and_junit(pytester: pytest.Pytester):
    """A leaky target fails: the fds check's detail and the run folder in pytest's output,
    the failed check in pytest's JUnit (failure message and properties)."""
    _project(pytester)
    junit = pytester.path / "junit.xml"
    started = time.monotonic()
    result = pytester.runpytest_subprocess("--soak", "-k", "leaky", f"--junitxml={junit}")
    took = time.monotonic() - started
    print(f"leaky soak through pytest: {took:.1f} s")
    output = result.stdout.str()
    result.assert_outcomes(failed=1)
    assert "SoakFailed" in output, output
    result.stdout.fnmatch_lines(["*fds.growth[[]gateway[]]: FAIL: fds of gateway changed*",
                                 "*run folder: *client_per_request-leaky*"])
    assert "- soak -" in output or "soak ---" in output, output  # the report section
    case = ET.parse(junit).find(".//testcase[@name='test_leaky_gateway']")
    assert case is not None, junit.read_text()
    failure = case.find("failure")
    assert failure is not None and "fds.growth[gateway]" in failure.get("message", ""), \
        junit.read_text()
    props = [(p.get("name"), p.get("value") or "") for p in case.iter("property")]
    assert ("soak_verdict", "fail") in props, props
    failed = [value for name, value in props if name == "soak_failed_check"]
    assert any(v.startswith("fds.growth[gateway]: FAIL: fds of gateway changed") for v in failed), props
    run_dirs = [value for name, value in props if name == "soak_run_dir"]
    assert len(run_dirs) == 1 and Path(run_dirs[0], "summary.json").is_file(), props


def test_fixed_sample_passes(pytester: pytest.Pytester):
    """The fixed target passes, and the session lists its run folder as PASS."""
    _project(pytester)
    started = time.monotonic()
    result = pytester.runpytest_subprocess("--soak", "-k", "fixed")
    print(f"fixed soak through pytest: {time.monotonic() - started:.1f} s")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["*soak runs*", "PASS *test_fixed_gateway: *client_per_request-fixed*"])


PIECES_TEST = '''
"""A user's own leak test, built from the plugin's pieces."""
import sys
import urllib.request
from pathlib import Path

import pytest
from harness.pytest_plugin import assert_no_growth, sampling
from harness.scenario import Fault


@pytest.mark.soak
def test_api_keeps_its_fds_flat(toxiproxy_server, target_process):
    """Requests through a Toxiproxy proxy with latency; the API's FDs stay flat."""
    api = target_process([sys.executable, "-m", "harness.samples", "healthy",
                          "--port", "{port}"], health="/healthz")
    port = toxiproxy_server.proxy("front", api.port)
    toxiproxy_server.client.add_fault("front", Fault(proxy="front", type="latency",
                                                     attributes={"latency": 5}))
    Path("pids.txt").write_text(f"{api.pid} {toxiproxy_server.process.pid}")
    with sampling(api.pid, "fds", "threads", interval=0.25) as s:
        for n in range(150):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/item/{n}", timeout=5) as r:
                r.read()
    assert len(s["fds"].v) >= 6
    assert_no_growth(s["fds"], max_per_min=30)
'''


def test_fixtures_for_the_pieces(pytester: pytest.Pytester):
    """toxiproxy_server, target_process and sampling make a leak test of one's own; both
    processes are stopped after it."""
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    pytester.makepyfile(test_pieces=PIECES_TEST)
    started = time.monotonic()
    result = pytester.runpytest_subprocess("--soak")
    print(f"pieces test through pytest: {time.monotonic() - started:.1f} s")
    result.assert_outcomes(passed=1)
    pids = [int(p) for p in (pytester.path / "pids.txt").read_text().split()]
    assert len(pids) == 2
    # both were stopped (SIGTERM, then SIGKILL) before the inner pytest exited
    assert not [p for p in pids if Path(f"/proc/{p}").exists()
                and Path(f"/proc/{p}/stat").read_text().split()[2] != "Z"], pids


INCONCLUSIVE_TEST = '''
"""A soak far too short to judge anything."""


def test_smoke_too_short(soak):
    """Phases of about a second: no check can be judged."""
    soak("smoke").assert_passed()
'''


def test_inconclusive_is_neither_a_pass_nor_a_leak(pytester: pytest.Pytester):
    """--soak-scale 0.05 leaves the smoke scenario too short to judge: the test fails as
    INCONCLUSIVE (SoakInconclusive, soak_verdict=inconclusive), not as a pass nor a FAIL."""
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    pytester.makepyfile(test_short=INCONCLUSIVE_TEST)
    junit = pytester.path / "junit.xml"
    started = time.monotonic()
    result = pytester.runpytest_subprocess("--soak", "--soak-scale", "0.05", f"--junitxml={junit}")
    print(f"inconclusive soak through pytest: {time.monotonic() - started:.1f} s")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*SoakInconclusive: INCONCLUSIVE (not a pass, not a leak)*",
                                 "INCONCLUSIVE *test_smoke_too_short: *smoke*"])
    assert "SoakFailed" not in result.stdout.str()
    case = ET.parse(junit).find(".//testcase[@name='test_smoke_too_short']")
    assert case is not None
    props = [(p.get("name"), p.get("value")) for p in case.iter("property")]
    assert ("soak_verdict", "inconclusive") in props, props
    assert any(name == "soak_undecided_check" for name, _ in props), props
