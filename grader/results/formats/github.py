"""GitHub Actions: ``::error`` annotations for failed tests and a Markdown step summary."""

from __future__ import annotations

from grader.kit import EXERCISES
from grader.results.formats.table import exercise_cells, ungraded_note
from grader.results.model import SubmissionResult


def _data(text: str) -> str:
    """Escape a workflow command's message (GitHub's toolkit rules)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    """Escape a workflow command's property value (also ``:`` and ``,``)."""
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotations(results: list[SubmissionResult]) -> str:
    lines = []
    for result in results:
        for test in result.failed_tests():
            exercise = EXERCISES.get(test.exercise)
            filename = exercise.filename if exercise else test.exercise
            title = f"{result.submission} {test.exercise} {test.name} ({test.status}, "
            title += f"-{test.max_score:g})"
            lines.append(
                f"::error file={_prop(filename)},title={_prop(title)}::"
                f"{_data(test.feedback or test.status)}"
            )
    return "".join(line + "\n" for line in lines)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: no pipes, no line breaks, no raw HTML."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def summary(results: list[SubmissionResult]) -> str:
    """Markdown: a score table, then each submission's failed tests and why."""
    if not results:
        return "## Grader results\n\nNo submissions graded.\n"
    exercises = list(results[0].exercises)
    out = ["## Grader results", "", "| submission | " + " | ".join(exercises) + " | total |"]
    out.append("| --- " * (len(exercises) + 2) + "|")
    for r in results:
        cells = exercise_cells(r, exercises)
        total = f"**{r.score:g}/{r.max_score:g}**{ungraded_note(r)}"
        out.append(f"| {_cell(r.submission)} | " + " | ".join(cells) + f" | {total} |")
    for r in results:
        failed = r.failed_tests()
        notes = [f"- warning: {_cell(w)}" for w in r.warnings]
        notes += [
            f"- **{t.exercise}** `{t.name}` ({t.status}, -{t.max_score:g}): {_cell(t.feedback)}"
            for t in failed
        ]
        if notes:
            out += ["", f"### {_cell(r.submission)}", "", *notes]
    return "\n".join(out) + "\n"
