"""The ``json`` format, the canonical one: a result as one line of strict JSON."""

from __future__ import annotations

import json
import math

from grader.results.model import SubmissionResult


def to_json_line(result: SubmissionResult) -> str:
    """One JSON object on one line; NaN and infinities become null (strict JSON)."""
    return json.dumps(_strict(result.to_dict()), allow_nan=False)


def _strict(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value
