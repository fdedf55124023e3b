"""Small value types for scenario files: durations and fractions."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``10s``, ``2m``, ``1h``, ``500ms`` or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like '10s', '2m' or '1h'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    raise ValueError(f"expected a duration like '10s', '2m' or '1h', got {value!r}")


def parse_fraction(value: Any) -> float:
    """A fraction from ``10%`` or ``0.1``."""
    if isinstance(value, bool):
        raise ValueError("expected a fraction like '10%' or 0.1")
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
        except ValueError:
            pass
        raise ValueError(f"expected a fraction like '10%' or 0.1, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    raise ValueError(f"expected a fraction like '10%' or 0.1, got {value!r}")


def format_duration(seconds: float) -> str:
    """``90`` -> ``1m30s``; used in messages and reports."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    parts = [f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s or not (h or m) else ""]
    return "".join(parts)


Duration = Annotated[float, BeforeValidator(parse_duration)]
Fraction = Annotated[float, BeforeValidator(parse_fraction)]
