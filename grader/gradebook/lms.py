"""The gradebook as files an LMS imports, and the audit that explains them.

- ``canvas``: Canvas's grade-import CSV, the layout of its own gradebook export: ``Student``,
  ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``, then the assignment's column, a
  ``Points Possible`` row second; one row per roster student (those columns from the roster).
- ``moodle``: ``Email address`` or ``ID number`` (the key Moodle's grade import maps), then the
  assignment's column; one row per roster student.
- ``csv``: every row with what made its score: raw score, override, submission time, due
  date, lateness, penalty, final score and the rule, submissions outside the roster included.
"""

from __future__ import annotations

import json

from grader import __version__
from grader.gradebook.book import Book, Row
from grader.gradebook.policy import GradebookError, describe, rounded
from grader.results.spreadsheet import csv_text

FORMATS = ("canvas", "moodle", "csv")
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_IDS = ("ID", "SIS User ID", "SIS Login ID")
POINTS_POSSIBLE = "    Points Possible"
"""Canvas writes the label with four leading spaces; its import finds the row by it."""
MOODLE_KEYS = {"email": "Email address", "idnumber": "ID number"}
BREAKDOWN = (
    "student",
    "submission",
    "in_roster",
    "raw_score",
    "override",
    "score_after_override",
    "submitted_at",
    "due",
    "late_by",
    "penalty",
    "final_score",
    "max_score",
    "rule",
)


def score(value) -> int | float | None:
    """A score as Canvas and Moodle read it: ``87.5``, ``100``; blank for none."""
    return None if value is None else rounded(value)


def render(fmt: str, book: Book, *, moodle_key: str = "email") -> str:
    """The file of ``fmt`` (:data:`FORMATS`); no text in it is a spreadsheet formula."""
    rows: list[list] = []
    rostered = [row for row in book.rows if row.roster is not None]
    total = max((row.max_score for row in book.rows), default=0)
    if fmt == "canvas":
        rows.append([*CANVAS_COLUMNS, book.policy.column()])
        rows.append([POINTS_POSSIBLE, *[""] * (len(CANVAS_COLUMNS) - 1), score(total)])
        for row in rostered:
            if not any(row.roster.get(c) for c in CANVAS_IDS):
                raise GradebookError(
                    f"the roster has no {', '.join(CANVAS_IDS)} for {row.student}, and Canvas "
                    "matches students by them: use Canvas's gradebook export as the roster"
                )
            rows.append([*(row.roster.get(c, "") for c in CANVAS_COLUMNS), score(row.final)])
    elif fmt == "moodle":
        key = MOODLE_KEYS[moodle_key]
        rows.append([key, book.policy.assignment])
        for row in rostered:
            if not row.roster.get(key):
                raise GradebookError(
                    f"the roster has no {key!r} for {row.student}: Moodle matches students by it "
                    "(--moodle-key email|idnumber)"
                )
            rows.append([row.roster[key], score(row.final)])
    elif fmt == "csv":
        rows.append(list(BREAKDOWN))
        rows += [_breakdown(row) for row in book.rows]
    else:
        raise ValueError(f"unknown gradebook format {fmt!r}: use {', '.join(FORMATS)}")
    return csv_text(rows)


def _breakdown(row: Row) -> list:
    lateness = row.lateness
    return [
        row.student,
        row.submission or "",
        "yes" if row.roster is not None else "no",
        score(row.raw_score),
        "; ".join(o.describe() for o in row.overrides),
        score(row.scored),
        row.submitted.at.isoformat() if row.submitted else "",
        row.due.isoformat() if row.due else "",
        describe(lateness.late_by) if lateness and lateness.late_by else "",
        score(row.penalty),
        score(row.final),
        score(row.max_score),
        row.rule,
    ]


def audit(book: Book, *, inputs: dict[str, str]) -> str:
    """JSON: the policy, the files read, and per student every step to the final score."""
    policy = book.policy
    late = policy.late
    data = {
        "schema": 1,
        "grader_version": __version__,
        "policy": {
            "source": policy.source,
            "assignment": policy.column(),
            "timezone": policy.timezone,
            "due": policy.due.isoformat() if policy.due else None,
            "hard_deadline": policy.hard_deadline.isoformat() if policy.hard_deadline else None,
            "late": None
            if late is None
            else {
                "per": late.per,
                "penalty_percent": late.penalty_percent,
                "cap_percent": late.cap_percent,
                "grace_minutes": late.grace_minutes,
            },
            "missing": policy.missing,
        },
        "inputs": inputs,
        "rows": [_audit_row(row) for row in book.rows],
        "missing": book.missing,
        "not_in_roster": book.unmatched,
        "roster_rows_without_id": book.roster_without_id,
        "times_without_result": book.times_without_result,
    }
    return json.dumps(data, indent=1) + "\n"


def _audit_row(row: Row) -> dict:
    return {
        "student": row.student,
        "submission": row.submission,
        "in_roster": row.roster is not None,
        "raw_score": row.raw_score,
        "overrides": [
            {
                "exercise": o.exercise or None,
                "score": o.score,
                "reason": o.reason,
                "by": o.by,
                "where": o.where,
            }
            for o in row.overrides
        ],
        "score_after_overrides": row.scored,
        "submitted_at": row.submitted.at.isoformat() if row.submitted else None,
        "time_from": row.submitted.source if row.submitted else None,
        "due": row.due.isoformat() if row.due else None,
        "extension": None
        if row.extension is None
        else {
            "due": row.extension.due.isoformat(),
            "reason": row.extension.reason,
            "where": row.extension.where,
        },
        "late_by_s": row.lateness.late_by.total_seconds() if row.lateness else None,
        "penalty": row.penalty,
        "final_score": row.final,
        "max_score": row.max_score,
        "rule": row.rule,
        "explanation": row.explanation,
    }
