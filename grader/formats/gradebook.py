"""A gradebook CSV: a row per submission, a column per exercise, the total."""

from __future__ import annotations

import csv
import io

from grader.results import SubmissionResult


def header(results: list[SubmissionResult]) -> list[str]:
    exercises = list(results[0].exercises) if results else []
    return ["submission", *exercises, "total", "max_score", "not_graded"]


def render(results: list[SubmissionResult]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = header(results)
    writer.writerow(columns)
    for r in results:
        scores = [r.exercises[k].score if k in r.exercises else "" for k in columns[1:-3]]
        writer.writerow([r.submission, *scores, r.score, r.max_score, r.ungraded_points])
    return buffer.getvalue()
