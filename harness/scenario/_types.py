"""Small value types for scenario files: durations and fractions."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = re.compile(rf"^\s*({_NUMBER})\s*(ms|s|m|h|d)?\s*$")
# compound: ``1h30m``, ``2m30s``, ``1d12h``, ``1.5h``: parts in falling unit order, each once
_COMPOUND = re.compile(rf"^(?:({_NUMBER})d)?(?:({_NUMBER})h)?(?:({_NUMBER})m(?!s))?"
                       rf"(?:({_NUMBER})s)?(?:({_NUMBER})ms)?$")
_COMPOUND_UNITS = (86400.0, 3600.0, 60.0, 1.0, 0.001)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_EXPECTED = "expected a duration like '90s', '2m30s', '1h30m', '1.5h' or '500ms'"
# No duration in a scenario is longer than a week: a longer value is a typo (or ``.inf``),
# and would leave a run (or a timeout) that never ends.
MAX_DURATION = 7 * 24 * 3600.0


def _bounded(seconds: float) -> float:
    if not math.isfinite(seconds):
        raise ValueError(f"must be a finite duration, got {seconds}")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION:
        raise ValueError(f"{format_duration(seconds)} is longer than the "
                         f"{format_duration(MAX_DURATION)} a duration may be")
    return seconds


def parse_duration(value: Any) -> float:
    """Seconds from ``10s``, ``2m``, ``1h``, ``500ms``, ``1d``, a compound of them in falling
    order (``1h30m``, ``2m30s``, ``1d12h``; each unit once), a decimal (``1.5h``) or a bare
    number of seconds. Finite, >= 0 and at most ``MAX_DURATION`` (a week)."""
    if isinstance(value, bool):
        raise ValueError(_EXPECTED)
    if isinstance(value, int | float):
        try:
            return _bounded(float(value))
        except OverflowError:  # an integer too big for a float
            raise ValueError("is longer than a duration may be") from None
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return _bounded(float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
        compact = value.strip().replace(" ", "")
        parts = _COMPOUND.match(compact) if len(compact) <= 64 else None
        if parts and any(parts.groups()):
            return _bounded(sum(float(g) * unit for g, unit in zip(parts.groups(),
                                                                   _COMPOUND_UNITS, strict=True)
                                if g is not None))
    raise ValueError(f"{_EXPECTED}, got {_short(value)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


def parse_fraction(value: Any) -> float:
    """A fraction from ``10%`` or ``0.1``."""
    if isinstance(value, bool):
        raise ValueError("expected a fraction like '10%' or 0.1")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
        except ValueError:
            number = None
        if number is not None and math.isfinite(number):
            return number
        raise ValueError(f"expected a fraction like '10%' or 0.1, got {_short(value)}")
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    raise ValueError(f"expected a fraction like '10%' or 0.1, got {_short(value)}")


def format_duration(seconds: float) -> str:
    """``90`` -> ``1m30s``; used in messages and reports."""
    if not math.isfinite(seconds):
        return str(seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    parts = [f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s or not (h or m) else ""]
    return "".join(parts)


Duration = Annotated[float, BeforeValidator(parse_duration)]
Fraction = Annotated[float, BeforeValidator(parse_fraction)]
