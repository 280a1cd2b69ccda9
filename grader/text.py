"""Text that came from student code, made safe once where it enters the trusted side.

Student output, exception messages and strings inside replies end up in terminal tables,
JUnit XML, HTML and JSON. Control characters (ANSI escapes that redraw a terminal, bytes
that XML 1.0 forbids), bidirectional overrides (which reorder what a reader sees) and lone
surrogates (which cannot be written as UTF-8) are shown as visible escapes instead.
Newlines and tabs are kept.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ufeff\ufffe\uffff\ud800-\udfff]"
)


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value, limit: int | None = None) -> str:
    """``value`` as a string with unsafe characters escaped, cut to ``limit`` characters."""
    text = value if isinstance(value, str) else str(value if value is not None else "")
    if limit is not None:
        text = text[:limit]
    return _UNSAFE.sub(_escape, text)


def clean_data(value, _depth: int = 0):
    """``value`` (decoded channel data) with every string, dict keys included, cleaned."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [clean_data(item, _depth + 1) for item in value]
    if isinstance(value, dict):
        return {clean(key): clean_data(item, _depth + 1) for key, item in value.items()}
    return value
