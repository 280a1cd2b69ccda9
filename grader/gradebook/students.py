"""Who is in the course and what the staff decided per student: the roster, extensions
and score overrides. Each is a CSV file (or TOML, ``[[extension]]`` / ``[[override]]``
tables); every error names the file and the line."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from grader.gradebook.policy import GradebookError, Policy, parse_time, rounded, shift
from grader.gradebook.records import Record, csv_records, records

ROSTER_IDS = ("SIS Login ID", "ID number", "Email address", "id")
"""The roster column matched to submission names, unless one is chosen: Canvas's, then
Moodle's columns, then a plain ``id``."""


@dataclass
class Roster:
    id_column: str
    rows: dict[str, dict[str, str]]
    """Student id -> the roster's row (every column), in the roster's order."""
    without_id: list[str]
    """``file:line`` of rows with no id (Canvas's test student): listed, never matched."""


def read_roster(path: Path, id_column: str | None = None) -> Roster:
    """A CSV roster, e.g. Canvas's gradebook export (its ``Points Possible`` row is skipped)
    or Moodle's participants; students are matched to submissions by ``id_column``."""
    found = csv_records(path)
    header = list(found[0].fields) if found else []
    if id_column is None:
        id_column = next((name for name in ROSTER_IDS if name in header), None)
        if id_column is None:
            raise GradebookError(
                f"{path}:1: no id column ({', '.join(ROSTER_IDS)}); choose one with --roster-id"
            )
    elif found and id_column not in header:
        raise GradebookError(f"{path}:1: no column {id_column!r}; it has {', '.join(header)}")
    rows, without_id = {}, []
    for record in found:
        first = record.text(header[0])
        if first.endswith("Points Possible") or first == "Manual Posting":
            continue
        student = record.text(id_column)
        if not student:
            without_id.append(record.where)
            continue
        if student in rows:
            record.fail(f"{id_column} {student!r} is in the roster twice")
        rows[student] = {k: record.text(k) for k in header}
    return Roster(id_column, rows, without_id)


@dataclass(frozen=True)
class Extension:
    student: str
    due: dt.datetime
    """The student's own deadline."""
    hard_deadline: dt.datetime | None
    reason: str
    where: str

    def describe(self) -> str:
        reason = f": {self.reason}" if self.reason else ""
        return f"extension{reason}, {self.where}"


def read_extensions(path: Path, policy: Policy, known: set[str]) -> dict[str, Extension]:
    """Per student: ``days`` or ``hours`` after the course's due date (on its calendar), or a
    new ``due``; an optional ``reason``. The hard deadline moves as far as the due date."""
    if policy.due is None:
        raise GradebookError(f"{path}: extensions need the course's gradebook.due")
    found: dict[str, Extension] = {}
    for record in records(path, "extension", required=("student",)):
        student = _student(record, known)
        if student in found:
            record.fail(f"{student!r} has an extension already ({found[student].where})")
        given = [name for name in ("days", "hours", "due") if record.text(name)]
        if len(given) != 1:
            record.fail("give exactly one of days, hours or due")
        zone, local = policy.zone, policy.due.astimezone(policy.zone).replace(tzinfo=None)
        if given == ["due"]:
            named = zone if policy.timezone else None  # no zone: the date must carry one
            due = parse_time(record.fields["due"], f"{record.where}: due", named)
            delta = due.astimezone(zone).replace(tzinfo=None) - local
        else:
            amount = _number(record, given[0])
            delta = dt.timedelta(**{given[0]: amount})
            due = shift(policy.due, zone, delta, record.where)
        hard = policy.hard_deadline
        if hard is not None:
            hard = max(shift(hard, zone, delta, record.where), due, key=_instant)
        found[student] = Extension(student, due, hard, record.text("reason"), record.where)
    return found


@dataclass(frozen=True)
class Override:
    student: str
    exercise: str
    """An exercise key, or ``""`` for the whole assignment's score."""
    score: float
    reason: str
    by: str
    where: str

    def describe(self) -> str:
        target = self.exercise or "score"
        return f"{target} set to {rounded(self.score)} by {self.by}: {self.reason} ({self.where})"


def read_overrides(
    path: Path, known: set[str], maxima: dict[str, float], total: float
) -> dict[str, list[Override]]:
    """Regrades: ``student``, ``exercise`` (blank: the whole score), ``score``, ``reason`` and
    ``by`` (who decided). The score replaces the raw one; the late policy still applies."""
    found: dict[str, list[Override]] = {}
    required = ("student", "score", "reason", "by")
    for record in records(path, "override", required=required):
        student = _student(record, known)
        exercise = record.text("exercise")
        if exercise and exercise not in maxima:
            record.fail(f"unknown exercise {exercise!r}; known: {', '.join(maxima)}")
        for name in ("reason", "by"):
            if not record.text(name):
                record.fail(f"an override needs {name!r} (why, and who decided)")
        score = _number(record, "score")
        maximum = maxima[exercise] if exercise else total
        if score > maximum:
            record.fail(
                f"score {score:g} is above the maximum, {maximum:g} "
                f"for {exercise or 'the whole assignment'}"
            )
        earlier = [o for o in found.get(student, []) if o.exercise == exercise]
        if earlier:
            record.fail(
                f"{student!r} {exercise or 'score'} is overridden already ({earlier[0].where})"
            )
        override = Override(
            student, exercise, score, record.text("reason"), record.text("by"), record.where
        )
        found.setdefault(student, []).append(override)
    return found


def _instant(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.UTC)


def _student(record: Record, known: set[str]) -> str:
    student = record.text("student")
    if not student:
        record.fail("no student")
    if student not in known:
        record.fail(f"unknown student {student!r}: in neither the roster nor the results")
    return student


def _number(record: Record, name: str) -> float:
    value = record.fields.get(name)
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or number != number or number < 0:
        record.fail(f"{name}: expected a number >= 0, got {value!r}")
    return number
