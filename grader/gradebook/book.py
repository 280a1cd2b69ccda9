"""One row per student: the stored result, the staff's overrides and extension, the
submission time and the course policy, giving a final score and the rule that produced it.
Nothing here changes a stored result."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from grader.gradebook.policy import Lateness, Policy, assess, describe, final_score, rounded
from grader.gradebook.students import Extension, Override, Roster
from grader.gradebook.times import Submitted
from grader.results.model import SubmissionResult


@dataclass
class Row:
    student: str
    """The roster's id (the submission's name where the roster has no such student)."""
    roster: dict[str, str] | None
    submission: str | None
    max_score: float
    raw_score: float | None
    """The stored result's score (``None``: no submission)."""
    overrides: list[Override] = field(default_factory=list)
    scored: float | None = None
    """The raw score after the overrides."""
    submitted: Submitted | None = None
    due: dt.datetime | None = None
    extension: Extension | None = None
    lateness: Lateness | None = None
    final: float | None = None
    """``None``: left blank (a roster student with no submission, ``missing = "blank"``)."""
    rule: str = ""
    explanation: str = ""

    @property
    def penalty(self) -> float:
        if self.lateness is None or self.scored is None:
            return 0
        return rounded(self.scored - self.final) if self.final is not None else 0


@dataclass
class Book:
    policy: Policy
    rows: list[Row]
    """Roster students in roster order, then submissions no roster entry matches."""
    missing: list[str]
    """Roster students without a submission."""
    unmatched: list[str]
    """Submissions no roster entry matches (they are rows, never dropped)."""
    roster_without_id: list[str]
    times_without_result: list[str] = field(default_factory=list)
    """Submissions the times source knows that have no stored result (graded at all?)."""


def build(
    results: list[SubmissionResult],
    roster: Roster,
    policy: Policy,
    *,
    times: dict[str, Submitted],
    extensions: dict[str, Extension],
    overrides: dict[str, list[Override]],
    maxima: dict[str, float],
    total: float,
) -> Book:
    by_id = {r.submission: r for r in results}
    students = list(roster.rows) + [s for s in by_id if s not in roster.rows]
    rows = [
        _row(
            student,
            roster.rows.get(student),
            by_id.get(student),
            policy,
            submitted=times.get(student),
            extension=extensions.get(student),
            overrides=overrides.get(student, []),
            maxima=maxima,
            total=total,
        )
        for student in students
    ]
    return Book(
        policy=policy,
        rows=rows,
        missing=[s for s in roster.rows if s not in by_id],
        unmatched=[s for s in by_id if s not in roster.rows],
        roster_without_id=roster.without_id,
        times_without_result=[s for s in times if s not in by_id],
    )


def _row(
    student: str,
    roster_row,
    result: SubmissionResult | None,
    policy: Policy,
    *,
    submitted: Submitted | None,
    extension: Extension | None,
    overrides: list[Override],
    maxima: dict[str, float],
    total: float,
) -> Row:
    row = Row(
        student=student,
        roster=roster_row,
        submission=result.submission if result else None,
        max_score=total,
        raw_score=result.score if result else None,
        overrides=overrides,
        submitted=submitted if result else None,
        extension=extension,
    )
    steps = []
    if result is not None:
        steps.append(f"raw score {rounded(result.score)} of {rounded(total)} ({result.submission})")
    scored = _with_overrides(result, overrides, maxima, steps)
    row.scored = scored
    if scored is None:
        row.rule = "no_submission"
        row.final = 0 if policy.missing == "zero" else None
        steps.append(f"no submission: {'0' if row.final == 0 else 'left blank'}")
        row.explanation = "; ".join(steps)
        return row
    row.due = extension.due if extension else policy.due
    hard = extension.hard_deadline if extension else policy.hard_deadline
    row.lateness = assess(
        row.submitted.at if row.submitted else None,
        row.due,
        max_score=total,
        late=policy.late,
        hard_deadline=hard,
    )
    row.final = final_score(scored, row.lateness)
    row.rule = row.lateness.rule
    steps.append(_lateness_text(row, policy, hard))
    steps.append(f"final {rounded(row.final)}")
    row.explanation = "; ".join(s for s in steps if s)
    return row


def _with_overrides(result, overrides: list[Override], maxima, steps) -> float | None:
    """The raw score with the overrides in place (an exercise's replaces that exercise's
    score; a whole-score one replaces the total after them)."""
    if result is None and not overrides:
        return None
    scores = (
        {k: e.score for k, e in result.exercises.items()} if result else dict.fromkeys(maxima, 0)
    )
    whole = None
    for override in overrides:
        steps.append(f"override: {override.describe()}")
        if override.exercise:
            scores[override.exercise] = override.score
        else:
            whole = override.score
    scored = whole if whole is not None else rounded(sum(scores.values()))
    if overrides:
        steps.append(f"score after overrides {rounded(scored)}")
    return scored


def _lateness_text(row: Row, policy: Policy, hard) -> str:
    lateness = row.lateness
    if row.due is None:
        return "no due date: no late policy"
    if row.submitted is None:
        return "no submission time"
    due = f"due {row.due.isoformat()}"
    if row.extension:
        due += f" ({row.extension.describe()})"
    at = f"submitted {row.submitted.at.isoformat()} ({row.submitted.source}), {due}"
    late = describe(lateness.late_by)
    if lateness.rule == "on_time":
        return f"{at}: on time"
    if lateness.rule == "grace":
        return f"{at}: {late} late, within the grace period: no penalty"
    if lateness.rule == "late_no_penalty":
        return f"{at}: {late} late; the course sets no late penalty"
    if lateness.rule == "hard_deadline":
        return f"{at}: after the hard deadline {hard.isoformat()}: no credit"
    late_policy = policy.late
    text = (
        f"{at}: {late} late, {lateness.periods} started {late_policy.per}(s) x "
        f"{late_policy.penalty_percent:g}% of {rounded(row.max_score)}"
    )
    if lateness.rule == "late_capped":
        text += f", capped at {late_policy.cap_percent:g}%"
    return f"{text} = {rounded(lateness.penalty)} off"
