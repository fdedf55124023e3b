"""Synthetic run folders for tests and benchmarks, written through harness.runfolder.

Every file goes through the run-folder writers (``LineWriter``, ``write_json_atomic``) and
headers, so a change to the contract shows up here too. Nothing here measures anything.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

from harness.events import EventKind
from harness.runfolder import (
    HDR_HEADER,
    LATENCY_HEADER,
    SAMPLES_HEADER,
    LineWriter,
    fmt,
    write_json_atomic,
)
from harness.verdicts import Check, RunStatus, Summary, Verdict, overall_verdict

T0 = 1_700_000_000.0
TARGET_METRICS = {"tasks": 20.0, "fds": 30.0, "rss": 60 * 2.0**20, "threads": 4.0}
CONTROL_METRICS = {"toxiproxy": {"goroutines": 12.0, "fds": 15.0, "rss": 25 * 2.0**20},
                   "locust": {"rss": 90 * 2.0**20}}


@dataclass(frozen=True)
class SyntheticRun:
    """What a synthetic run looks like: used to build the folder and matching checks."""

    name: str = "synthetic"
    duration_s: float = 60.0
    interval_s: float = 1.0
    targets: Sequence[str] = ("gateway",)
    leak_per_min: float = 0.0  # tasks and fds added per minute during chaos, never freed
    p99_ms: float = 40.0
    error_ratio: float = 0.0
    rps: float = 50.0
    interrupt_at: float | None = None  # cut the run here: open phase, torn last lines
    description: str = "synthetic run for tests"
    variant: str | None = "leaky"
    seed: int = 1

    def phases(self) -> list[tuple[str, float, float]]:
        d = self.duration_s
        return [("warmup", 0.0, 0.25 * d), ("chaos", 0.25 * d, 0.75 * d),
                ("recovery", 0.75 * d, d)]

    @property
    def end(self) -> float:
        return self.duration_s if self.interrupt_at is None else min(
            self.interrupt_at, self.duration_s)


def scenario_yaml(spec: SyntheticRun) -> str:
    """A scenario file matching the synthetic timeline (plain text, YAML)."""
    d = spec.duration_s
    return (
        f"name: {spec.name}\n"
        f"description: {spec.description!r}\n"
        "target: {sample: healthy, name: " + spec.targets[0] + "}\n"
        "proxies: [{name: front, upstream: " + spec.targets[0] + "}]\n"
        "load: {user: HttpUser, users: 10}\n"
        "phases:\n"
        f"  - {{name: warmup, duration: {0.25 * d:g}s}}\n"
        f"  - {{name: chaos, duration: {0.5 * d:g}s, faults: [{{proxy: front, type: timeout,"
        " stream: upstream, attributes: {timeout: 0}}]}\n"
        f"  - {{name: recovery, duration: {0.25 * d:g}s, users: 0}}\n"
        "thresholds:\n"
        "  p99_ms: {max: 250, phases: [warmup]}\n"
        "  tasks: {max_growth_per_min: 5, recover_within: 15s}\n"
    )


def _events(spec: SyntheticRun, path: Path) -> None:
    writer = LineWriter(path)

    def emit(t: float, kind: EventKind, **fields: Any) -> None:
        if t <= spec.end:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(T0 + t)) + ".000Z"
            writer.write_json({"t": round(t, 3), "ts": stamp, "kind": kind.value, **fields})

    emit(0.0, EventKind.PROCESS_START, process="toxiproxy", role="control", pid=100)
    for i, target in enumerate(spec.targets):
        emit(0.0, EventKind.PROCESS_START, process=target, role="target", pid=101 + i)
    fault = {"proxy": "front", "type": "timeout", "stream": "upstream",
             "attributes": {"timeout": 0}, "toxicity": 1.0}
    for name, start, end in spec.phases():
        emit(start, EventKind.PHASE_START, phase=name)
        if name == "chaos":
            emit(start + 0.01, EventKind.FAULT_ADDED, **fault)
            emit(end - 0.01, EventKind.FAULT_REMOVED, proxy="front", type="timeout")
        emit(end, EventKind.PHASE_END, phase=name)
    if spec.interrupt_at is not None:
        emit(spec.end, EventKind.INTERRUPTED, signal="SIGINT")
    writer.close()


def _level(spec: SyntheticRun, t: np.ndarray, base: float, rng: np.random.Generator,
           leaky: bool) -> np.ndarray:
    _, chaos_start, chaos_end = spec.phases()[1]
    v = base * (1 + 0.02 * rng.standard_normal(len(t)))
    if leaky and spec.leak_per_min:
        grown = np.clip(t, chaos_start, chaos_end) - chaos_start
        v = v + spec.leak_per_min / 60.0 * grown * (base / 20.0)
    return np.round(v) if base < 1000 else v


def write_synthetic_run(path: Path, spec: SyntheticRun | None = None) -> Path:
    """Write a complete (or cut-short) run folder at ``path``; returns ``path``."""
    spec = spec or SyntheticRun()
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    n = math.floor(spec.end / spec.interval_s)
    t = (np.arange(n) + 1) * spec.interval_s
    write_json_atomic(path / "run.json", {
        "scenario": spec.name, "variant": spec.variant, "t0": T0,
        "status": "interrupted" if spec.interrupt_at is not None else "completed",
        "versions": {"harness": "0.1.0", "toxiproxy": "2.12.0", "locust": "2.31",
                     "python": "3.11"},
        "targets": [{"name": tg, "pid": 101 + i, "port": 18000 + i,
                     "metrics": {m: f"synthetic:{m}" for m in TARGET_METRICS}}
                    for i, tg in enumerate(spec.targets)],
        "proxies": [{"name": "front", "upstream": spec.targets[0]}],
    })
    (path / "scenario.yaml").write_text(scenario_yaml(spec), encoding="utf-8")
    _events(spec, path / "events.jsonl")

    columns: list[tuple[str, str, np.ndarray]] = []
    for target in spec.targets:
        for metric, base in TARGET_METRICS.items():
            leaky = metric in ("tasks", "fds")
            columns.append((target, metric, _level(spec, t, base, rng, leaky)))
    for target, metrics in CONTROL_METRICS.items():
        for metric, base in metrics.items():
            columns.append((target, metric, _level(spec, t, base, rng, False)))
    samples = LineWriter(path / "samples.csv", SAMPLES_HEADER)
    texts = [(target, metric, [fmt(float(x)) for x in values])
             for target, metric, values in columns]
    for i, ti in enumerate(t):
        stamp = f"{ti:.3f}"
        for target, metric, values in texts:
            samples.write_line(f"{stamp},{target},{metric},{values[i]}")
    if spec.interrupt_at is not None:
        samples.close()
        with (path / "samples.csv").open("a", encoding="utf-8") as fh:
            fh.write(f"{t[-1] if n else 0:.3f},{spec.targets[0]},ta")  # torn by the kill
    samples.close()
    _latency(spec, path, t, rng)
    return path


def _latency(spec: SyntheticRun, path: Path, t: np.ndarray, rng: np.random.Generator) -> None:
    chaos = spec.phases()[1]
    variants = []
    for k in range(16):  # a few distinct histograms, reused: encoding each is slow
        hist = HdrHistogram(1, 60_000_000, 3)
        for value in rng.gamma(4.0, spec.p99_ms * 250 / 4 / 2.5, 200) * (1 + k / 32):
            hist.record_value(max(1, int(value)))
        pcts = [hist.get_value_at_percentile(q) / 1000 for q in (50, 95, 99)]
        variants.append(([*pcts, hist.get_max_value() / 1000], hist.encode().decode("ascii")))
    table = LineWriter(path / "latency.csv", LATENCY_HEADER)
    hdr = LineWriter(path / "latency.hdr", HDR_HEADER)
    reqs = rng.poisson(spec.rps, len(t))
    for i, ti in enumerate(t):
        values, enc = variants[i % len(variants)]
        in_chaos = chaos[1] <= ti < chaos[2]
        scale = 3.0 if in_chaos else 1.0
        requests = int(reqs[i])
        failures = round(requests * spec.error_ratio * (5 if in_chaos else 1))
        stamp = f"{ti:.3f}"
        table.write_line(",".join((stamp, str(requests), str(failures),
                                   *(fmt(v * scale) for v in values))))
        hdr.write_line(f"{stamp},{enc}")
    table.close()
    hdr.close()


def synthetic_checks(spec: SyntheticRun) -> list[Check]:
    """Checks shaped like the analysis' output, matching the synthetic data."""
    warm, chaos, _ = spec.phases()
    checks: list[Check] = []
    for target in spec.targets:
        slope = spec.leak_per_min
        checks.append(Check(
            name=f"tasks.growth[{target}]", metric="tasks", target=target, kind="growth",
            verdict=Verdict.FAIL if slope > 5 else Verdict.PASS, observed=slope,
            threshold=5.0, unit="/min", phases=["chaos"], window=(chaos[1], chaos[2]),
            detail=f"tasks grew {slope:.2f}/min during chaos",
            evidence={"slope_per_s": slope / 60, "intercept": 20.0 - slope / 60 * chaos[1],
                      "window": [chaos[1], chaos[2]], "p_value": 0.001 if slope else 0.5,
                      "grew": [{"name": "handle_stream", "where": "gateway.py:42 in read",
                                "before": 3, "after": 3 + int(slope * 10), "delta":
                                int(slope * 10)}] if slope else []},
        ))
        recovered = 20.0 + slope * (chaos[2] - chaos[1]) / 60
        checks.append(Check(
            name=f"tasks.recovery[{target}]", metric="tasks", target=target, kind="recovery",
            verdict=Verdict.FAIL if recovered > 22 else Verdict.PASS, observed=recovered,
            threshold=22.0, phases=["recovery"], detail="level after recovery",
            evidence={"baseline": 20.0, "limit": 22.0, "baseline_window": [warm[1], warm[2]]},
        ))
    checks.append(Check(
        name="p99_ms[warmup]", metric="p99_ms", kind="latency", unit="ms",
        verdict=Verdict.FAIL if spec.p99_ms > 250 else Verdict.PASS, observed=spec.p99_ms,
        threshold=250.0, phases=["warmup"], detail="merged HDR P99 over warmup"))
    checks.append(Check(
        name="error_ratio[warmup]", metric="error_ratio", kind="error_ratio",
        verdict=Verdict.FAIL if spec.error_ratio > 0.01 else Verdict.PASS,
        observed=spec.error_ratio, threshold=0.01, phases=["warmup"]))
    checks.append(Check(
        name="recovery.phase", metric="p99_ms", kind="run", category="run",
        verdict=Verdict.SKIP, detail="no separate recovery load level"))
    return checks


def synthetic_summary(spec: SyntheticRun, checks: list[Check] | None = None) -> Summary:
    """A Summary for a synthetic run (the given checks, or ``synthetic_checks``)."""
    checks = synthetic_checks(spec) if checks is None else checks
    return Summary(
        scenario=spec.name, description=spec.description, variant=spec.variant,
        verdict=overall_verdict(checks),
        status="interrupted" if spec.interrupt_at is not None else "completed",
        duration_s=spec.end, checks=checks,
        versions={"harness": "0.1.0", "toxiproxy": "2.12.0", "locust": "2.31",
                  "python": "3.11"},
    )


def write_summary_run(path: Path, spec: SyntheticRun, *, started_at: str,
                      status: RunStatus = "completed", checks: list[Check] | None = None,
                      target_version: str | None = None, ci_url: str | None = None,
                      reason: str = "") -> Path:
    """A run folder holding only run.json and summary.json, as ``harness history`` reads it
    (fast: for history tests and benchmarks; ``harness report`` needs the raw data too).
    ``status`` ``error`` makes the verdict ERROR, as a tool failure does."""
    path.mkdir(parents=True, exist_ok=True)
    provenance = {"target_version": target_version,
                  "target_version_source": "HARNESS_TARGET_VERSION" if target_version else None,
                  "ci_url": ci_url}
    write_json_atomic(path / "run.json", {
        "schema_version": 1, "scenario": spec.name, "variant": spec.variant,
        "t0": datetime.fromisoformat(started_at.replace("Z", "+00:00")).timestamp(),
        "started_at": started_at, "status": status, "reason": reason, **provenance})
    summary = synthetic_summary(spec, checks).model_copy(update={
        "status": status, "started_at": started_at, "reason": reason, **provenance})
    if status == "error":
        summary.verdict = Verdict.ERROR
    write_json_atomic(path / "summary.json", summary.model_dump(mode="json"))
    return path
