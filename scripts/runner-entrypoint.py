#!/usr/bin/env python3
"""Entry point of the compose ``runner``: a report folder it can write, then ``harness``.

``./reports`` is bind-mounted from the host, where it usually belongs to root with mode 755,
so the image's user (10001) cannot write it. The runner container starts as root with only
the capabilities this needs (DAC_OVERRIDE to create the folder, CHOWN to give it to 10001,
SETUID/SETGID to drop to it), makes ``$HARNESS_REPORTS/compose`` owned by 10001, and runs
``harness ARGS`` as 10001 with every capability gone (setuid from root to a non-root user
clears them) and its supplementary groups kept (the docker socket's group). It never changes
the owner or mode of the host's folder itself.

Started as any other user, it only runs ``harness ARGS``.
"""

from __future__ import annotations

import os
import sys

USER = GROUP = 10001


def main(argv: list[str]) -> int:
    if os.getuid() == 0:
        reports = os.path.join(os.environ.get("HARNESS_REPORTS") or "/reports", "compose")
        os.makedirs(reports, exist_ok=True)
        os.chown(reports, USER, GROUP)
        os.environ["HARNESS_REPORTS"] = reports
        groups = [g for g in os.getgroups() if g != 0]
        os.setgroups(groups)
        os.setgid(GROUP)
        os.setuid(USER)
        if os.getuid() != USER or os.geteuid() != USER:  # never run the harness as root
            print("soak-runner: could not drop to uid 10001", file=sys.stderr)
            return 3
    os.execvp("harness", ["harness", *argv])
    return 3  # not reached: exec replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
