"""What tests (ours and users') share: synthetic run folders, fakes, process helpers.

structlog's ``testing`` module is the model: a public namespace, so that tests never reach
into the harness's private modules. Nothing here is used by a real run.

- ``write_synthetic_run`` / ``SyntheticRun``: a run folder with known series, written
  through the real run-folder writers (for report and analysis tests, and benchmarks);
  ``write_summary_run``: only run.json + summary.json, what ``harness history`` reads.
- ``FakeBackend`` / ``FakeLoad`` / ``FakeFaults``: in-memory stand-ins for a backend, the
  Locust runner and the Toxiproxy client, with which ``Run`` is unit-tested.
- ``ManagedProcess``, ``free_port``, ``wait_until``: start a real process that cannot
  outlive the test, pick a free loopback port, poll for a condition.
- ``run_chromium`` / ``failed_loads``: render a report in headless Chromium, read its log.
"""

from harness._ports import LOOPBACK, free_port
from harness._process import ManagedProcess, wait_until
from harness.testing._browser import CHROMIUM, failed_loads, run_chromium
from harness.testing._fakes import CallLog, ConstantSource, FakeBackend, FakeFaults, FakeLoad
from harness.testing._synthetic import (
    SyntheticRun,
    synthetic_checks,
    synthetic_summary,
    write_summary_run,
    write_synthetic_run,
)

__all__ = [
    "CHROMIUM",
    "LOOPBACK",
    "CallLog",
    "ConstantSource",
    "FakeBackend",
    "FakeFaults",
    "FakeLoad",
    "ManagedProcess",
    "SyntheticRun",
    "failed_loads",
    "free_port",
    "run_chromium",
    "synthetic_checks",
    "synthetic_summary",
    "wait_until",
    "write_summary_run",
    "write_synthetic_run",
]
