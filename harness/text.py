"""Untrusted text made safe to show: on a terminal, in Markdown, HTML and JUnit XML.

Target names, process names, task names, Locust error messages, log tails and anything
read back from a run folder can hold control characters. On a terminal an ESC sequence
recolours, moves the cursor or retitles the window; ``\\r`` overwrites the line; NUL and
most C0 characters make XML 1.0 invalid; HTML escaping removes none of them. ``printable``
replaces each such character by a visible escape (``\\x1b``, ``\\r``, ``\\u202e``), so
the text stays readable and nothing is interpreted.

Kept: printable text, ``\\n`` and ``\\t`` (unless ``newlines=False``). Replaced: C0
controls, DEL, C1 controls (``\\x80``-``\\x9f``, e.g. the 8-bit CSI), lone surrogates
(undecodable bytes), U+FFFE/U+FFFF (not characters in XML), and the bidirectional
overrides and isolates that reorder what a reader sees ("Trojan Source").
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]")
_UNSAFE_ONE_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t", "\x00": "\\0"}


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object, limit: int | None = None, *, newlines: bool = True) -> str:
    """``str(text)`` with control characters shown as escapes; cut to ``limit`` characters
    (with ``...``) when given. ``newlines=False`` escapes ``\\n`` and ``\\t`` too."""
    value = str(text)
    if limit is not None and len(value) > limit:
        value = value[:limit] + "..."
    return (_UNSAFE if newlines else _UNSAFE_ONE_LINE).sub(_escape, value)


__all__ = ["printable"]
