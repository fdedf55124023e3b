"""Every error the harness raises on purpose.

Verdicts are results, not exceptions: a failing check never raises. Errors are for
input the harness cannot use and environments it cannot run in::

    HarnessError                      root; never raised itself
    ├── InputError                    exit 2: the user's input is wrong
    │   ├── ScenarioError             a scenario file: names the field path
    │   └── RunDirError               a run folder that cannot be read
    └── EnvironmentFailure            exit 3: the machine or a process failed
        ├── ToolMissing               toxiproxy-server (or another binary) not found
        ├── PortInUse                 a port the run needs is taken
        ├── ToxiproxyError            the Toxiproxy API refused or did not answer
        ├── ToolFrozen                a tool stopped answering mid-run (watchdog)
        ├── TargetUnhealthy           a target never became healthy
        ├── TargetCrashed             a target died while starting
        └── RunFolderWriteError       the run folder could not be written (disk full, ...)

A target that dies *mid-run* is not an error: it is an event and a failing check. A tool
(toxiproxy-server, Locust) that stops answering mid-run is ``ToolFrozen``: exit 3, the report
is still written, and the target's checks judge only the data from before the freeze.
Third-party errors are converted at the boundary (``raise Ours(...) from exc``).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_INCONCLUSIVE = 4  # a check could not be judged, or the run was cut short; nothing failed


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""

    exit_code = EXIT_ENVIRONMENT


class InputError(HarnessError):
    """The user's input (scenario, CLI, run folder) is wrong: exit 2."""

    exit_code = EXIT_INPUT


class ScenarioError(InputError):
    """A scenario that does not validate. ``errors`` holds one line per problem."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        lines = "\n".join(f"  {e}" for e in errors)
        super().__init__(f"{source}: invalid scenario\n{lines}")


class RunDirError(InputError):
    """A run folder that is missing or cannot be read."""


class EnvironmentFailure(HarnessError):
    """The machine or a process the run needs failed: exit 3."""

    exit_code = EXIT_ENVIRONMENT


class ToolMissing(EnvironmentFailure):
    """A required binary (toxiproxy-server, go, helm) is not available."""


class PortInUse(EnvironmentFailure):
    """A port the run needs is already taken."""


class ToxiproxyError(EnvironmentFailure):
    """The Toxiproxy API refused a request or did not answer in time."""


class ToolFrozen(EnvironmentFailure):
    """A tool of the run (toxiproxy-server, Locust) stopped answering mid-run: exit 3."""

    def __init__(self, tool: str, what: str, since: float) -> None:
        self.tool = tool
        self.what = what
        self.since = since  # epoch of the last sign of life
        super().__init__(f"{tool} stopped answering: {what}")


class TargetUnhealthy(EnvironmentFailure):
    """A target process never became healthy within its start timeout."""


class TargetCrashed(EnvironmentFailure):
    """A target process exited while the run was starting."""


class RunFolderWriteError(EnvironmentFailure):
    """Writing the run folder failed (ENOSPC, EIO, read-only): what could be written is there."""
