"""Threshold models: what a check compares a run against.

Keys of ``thresholds:`` in a scenario are metric names: ``p<NN>_ms`` (a latency
percentile, e.g. ``p99_ms``), ``error_ratio``, or a metric alias declared by a target's
``metrics:`` (``tasks``, ``fds``, ``rss``, ``goroutines``...). docs/thresholds.md
documents each field, its default and how to tune it.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.scenario._types import Duration, Fraction

LATENCY_KEY = re.compile(r"^p(\d{1,2}(?:\.\d+)?)_ms$")
RATE_KEY = "request_rate"  # the rate-collapse check: min is a fraction of the baseline rate
LATENCY_KEYS_OTHER = ("error_ratio", RATE_KEY)


def is_latency_key(key: str) -> bool:
    """True for ``p99_ms``-style keys and ``error_ratio``: checks on the load side."""
    return bool(LATENCY_KEY.match(key)) or key in LATENCY_KEYS_OTHER


class Threshold(BaseModel):
    """Limits for one metric. Every field is optional; only the ones set become checks."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    max: float | None = Field(None, description="level (or percentile/ratio) must stay <= this")
    min: float | None = Field(None, description="level must stay >= this")
    phases: list[str] | None = Field(
        None, description="phases the check covers; default depends on the check"
    )
    max_growth_per_min: float | None = Field(
        None, description="fail when the robust slope exceeds this per minute and is significant"
    )
    max_growth_per_1k_requests: float | None = Field(
        None, description="the same limit, per 1,000 requests served"
    )
    recover_within: Duration | None = Field(
        None, description="after faults end and load drops, back to baseline within this"
    )
    tolerance: Fraction = Field(0.10, ge=0.0, description="recovery slack, relative to the baseline")
    tolerance_abs: float = Field(
        0.0, ge=0.0, description="recovery slack in the metric's own unit, added to tolerance"
    )
    alpha: float = Field(0.01, gt=0.0, lt=0.5, description="significance level of trend tests")
    ignore_first: Duration = Field(0.0, description="seconds at the start of the run not judged")
    # (every float here is finite: allow_inf_nan=False; a NaN limit would never fail)
    settle: Duration | None = Field(
        None,
        description="seconds at the start of each judged phase left out of growth fits "
        "(load ramp, fault onset); default: 20% of the phase, at most 30s",
    )
    ignore_tasks: list[str] = Field(
        default_factory=list, description="task/goroutine names left out of evidence diffs"
    )
    targets: list[str] | None = Field(None, description="targets checked; default all")
    names: list[str] | None = Field(
        None, description="latency and error_ratio only: judge each request name matching "
        "one of these globs (on 'TYPE name' or the name) instead of the total"
    )
    lasting: Duration | None = Field(
        None, description="request_rate only: how long the rate must stay under min before it "
        "counts as a collapse (default 5s)"
    )

    @model_validator(mode="after")
    def _names_are_patterns(self) -> Threshold:
        if self.names is not None:
            if not self.names:
                raise ValueError("names: give at least one pattern, or leave names out to "
                                 "judge the total")
            for i, pattern in enumerate(self.names):
                if not pattern.strip():
                    raise ValueError(f"names[{i}]: an empty pattern matches no request name")
        return self

    @model_validator(mode="after")
    def _something_to_check(self) -> Threshold:
        if (
            self.max is None
            and self.min is None
            and self.max_growth_per_min is None
            and self.max_growth_per_1k_requests is None
            and self.recover_within is None
        ):
            raise ValueError(
                "sets no limit: give at least one of max, min, max_growth_per_min, "
                "max_growth_per_1k_requests, recover_within"
            )
        return self
