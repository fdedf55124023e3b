"""Checks and the run summary: results, not exceptions.

``summary.json`` is ``Summary.model_dump_json()``; its schema is versioned by
``SCHEMA_VERSION`` and documented in docs/run-folder.md.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import EXIT_CHECK_FAILED, EXIT_ENVIRONMENT, EXIT_OK

SCHEMA_VERSION = 1


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # could not be evaluated (no data): counts as failing
    SKIP = "skip"  # not applicable (e.g. no recovery phase); does not fail the run


CheckKind = Literal["growth", "recovery", "level", "latency", "error_ratio", "run", "error"]
Category = Literal["target", "tool", "run"]


class CheckHead(BaseModel):
    """A check before it is judged: the fields every outcome of it shares.

    ``head.judged(verdict, detail=..., observed=...)`` is the Check; one head serves the
    error, pass and fail outcomes of the same check, so they cannot drift apart.
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="stable id, e.g. 'tasks.growth[gateway]'")
    metric: str
    target: str | None = None
    kind: CheckKind
    threshold: float | None = None
    unit: str = ""
    category: Category = "target"
    phases: list[str] = Field(default_factory=list)
    window: tuple[float, float] | None = None

    def but(self, **changes: Any) -> CheckHead:
        """This head with some fields changed (e.g. the window once it is known)."""
        return self.model_copy(update=changes)

    def judged(
        self, verdict: Verdict, *, detail: str = "", observed: float | None = None,
        threshold: float | None = None, unit: str | None = None,
        window: tuple[float, float] | None = None, evidence: dict[str, Any] | None = None,
    ) -> Check:
        fields = self.model_dump()
        fields.update(verdict=verdict, observed=observed, detail=detail, evidence=evidence or {})
        if threshold is not None:
            fields["threshold"] = threshold
        if unit is not None:
            fields["unit"] = unit
        if window is not None:
            fields["window"] = window
        return Check(**fields)


class Check(CheckHead):
    """One threshold judged against one series, with the evidence for the verdict."""

    model_config = ConfigDict(frozen=False)

    verdict: Verdict
    observed: float | None = None
    detail: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.verdict in (Verdict.FAIL, Verdict.ERROR)


RunStatus = Literal["running", "completed", "interrupted", "target_crashed", "error"]


class Summary(BaseModel):
    """What ``summary.json`` holds."""

    schema_version: int = SCHEMA_VERSION
    scenario: str
    description: str = ""
    variant: str | None = None
    verdict: Verdict
    status: RunStatus
    started_at: str | None = None
    ended_at: str | None = None
    duration_s: float = 0.0
    checks: list[Check] = Field(default_factory=list)
    versions: dict[str, str] = Field(default_factory=dict)
    reason: str = ""
    # added within schema 1 (older files lack them): see harness.provenance
    target_version: str | None = None
    target_version_source: str | None = None
    ci_url: str | None = None

    @property
    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if c.failed]


def overall_verdict(checks: list[Check]) -> Verdict:
    """FAIL if a target or run check failed or errored, else PASS.

    Checks of category ``tool`` (toxiproxy-server, Locust: the control series) are
    reported as tool problems and never fail the target's verdict.
    """
    judged = [c for c in checks if c.category != "tool"]
    return Verdict.FAIL if any(c.failed for c in judged) else Verdict.PASS


def exit_code_for(summary: Summary) -> int:
    """The one place the run outcome becomes an exit code (0/1/3; 2 is raised earlier)."""
    if summary.status == "error":
        return EXIT_ENVIRONMENT
    return EXIT_CHECK_FAILED if summary.verdict != Verdict.PASS else EXIT_OK
