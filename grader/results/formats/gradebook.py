"""A gradebook CSV: a row per submission, a column per exercise, the total."""

from __future__ import annotations

from grader.results.model import SubmissionResult
from grader.results.spreadsheet import csv_text


def header(results: list[SubmissionResult]) -> list[str]:
    exercises = list(results[0].exercises) if results else []
    return ["submission", *exercises, "total", "max_score", "not_graded"]


def render(results: list[SubmissionResult]) -> str:
    """Scores as numbers; no submission name a spreadsheet formula."""
    columns = header(results)
    rows = [columns]
    for r in results:
        scores = [r.exercises[k].score if k in r.exercises else None for k in columns[1:-3]]
        rows.append([r.submission, *scores, r.score, r.max_score, r.ungraded_points])
    return csv_text(rows)
