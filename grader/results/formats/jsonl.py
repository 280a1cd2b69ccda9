"""The ``json`` format, the canonical one: a result as one line of strict JSON."""

from __future__ import annotations

from grader.results.model import SubmissionResult


def to_json_line(result: SubmissionResult) -> str:
    """One JSON object on one line (:meth:`SubmissionResult.to_json`)."""
    return result.to_json()
