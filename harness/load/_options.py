"""Scenario ``load.options`` as seen by user classes inside the Locust process."""

from __future__ import annotations

import functools
import json
import os
from typing import Any

OPTIONS_ENV = "HARNESS_LOAD_OPTIONS"


def load_options() -> dict[str, Any]:
    """The scenario's ``load.options`` mapping (empty outside a harness run)."""
    return _parse(os.environ.get(OPTIONS_ENV, ""))


@functools.lru_cache(maxsize=4)
def _parse(raw: str) -> dict[str, Any]:
    """Parsed once per value: users read options on every request (10,000/s and more)."""
    if not raw:
        return {}
    value = json.loads(raw)
    return value if isinstance(value, dict) else {}


def option(name: str, default: Any) -> Any:
    """One option with a default, e.g. ``option("read_bytes_per_s", 64)``."""
    return load_options().get(name, default)
