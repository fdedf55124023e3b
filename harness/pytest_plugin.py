"""The pytest plugin: soak tests written as pytest tests (docs/pytest.md).

Installed with the package and loaded by pytest through the ``pytest11`` entry point
``soak_harness``; nothing to configure. It gives:

- ``@pytest.mark.soak`` and the options ``--soak`` (run soak tests; without it they are
  skipped, with the reason), ``--soak-scale F`` (multiply every soak run's phase durations),
  ``--soak-out DIR`` (keep run folders there instead of pytest's tmp dirs) and
  ``--soak-inconclusive fail|skip`` (what an inconclusive result does; default fail).
- the ``soak`` fixture: ``soak("client_per_request", variant="leaky")`` runs a scenario
  file, a bundled scenario name or an in-code scenario (a dict) through ``run_scenario`` and
  returns a :class:`SoakResult` (verdict, checks, run folder, series). A test that uses it
  is a soak test (marked ``soak`` automatically).
- assertions whose message is the check's own detail line: ``result.assert_passed()``,
  ``assert_no_leak(result, "fds")``; a failing soak test shows its run folder and failed
  checks in pytest's output (a ``soak`` report section) and in pytest's JUnit
  (``<property>`` elements, and the failure message).
- fixtures for the pieces: ``toxiproxy_server`` (a real toxiproxy-server on 127.0.0.1) and
  ``target_process`` (start a command with ``{port}`` filled, wait until healthy, stop it),
  and ``sampling(pid, "fds")`` with ``assert_no_growth``: the harness's metric sources and
  trend test (Theil-Sen + Hamed-Rao Mann-Kendall) for leak tests of your own.

Outcomes: PASS passes; FAIL (a check failed) raises :class:`SoakFailed`, an AssertionError;
INCONCLUSIVE (a check could not be judged, the run was cut short) raises
:class:`SoakInconclusive`, which is *not* an AssertionError, so pytest reports it as a
failure whose message starts with ``INCONCLUSIVE`` (or a skip with the reason under
``--soak-inconclusive skip``), never a pass; a tool or environment failure (exit 3) raises
:class:`SoakToolError`. Nothing heavy is imported until a fixture is used: loading the
plugin costs every pytest run nothing.
"""

from __future__ import annotations

import contextlib
import math
import os
import shlex
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    import numpy as np

    from harness.chaos.toxiproxy import ToxiproxyClient
    from harness.runfolder import RunRecord, Series
    from harness.scenario import Scenario
    from harness.testing import ManagedProcess
    from harness.verdicts import Check, Summary, Verdict

__all__ = [
    "SampledSeries",
    "Sampling",
    "SoakFailed",
    "SoakInconclusive",
    "SoakResult",
    "SoakRunner",
    "SoakToolError",
    "TargetProcess",
    "ToxiproxyServer",
    "assert_no_growth",
    "assert_no_leak",
    "assert_passed",
    "sampling",
]

InconclusivePolicy = Literal["fail", "skip"]
SOAK_MARKER = "soak"


# ---------------------------------------------------------------------------- outcomes


class SoakFailed(AssertionError):
    """A check failed (the harness's exit 1): the target leaked or broke a threshold."""


class SoakInconclusive(Exception):
    """Nothing failed, but something could not be judged (the harness's exit 4).

    Deliberately not an AssertionError: pytest reports it as a failure that says
    INCONCLUSIVE, so it is neither a pass nor mistaken for a leak.
    """


class SoakToolError(Exception):
    """The environment or a tool failed (the harness's exit 3): the target was not judged."""


def _check_line(check: Check) -> str:
    return f"{check.name}: {check.verdict.value.upper()}: {check.detail}"


@dataclass
class SoakResult:
    """One finished soak run: its verdict, checks and run folder, with assertions.

    ``label`` is what the CLI would print (PASS, FAIL, INCONCLUSIVE, ERROR) and ``exit_code``
    what it would exit with (``harness.verdicts.exit_code_for``).
    """

    scenario: Scenario
    summary: Summary
    run_dir: Path
    inconclusive_policy: InconclusivePolicy = "fail"

    @property
    def verdict(self) -> Verdict:
        return self.summary.verdict

    @property
    def exit_code(self) -> int:
        from harness.verdicts import exit_code_for

        return exit_code_for(self.summary)

    @property
    def label(self) -> str:
        from harness.verdicts import verdict_label

        return verdict_label(self.summary)

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    @property
    def checks(self) -> list[Check]:
        return list(self.summary.checks)

    @property
    def failed_checks(self) -> list[Check]:
        """Failed checks of the target and the run (tool checks never fail the target)."""
        return [c for c in self.summary.checks if c.failed and c.category != "tool"]

    @property
    def undecided_checks(self) -> list[Check]:
        """Checks that could not be judged (never a pass)."""
        return [c for c in self.summary.checks if c.undecided and c.category != "tool"]

    def check(self, name: str) -> Check:
        """The check named ``name`` (e.g. ``fds.growth[gateway]``); KeyError lists the names."""
        for c in self.summary.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check {name!r} in this run; its checks: "
                       f"{', '.join(c.name for c in self.summary.checks) or 'none'}")

    def checks_for(self, metric: str, target: str | None = None) -> list[Check]:
        """The checks of one metric (``fds``, ``tasks``, ``p99_ms``...), of one target if given."""
        return [c for c in self.summary.checks
                if c.metric == metric and (target is None or c.target == target)]

    @cached_property
    def record(self) -> RunRecord:
        """The run folder as data (``harness.load_run``): series, latency, events, phases."""
        from harness.runfolder import load_run

        return load_run(self.run_dir)

    def series(self, target: str, metric: str) -> Series:
        """One sampled series (``.t`` seconds since the start, ``.v`` values)."""
        try:
            return self.record.series[(target, metric)]
        except KeyError:
            have = ", ".join(f"{t}/{m}" for t, m in sorted(self.record.series)) or "none"
            raise KeyError(f"no series {metric!r} of {target!r} in {self.run_dir}; "
                           f"sampled: {have}") from None

    def describe(self) -> str:
        """Several lines: outcome, run folder, and each failed and undecided check."""
        variant = f" ({self.summary.variant})" if self.summary.variant else ""
        lines = [f"soak {self.label}: {self.summary.scenario}{variant}, status "
                 f"{self.summary.status}" + (f" ({self.summary.reason})" if self.summary.reason
                                             else ""),
                 f"run folder: {self.run_dir}"]
        lines += [f"  {_check_line(c)}" for c in self.failed_checks + self.undecided_checks]
        return "\n".join(lines)

    def _inconclusive(self, why: str) -> None:
        message = f"INCONCLUSIVE (not a pass, not a leak): {why}\n{self.describe()}"
        if self.inconclusive_policy == "skip":
            pytest.skip(message)
        raise SoakInconclusive(message)

    def assert_passed(self) -> None:
        """Every check passed. SoakFailed names each failed check with its detail line;
        SoakInconclusive (or a skip) when nothing failed but something was not judged."""
        if self.exit_code == 3:
            raise SoakToolError(f"ERROR (the environment or a tool failed; the target was "
                                f"not judged)\n{self.describe()}")
        if self.failed_checks:
            lines = [_check_line(c) for c in self.failed_checks]
            raise SoakFailed("\n".join([*lines, f"run folder: {self.run_dir}"]))
        if self.exit_code != 0:
            n = len(self.undecided_checks)
            why = (f"{n} check(s) could not be judged" if n
                   else f"the run ended {self.summary.status}")
            self._inconclusive(why)

    def assert_no_leak(self, metric: str, target: str | None = None) -> None:
        """No check of ``metric`` (of ``target``) failed, and at least one was judged.

        A metric the scenario never checked is an error, not a pass: the harness did not see it.
        """
        checks = [c for c in self.checks_for(metric, target) if c.verdict.value != "skip"]
        who = metric + (f" of {target}" if target else "")
        if not checks:
            known = sorted({c.metric for c in self.summary.checks})
            raise SoakFailed(f"no check of {who} in this run (checked: {', '.join(known)}): "
                             f"add a threshold for it to the scenario\nrun folder: {self.run_dir}")
        failed = [c for c in checks if c.failed]
        if failed:
            raise SoakFailed("\n".join([*(_check_line(c) for c in failed),
                                        f"run folder: {self.run_dir}"]))
        undecided = [c for c in checks if c.undecided]
        if undecided:
            self._inconclusive(f"{len(undecided)} check(s) of {who} could not be judged")
        if self.summary.status != "completed":
            self._inconclusive(f"the run ended {self.summary.status}: {self.summary.reason}")


def assert_passed(result: SoakResult) -> None:
    """``result.assert_passed()`` as a function."""
    result.assert_passed()


def assert_no_leak(result: SoakResult, metric: str, target: str | None = None) -> None:
    """``result.assert_no_leak(metric, target)`` as a function."""
    result.assert_no_leak(metric, target)


# ---------------------------------------------------------------------------- the runner

_RESULTS = pytest.StashKey[list[SoakResult]]()


@contextlib.contextmanager
def _environ_kept() -> Iterator[None]:
    """A run marks the process environment (its run id, for its children): undo that, so the
    next test's processes do not carry this run's mark."""
    before = dict(os.environ)
    try:
        yield
    finally:
        for key in set(os.environ) - set(before):
            del os.environ[key]
        for key, value in before.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


class SoakRunner:
    """What the ``soak`` fixture gives: call it to run a scenario (see ``__call__``)."""

    def __init__(self, item: pytest.Item, folder: Path, scale: float,
                 policy: InconclusivePolicy) -> None:
        self._item = item
        self._folder = folder
        self._scale = scale
        self._policy = policy
        self.results: list[SoakResult] = []

    def load(self, scenario: str | Path | Mapping[str, Any], *, variant: str | None = None,
             sets: Sequence[str] = (), duration_scale: float = 1.0) -> Scenario:
        """The scenario as it would run (overrides applied, durations scaled by
        ``duration_scale`` times ``--soak-scale``); ScenarioError names a bad field."""
        from harness.scenario import load_scenario, scenario_from_dict

        scale = duration_scale * self._scale
        if isinstance(scenario, Mapping):
            return scenario_from_dict(dict(scenario), source=f"<scenario of {self._item.nodeid}>",
                                      variant=variant, sets=tuple(sets), duration_scale=scale,
                                      base_dir=self._item.path.parent)
        return load_scenario(scenario, variant=variant, sets=tuple(sets), duration_scale=scale)

    def __call__(self, scenario: str | Path | Mapping[str, Any], *, variant: str | None = None,
                 sets: Sequence[str] = (), duration_scale: float = 1.0) -> SoakResult:
        """Run ``scenario`` (a path, a bundled name like ``smoke``, or a dict) to the end.

        ``sets`` are ``--set``-style overrides (``"load.users=20"``); ``duration_scale``
        multiplies the phase durations, and ``--soak-scale`` multiplies that. Returns the
        result whatever the verdict (assert on it); raises SoakToolError when the
        environment or a tool failed (exit 3) and ScenarioError for invalid input.
        """
        from harness.errors import EnvironmentFailure
        from harness.run import RunOptions, run_scenario

        loaded = self.load(scenario, variant=variant, sets=sets, duration_scale=duration_scale)
        run_dir = self._new_folder(loaded)
        props = self._item.user_properties
        props.append(("soak_run_dir", str(run_dir)))
        with _environ_kept():
            try:
                outcome = run_scenario(loaded, RunOptions(out=run_dir, quiet=True, live=False))
            except EnvironmentFailure as exc:
                props.append(("soak_verdict", "error"))
                raise SoakToolError(f"ERROR (the environment or a tool failed; the target was "
                                    f"not judged): {exc}\nrun folder: {run_dir}") from exc
        result = SoakResult(loaded, outcome.summary, outcome.run_dir, self._policy)
        self.results.append(result)
        props.append(("soak_verdict", result.label.lower()))
        props += [("soak_failed_check", _check_line(c)) for c in result.failed_checks]
        props += [("soak_undecided_check", _check_line(c)) for c in result.undecided_checks]
        if result.summary.status == "interrupted" and "SIGINT" in result.summary.reason:
            raise KeyboardInterrupt  # Ctrl-C stops the session, as it would without a soak
        return result

    run = __call__

    def _new_folder(self, scenario: Scenario) -> Path:
        stem = f"{scenario.name}-{scenario.variant}" if scenario.variant else scenario.name
        path = self._folder / stem
        n = 1
        while path.exists():
            n += 1
            path = self._folder / f"{stem}-{n}"
        return path


def _safe_name(nodeid: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in nodeid)
    return keep.strip("_")[-120:] or "test"


@pytest.fixture
def soak(request: pytest.FixtureRequest, tmp_path: Path) -> SoakRunner:
    """Run a soak scenario: ``result = soak("scenarios/x.yaml", variant="fixed")``."""
    config = request.config
    out = config.getoption("soak_out")
    folder = Path(out) / _safe_name(request.node.nodeid) if out else tmp_path
    runner = SoakRunner(request.node, folder.resolve(), float(config.getoption("soak_scale")),
                        config.getoption("soak_inconclusive"))
    request.node.stash[_RESULTS] = runner.results
    return runner


# ---------------------------------------------------------------------------- pieces


@dataclass
class ToxiproxyServer:
    """A running toxiproxy-server: its API ``client`` and where it listens."""

    host: str
    port: int
    client: ToxiproxyClient
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def proxy(self, name: str, upstream_port: int, upstream_host: str = "127.0.0.1") -> int:
        """A proxy in front of ``upstream_host:upstream_port``; the port it listens on."""
        from harness.testing import free_port

        port = free_port()
        self.client.create_proxy(name, listen=f"{self.host}:{port}",
                                 upstream=f"{upstream_host}:{upstream_port}")
        return port


@pytest.fixture
def toxiproxy_server(tmp_path: Path) -> Iterator[ToxiproxyServer]:
    """A real toxiproxy-server on 127.0.0.1 and a free port; toxics cleared, server stopped.

    A missing binary is an error with the how-to (never a skip: a soak suite that silently
    skips its chaos is green for nothing).
    """
    from harness.chaos.toxiproxy import ToxiproxyClient
    from harness.testing import LOOPBACK, ManagedProcess, free_port, wait_until
    from harness.tools import require_toxiproxy

    binary = require_toxiproxy().path
    port = free_port()
    proc = ManagedProcess("toxiproxy", [str(binary), "-host", LOOPBACK, "-port", str(port)],
                          log_dir=tmp_path, role="control").start()
    client = ToxiproxyClient(LOOPBACK, port)
    try:
        if not wait_until(lambda: client.ping() or not proc.running, 15.0) or not proc.running:
            raise SoakToolError(f"toxiproxy-server did not answer on {LOOPBACK}:{port}:\n"
                                f"{proc.tail()}")
        yield ToxiproxyServer(LOOPBACK, port, client, proc)
    finally:
        try:
            if proc.running:
                client.clear()
        finally:
            proc.stop(grace=3.0)


class TargetProcess:
    """A started target: its pid (the child, not its supervisor), port, URL and log."""

    def __init__(self, name: str, port: int, process: ManagedProcess,
                 host: str = "127.0.0.1") -> None:
        if process.pid is None:
            raise RuntimeError(f"target {name!r} was never started")
        self.name, self.port, self.process, self.host = name, port, process, host
        self.pid: int = process.pid
        self.url = f"http://{host}:{port}"

    @property
    def running(self) -> bool:
        return self.process.running

    def log_tail(self, lines: int = 20) -> str:
        return self.process.tail(lines)

    def stop(self, grace: float = 5.0) -> int | None:
        return self.process.stop(grace=grace)


Health = str | Callable[["TargetProcess"], bool] | None


def _healthy(target: TargetProcess, health: Health) -> bool:
    if callable(health):
        return bool(health(target))
    if health is None or health == "tcp":
        try:
            with socket.create_connection((target.host, target.port), timeout=1.0):
                return True
        except OSError:
            return False
    try:
        with urllib.request.urlopen(target.url + health, timeout=2.0) as resp:
            return bool(resp.status < 400)
    except (OSError, urllib.error.URLError):
        return False


StartTarget = Callable[..., TargetProcess]


@pytest.fixture
def target_process(tmp_path: Path) -> Iterator[StartTarget]:
    """``target_process(["my-server", "--port", "{port}"], health="/healthz")``: start a
    command on a free port, wait until healthy, return its handle; stopped after the test.

    ``health``: an HTTP path that must answer < 400, ``"tcp"``/None (the port accepts), or a
    callable taking the handle. A command that exits or never gets healthy within ``timeout``
    seconds fails the test with the end of its log.
    """
    from harness.testing import ManagedProcess, free_port, wait_until

    started: list[ManagedProcess] = []

    def start(command: str | Sequence[str], *, port: int | None = None, health: Health = "tcp",
              timeout: float = 30.0, env: Mapping[str, str] | None = None,
              cwd: str | Path | None = None, name: str | None = None) -> TargetProcess:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        chosen = port if port is not None else free_port()
        argv = [arg.replace("{port}", str(chosen)) for arg in argv]
        label = name or f"{Path(argv[0]).name}-{chosen}"
        full_env = {**os.environ, **env} if env is not None else None
        proc = ManagedProcess(label, argv, log_dir=tmp_path, env=full_env, cwd=cwd)
        try:
            proc.start()
        except OSError as exc:
            raise SoakToolError(f"{label}: cannot start {argv[0]}: {exc}") from exc
        started.append(proc)
        target = TargetProcess(label, chosen, proc)
        if not wait_until(lambda: not proc.running or _healthy(target, health), timeout, 0.2) \
                or not proc.running:
            state = "exited" if not proc.running else f"not healthy after {timeout:g}s"
            raise SoakToolError(f"{label} ({' '.join(argv)}): {state}; its log "
                                f"({proc.log_path}):\n{proc.tail()}")
        return target

    yield start
    for proc in started:
        proc.stop(grace=5.0)


# ---------------------------------------------------------------------------- sampling


@dataclass
class SampledSeries:
    """One metric of one process over time: ``t`` (seconds from the first sample), ``v``."""

    metric: str
    t: list[float] = field(default_factory=list)
    v: list[float] = field(default_factory=list)


class Sampling:
    """Reads harness metric sources (``proc:fds``...) every ``interval`` s in a thread."""

    def __init__(self, pid: int, metrics: Sequence[str], interval: float) -> None:
        from harness.metrics import make_source

        self.pid = pid
        self.interval = interval
        self._sources = {m: make_source(m if ":" in m else f"proc:{m}", pid=pid) for m in metrics}
        self.series = {m: SampledSeries(m) for m in metrics}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="soak-sampling", daemon=True)
        self._t0 = 0.0
        self.error: BaseException | None = None

    def _tick(self) -> None:
        now = time.monotonic() - self._t0
        for metric, source in self._sources.items():
            value = source.read()
            if value is not None and math.isfinite(value):
                self.series[metric].t.append(now)
                self.series[metric].v.append(float(value))

    def _loop(self) -> None:
        n = 0
        try:
            while not self._stop.is_set():
                self._tick()
                n += 1
                # an absolute schedule: a slow read does not stretch the interval
                self._stop.wait(max(0.0, self._t0 + n * self.interval - time.monotonic()))
        except Exception as exc:  # surfaced by __exit__, never lost
            self.error = exc

    def __enter__(self) -> Sampling:
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10.0)
        if self._thread.is_alive():
            raise SoakToolError("the sampling thread did not stop within 10 s")
        if self.error is not None and exc[0] is None:
            raise SoakToolError(f"sampling pid {self.pid} failed: {self.error!r}") from self.error
        with contextlib.suppress(Exception):
            self._tick()  # the level at the end, after the load stopped

    def __getitem__(self, metric: str) -> SampledSeries:
        return self.series[metric]


def sampling(pid: int, *metrics: str, interval: float = 0.5) -> Sampling:
    """``with sampling(target.pid, "fds", "threads") as s: drive_load()``: sample those
    metrics (``fds``, ``rss``, ``threads``, ``conns``, ``close_wait`` of the process tree, or
    a full spec like ``proc:fds:self``) while the block runs; ``s["fds"]`` is the series."""
    return Sampling(pid, metrics or ("fds",), interval)


def assert_no_growth(series: SampledSeries, max_per_min: float, *, alpha: float = 0.01,
                     what: str = "") -> None:
    """The harness's growth test on one series: SoakFailed when the Theil-Sen slope is over
    ``max_per_min`` AND the (Hamed-Rao) Mann-Kendall increase is significant at ``alpha``;
    SoakInconclusive with fewer samples than the test needs (never a pass)."""
    import numpy as np

    from harness.analysis import MIN_TREND_POINTS, trend

    name = what or series.metric
    t: np.ndarray = np.asarray(series.t, dtype=float)
    v: np.ndarray = np.asarray(series.v, dtype=float)
    if len(t) < MIN_TREND_POINTS:
        raise SoakInconclusive(f"INCONCLUSIVE (not a pass, not a leak): cannot judge growth of "
                               f"{name}: only {len(t)} samples (need >= {MIN_TREND_POINTS}); "
                               "sample longer or more often")
    result = trend(t, v)
    per_min = result.slope * 60.0
    span = float(t[-1] - t[0])
    detail = (f"{name} changed {per_min:+.3g}/min over {span:.0f} s ({v[0]:g} -> {v[-1]:g}, "
              f"{result.n} points; limit {max_per_min:g}/min, p={result.p_value:.3g})")
    if per_min > max_per_min and result.p_value < alpha:
        raise SoakFailed(f"{detail}: over the limit and significant (p < {alpha})")


# ---------------------------------------------------------------------------- hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("soak", "soak tests (Soak Harness, docs/pytest.md)")
    group.addoption("--soak", action="store_true", default=False,
                    help="run the soak tests (marked soak, or using the soak fixture); "
                         "without it they are skipped")
    group.addoption("--soak-scale", type=float, default=1.0, metavar="F",
                    help="multiply the phase durations of every soak run by F (default 1)")
    group.addoption("--soak-out", default=None, metavar="DIR",
                    help="keep run folders in DIR/<test id>/ (default: pytest's tmp dirs)")
    group.addoption("--soak-inconclusive", choices=("fail", "skip"), default="fail",
                    help="an inconclusive soak (nothing failed, something not judged): "
                         "fail (default; the message says INCONCLUSIVE) or skip with the reason")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{SOAK_MARKER}: a soak test (Soak Harness): runs only "
                            "with --soak; --soak-scale F scales its durations")
    scale = config.getoption("soak_scale", 1.0)
    if not (isinstance(scale, float) and math.isfinite(scale) and scale > 0):
        raise pytest.UsageError(f"--soak-scale {scale}: must be a finite number > 0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="soak test: run with --soak")
    for item in items:
        if "soak" in getattr(item, "fixturenames", ()) and not item.get_closest_marker(SOAK_MARKER):
            item.add_marker(SOAK_MARKER)
        if item.get_closest_marker(SOAK_MARKER) and not config.getoption("soak"):
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    results = item.stash.get(_RESULTS, None)
    if results and report.when == "call":
        report.sections.append(("soak", "\n".join(r.describe() for r in results)))
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    lines = []
    for kind in ("passed", "failed", "skipped"):
        for report in terminalreporter.stats.get(kind, []):
            if getattr(report, "when", "") != "call":
                continue
            props = dict(getattr(report, "user_properties", []))
            if "soak_run_dir" in props:
                verdict = str(props.get("soak_verdict", "error")).upper()
                lines.append(f"{verdict} {report.nodeid}: {props['soak_run_dir']}")
    if lines:
        terminalreporter.write_sep("-", "soak runs")
        for line in lines:
            terminalreporter.write_line(line)

