"""The ``table`` format: a score table for people, then what failed and why."""

from __future__ import annotations

from grader.results.model import SubmissionResult


def _num(value: float) -> str:
    return f"{value:g}"


def exercise_cells(result: SubmissionResult, exercises: list[str]) -> list[str]:
    """``score/max`` per exercise key (``-`` where the result lacks that exercise)."""
    cells = []
    for key in exercises:
        e = result.exercises.get(key)
        cells.append("-" if e is None else f"{_num(e.score)}/{_num(e.max_score)}")
    return cells


def ungraded_note(result: SubmissionResult) -> str:
    """`` (N not graded)`` when points were left out of the run (the gate under --no-gate)."""
    return f" ({_num(result.ungraded_points)} not graded)" if result.ungraded_points else ""


def table(results: list[SubmissionResult], *, details: bool = True) -> str:
    """A score table (one row per submission) and, below it, what failed and why."""
    if not results:
        return "no submissions graded\n"
    exercises = list(results[0].exercises)
    header = ["submission", *exercises, "total"]
    rows = []
    for r in results:
        total = f"{_num(r.score)}/{_num(r.max_score)}{ungraded_note(r)}"
        rows.append([r.submission, *exercise_cells(r, exercises), total])
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = []
    for r in results:
        for warning in r.warnings:
            notes.append(f"{r.submission}: warning: {warning}")
        skipped = [t for t in r.tests if t.status == "skipped"]
        for t in skipped:
            notes.append(f"{r.submission}: {t.exercise} {t.name}: not graded: {t.feedback}")
        if details:
            notes.extend(_failure_notes(r))
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def _failure_notes(result: SubmissionResult) -> list[str]:
    """One line per failure reason: a test's, or that of every test of an exercise that
    failed the same way."""
    notes = []
    for group in result.failure_groups():
        first = group[0]
        lost = sum(t.max_score for t in group)
        if len(group) > 1:
            names = f"{len(group)} tests"
            notes.append(f"{result.submission}: {first.exercise} ({names}, -{_num(lost)}): "
                         f"{first.feedback}")  # fmt: skip
        else:
            notes.append(
                f"{result.submission}: {first.exercise} {first.name} [{first.status}, "
                f"-{_num(lost)}]: {first.feedback}"
            )
    return notes
