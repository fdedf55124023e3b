"""``python -m harness``: the same as the ``harness`` command."""

import sys

from harness._signals import install

install()  # before anything else is imported: a signal from here on is a stop request

from harness.cli import main  # noqa: E402  (after the handlers, on purpose)

sys.exit(main())
