"""Growth checks and the trend statistics behind them, on synthetic series."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from harness.analysis import (
    MIN_TREND_POINTS,
    analyze,
    hamed_rao_factor,
    mann_kendall,
    trend,
    window_medians,
    window_size,
)
from harness.verdicts import Verdict
from tests.unit.analysis_helpers import FAULT, IDLE, by_name, run_data, scenario

WARMUP, SOAK = 300, 3600  # the long shape: 5 min warmup, 1 h soak (1 Hz)


def ar1(phi: float, n: int, seed: int, sd: float = 1.0) -> np.ndarray:
    """A stationary AR(1) series with marginal standard deviation ``sd``."""
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(n + 500) * sd * np.sqrt(1 - phi**2)
    return lfilter([1.0], [1.0, -phi], e)[500:]


def long_series(kind: str, seed: int = 1) -> np.ndarray:
    """Warmup + soak series of one shape (values per second)."""
    rng = np.random.default_rng(seed)
    n = WARMUP + SOAK
    t = np.arange(n, dtype=float)
    noise = rng.normal(0, 1, n)
    base = 50.0 + noise
    soak = t >= WARMUP
    if kind == "flat":
        return base
    if kind == "slow_leak":  # 0.02/s = 1.2/min
        return base + np.where(soak, 0.02 * (t - WARMUP), 0)
    if kind == "step_plateau":  # +20 at minute 20 of the soak, then flat
        return base + np.where(t >= WARMUP + 1200, 20.0, 0.0)
    if kind == "gc_sawtooth":  # climbs 20 over 5 min, collected, again
        return base + 20.0 * ((t % 300) / 300)
    if kind == "leak_in_noise":  # 0.02/s under sd 10 noise
        return 50 + 10 * noise + np.where(soak, 0.02 * (t - WARMUP), 0)
    if kind == "spike_recovers":  # +100 for 30 s in the middle of the soak
        return base + np.where((t >= WARMUP + 1800) & (t < WARMUP + 1830), 100.0, 0.0)
    raise ValueError(kind)


@pytest.mark.parametrize(("kind", "expected"), [
    ("flat", Verdict.PASS),
    ("slow_leak", Verdict.FAIL),
    ("step_plateau", Verdict.PASS),
    ("gc_sawtooth", Verdict.PASS),
    ("leak_in_noise", Verdict.FAIL),
    ("spike_recovers", Verdict.PASS),
])
def test_long_series_growth_verdicts(tmp_path, kind, expected):
    """Leaks fail; flat, busy plateau, GC sawtooth and transient spikes pass (limit 0.3/min)."""
    sc = scenario([("warmup", f"{WARMUP}s", {}), ("soak", f"{SOAK}s", FAULT)],
                  {"tasks": {"max_growth_per_min": 0.3}})
    run = run_data(tmp_path, sc, {("api", "tasks"): long_series(kind)})
    check = by_name(analyze(run, sc))["tasks.growth[api]"]
    assert check.verdict is expected, check.detail
    assert check.evidence["n_tested"] <= 60
    assert check.phases == ["soak"]


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_ar1_leak_free_hour_not_flagged(tmp_path, seed):
    """AR(1) phi=0.9 leak-free 1 h series pass even with a zero growth limit (test alone)."""
    sc = scenario([("warmup", f"{WARMUP}s", {}), ("soak", f"{SOAK}s", FAULT)],
                  {"tasks": {"max_growth_per_min": 0.0}})
    series = 50 + ar1(0.9, WARMUP + SOAK, seed)
    check = by_name(analyze(run_data(tmp_path, sc, {("api", "tasks"): series}), sc))
    assert check["tasks.growth[api]"].verdict is Verdict.PASS


def short_shape(kind: str) -> np.ndarray:
    """The detection-matrix shape: warmup 8 s, chaos 12 s, recovery 10 s at 1 Hz."""
    rng = np.random.default_rng(3)
    warm = 10 + rng.integers(0, 2, 8)
    if kind == "leaky":
        chaos = 10 + 3 * np.arange(1, 13) + rng.integers(0, 2, 12)
        rec = np.full(10, chaos[-1])
    elif kind == "busy":
        chaos = np.array([30, 55] + [60] * 10) + rng.integers(0, 2, 12)
        rec = np.array([40, 20] + [10] * 8) + rng.integers(0, 2, 10)
    else:
        chaos = 10 + rng.integers(0, 2, 12)
        rec = 10 + rng.integers(0, 2, 10)
    return np.concatenate([warm, chaos, rec]).astype(float)


@pytest.mark.parametrize(("kind", "growth", "recovery"), [
    ("leaky", Verdict.FAIL, Verdict.FAIL),
    ("busy", Verdict.PASS, Verdict.PASS),
    ("flat", Verdict.PASS, Verdict.PASS),
])
def test_short_run_matrix_shapes(tmp_path, kind, growth, recovery):
    """On 30 s runs a steady climb fails; a step that plateaus and drops back passes."""
    sc = scenario([("warmup", "8s", {}), ("chaos", "12s", FAULT), ("recovery", "10s", IDLE)],
                  {"tasks": {"max_growth_per_min": 30, "recover_within": "8s",
                             "tolerance": "25%", "tolerance_abs": 3}})
    checks = by_name(analyze(run_data(tmp_path, sc, {("api", "tasks"): short_shape(kind)}), sc))
    assert checks["tasks.growth[api]"].verdict is growth, checks["tasks.growth[api]"].detail
    assert checks["tasks.recovery[api]"].verdict is recovery, checks["tasks.recovery[api]"].detail


def test_too_few_points_is_an_error(tmp_path):
    """A judged span shorter than the minimum sample count gives ERROR with the reason."""
    sc = scenario([("warmup", "5s", {}), ("chaos", "5s", FAULT)],
                  {"tasks": {"max_growth_per_min": 5}})
    run = run_data(tmp_path, sc, {("api", "tasks"): np.arange(10.0)})
    check = by_name(analyze(run, sc))["tasks.growth[api]"]
    assert check.verdict is Verdict.ERROR
    assert f"need >= {MIN_TREND_POINTS}" in check.detail


def test_growth_per_1k_requests(tmp_path):
    """Growth per 1k requests uses the cumulative request count as the x axis."""
    from harness.runfolder import LatencyTable

    sc = scenario([("warmup", "10s", {}), ("soak", "60s", FAULT)],
                  {"fds": {"max_growth_per_1k_requests": 1.0}})
    n = 70
    requests = np.full(n, 100.0)  # 100 req/s: 0.05 fd per request = 50 per 1k
    lat = LatencyTable(np.arange(n, dtype=float), requests, np.zeros(n),
                       *(np.full(n, 5.0) for _ in range(4)))
    fds = 20 + 0.05 * np.cumsum(requests)
    check = by_name(analyze(run_data(tmp_path, sc, {("api", "fds"): fds}, latency=lat), sc))
    c = check["fds.growth_per_1k[api]"]
    assert c.verdict is Verdict.FAIL
    assert c.observed == pytest.approx(50.0, rel=0.01)


def test_plain_mk_over_rejects_autocorrelated_noise_hamed_rao_does_not():
    """On raw AR(1) phi=0.9 noise plain MK calls many trends; Hamed-Rao stays near alpha."""
    plain = corrected = 0
    seeds = range(40)
    for seed in seeds:
        y = ar1(0.9, 100, seed)
        plain += mann_kendall(y)[1] < 0.05
        corrected += trend(np.arange(100.0), y, window=1).p_value < 0.05
    assert plain >= 10
    assert corrected <= 6
    assert corrected < plain


@pytest.mark.parametrize(("phi", "low", "high"), [(0.0, 1.0, 1.6), (0.9, 3.0, 40.0)])
def test_hamed_rao_factor_tracks_autocorrelation(phi, low, high):
    """The variance factor is ~1 on white noise and large on strongly autocorrelated noise."""
    factors = [hamed_rao_factor(ar1(phi, 100, s), 0.0) if phi else
               hamed_rao_factor(np.random.default_rng(s).normal(size=100), 0.0)
               for s in range(10)]
    assert low <= float(np.median(factors)) <= high


def test_both_tests_detect_a_clear_trend():
    """A clear linear trend in white noise is significant for plain and corrected MK."""
    rng = np.random.default_rng(5)
    y = 0.1 * np.arange(60) + rng.normal(0, 1, 60)
    assert mann_kendall(y)[1] < 0.001
    result = trend(np.arange(60.0), y)
    assert result.p_value < 0.001
    assert result.slope == pytest.approx(0.1, rel=0.2)


@pytest.mark.parametrize(("n", "size", "windows"), [
    (30, 1, 30), (120, 1, 120), (121, 3, 40), (3600, 60, 60), (86_400, 1440, 60),
])
def test_window_size_keeps_enough_windows(n, size, windows):
    """Raw points up to 120; longer series become 40-60 window medians."""
    assert window_size(n) == size
    x = np.arange(float(n))
    xw, _ = window_medians(x, x, size)
    assert len(xw) == windows


def test_flat_integer_series_has_zero_slope_and_no_significance():
    """A constant series (all ties) gives slope 0 and p=1 without dividing by zero."""
    result = trend(np.arange(20.0), np.full(20, 7.0))
    assert result.slope == 0.0
    assert result.p_value >= 0.5
