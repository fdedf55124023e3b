"""What a run folder records about what was soaked, and where: for ``harness history``.

``run.json`` and ``summary.json`` carry ``target_version`` (the target's version or
commit), ``target_version_source`` (where it came from) and ``ci_url`` (the CI job that
ran the soak). The first source that has a value wins:

1. ``harness run --target-version V``
2. ``$HARNESS_TARGET_VERSION`` (empty counts as unset, as for every variable)
3. with ``--backend compose``: the tag of ``$HARNESS_IMAGE`` (the image compose.yaml runs)
4. ``$GITHUB_SHA`` (GitHub Actions), ``$CI_COMMIT_SHA`` (GitLab CI)

``ci_url``: ``$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID`` on GitHub
Actions, ``$CI_JOB_URL`` on GitLab CI, else none.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from harness.errors import InputError
from harness.text import printable

TARGET_VERSION_ENV = "HARNESS_TARGET_VERSION"
COMMIT_ENVS = ("GITHUB_SHA", "CI_COMMIT_SHA")
MAX_VERSION_CHARS = 200
_VERSION = re.compile(r"^[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]+$")
_URL = re.compile(r"^https?://[^\s\x00-\x1f\x7f]+$")


@dataclass(frozen=True)
class Provenance:
    """The target's version (and where it came from) and the CI job URL, each optional."""

    target_version: str | None = None
    target_version_source: str | None = None
    ci_url: str | None = None

    def manifest_fields(self) -> dict[str, str | None]:
        return {"target_version": self.target_version,
                "target_version_source": self.target_version_source, "ci_url": self.ci_url}


def version_problem(text: str) -> str | None:
    """Why ``text`` cannot be recorded as a target version, or None."""
    if not text.strip():
        return "must not be empty"
    if len(text) > MAX_VERSION_CHARS:
        return f"at most {MAX_VERSION_CHARS} characters"
    if not _VERSION.match(text):
        return "holds control characters"
    return None


def image_tag(image: str) -> str | None:
    """``registry:5000/soak-harness:1.2.3@sha256:...`` -> ``1.2.3``; None without a tag."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return None
    return last.split(":", 1)[1] or None


def ci_url(env: Mapping[str, str]) -> str | None:
    """The CI job's URL from the CI's own variables, or None (not in CI, or not a URL)."""
    server, repo, run_id = (env.get(k, "") for k in
                            ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    url = (f"{server.rstrip('/')}/{repo}/actions/runs/{run_id}" if server and repo and run_id
           else env.get("CI_JOB_URL", ""))
    return url if _URL.match(url) and len(url) <= 2000 else None


def provenance(option: str | None, backend: str = "local",
               env: Mapping[str, str] | None = None) -> Provenance:
    """The run's provenance; InputError naming the option or variable whose value cannot be
    recorded (empty, too long, control characters)."""
    env = os.environ if env is None else env
    # (source recorded in run.json, how an error names it, value)
    candidates: list[tuple[str, str, str | None]] = [
        ("--target-version", "--target-version", option),
        (TARGET_VERSION_ENV, f"${TARGET_VERSION_ENV}", env.get(TARGET_VERSION_ENV) or None)]
    if backend == "compose" and env.get("HARNESS_IMAGE"):
        candidates.append(("HARNESS_IMAGE tag", "$HARNESS_IMAGE",
                           image_tag(env["HARNESS_IMAGE"])))
    candidates += [(name, f"${name}", env.get(name) or None) for name in COMMIT_ENVS]
    for source, label, value in candidates:
        if value is None:
            continue
        problem = version_problem(value)
        if problem:
            raise InputError(f"{label}: {printable(value, 40, newlines=False)!r}: {problem}")
        return Provenance(value, source, ci_url(env))
    return Provenance(ci_url=ci_url(env))


__all__ = ["TARGET_VERSION_ENV", "Provenance", "ci_url", "image_tag", "provenance",
           "version_problem"]
