"""Checks and the run summary: results, not exceptions.

``summary.json`` is ``Summary.model_dump_json()``; its schema is versioned by
``SCHEMA_VERSION`` and documented in docs/run-folder.md.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import EXIT_CHECK_FAILED, EXIT_ENVIRONMENT, EXIT_INCONCLUSIVE, EXIT_OK

SCHEMA_VERSION = 1


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    # ERROR and INCONCLUSIVE are the two "undecided" verdicts: never a pass, exit 4 when
    # nothing failed. ERROR: the check could not be evaluated (no data, too few samples, the
    # run cut short, the analysis failed). INCONCLUSIVE: what the harness saw cannot decide
    # (e.g. the load stopped and nothing says why).
    ERROR = "error"
    SKIP = "skip"  # not applicable (e.g. no recovery phase); does not fail the run
    INCONCLUSIVE = "inconclusive"


CheckKind = Literal["growth", "recovery", "level", "latency", "error_ratio", "rate", "run",
                    "error", "delivery"]
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
        """Judged, and over its limit (exit 1)."""
        return self.verdict == Verdict.FAIL

    @property
    def undecided(self) -> bool:
        """Could not be judged (exit 4 when nothing failed): never a pass."""
        return self.verdict in (Verdict.ERROR, Verdict.INCONCLUSIVE)


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

    @property
    def undecided_checks(self) -> list[Check]:
        return [c for c in self.checks if c.undecided]


def overall_verdict(checks: list[Check]) -> Verdict:
    """FAIL if a target or run check failed; else INCONCLUSIVE if one could not be judged
    (ERROR or INCONCLUSIVE); else PASS. A failed check wins over an undecided one.

    Checks of category ``tool`` (toxiproxy-server, Locust: the control series) are
    reported as tool problems and never fail the target's verdict. One tool check decides
    the run: a failed ``delivery`` (the open model's load was not delivered) makes it ERROR,
    since nothing measured under that load can be trusted (:func:`load_not_delivered`).
    """
    if load_not_delivered(checks):
        return Verdict.ERROR
    judged = [c for c in checks if c.category != "tool"]
    if any(c.failed for c in judged):
        return Verdict.FAIL
    if any(c.undecided for c in judged):
        return Verdict.INCONCLUSIVE
    return Verdict.PASS


def load_not_delivered(checks: list[Check]) -> bool:
    """A ``delivery`` check failed: the load generator could not start the requests on time."""
    return any(c.kind == "delivery" and c.failed for c in checks)


def exit_code_for(summary: Summary) -> int:
    """The one place the run outcome becomes an exit code (0/1/3/4; 2 is raised earlier).

    3 when the environment or a tool failed (the data cannot be trusted; also when the
    open model's load was not delivered, :func:`load_not_delivered`); else 1 when a
    check failed (a failed check wins over inconclusive); else 4 when a check could not be
    judged or the run was cut short (interrupted, or the harness killed); else 0.
    """
    if summary.status == "error" or load_not_delivered(summary.checks):
        return EXIT_ENVIRONMENT
    judged = [c for c in summary.checks if c.category != "tool"]
    if any(c.failed for c in judged):
        return EXIT_CHECK_FAILED
    if any(c.undecided for c in judged) or summary.status in ("interrupted", "running"):
        return EXIT_INCONCLUSIVE
    return EXIT_OK


def verdict_label(summary: Summary) -> str:
    """How the CLI names the outcome: PASS, FAIL, INCONCLUSIVE or ERROR (a tool failed)."""
    return {EXIT_OK: "PASS", EXIT_CHECK_FAILED: "FAIL", EXIT_INCONCLUSIVE: "INCONCLUSIVE"}.get(
        exit_code_for(summary), "ERROR")
