"""Gradescope's autograder ``results.json``, as its documented specification defines it.

Top level: ``score``, ``execution_time`` (seconds), ``output``, ``visibility``,
``stdout_visibility``, ``extra_data``, ``tests`` and ``leaderboard``. Each test: ``score``,
``max_score``, ``status`` (``passed`` or ``failed``), ``name``, ``number``, ``output``,
``tags``, ``visibility`` (``hidden``, ``after_due_date``, ``after_published``, ``visible``),
``extra_data``. The gate's accuracy is a leaderboard entry. Students read it: its words are in
the result's language.
"""

from __future__ import annotations

import math

from grader import i18n
from grader.i18n import N_, _
from grader.results.model import GradedTest, SubmissionResult

VISIBILITY = {"public": "visible", "hidden": "hidden", "after_due_date": "after_due_date"}
STATUS_WORDS = {"failed": N_("failed"), "timeout": N_("timeout"), "error": N_("error")}
"""A test's status as the output says it."""


def _output(test: GradedTest) -> str:
    if test.status == "passed":
        return ""
    if test.status == "skipped":
        return _("not graded: {error}", error=test.feedback)
    status = _(STATUS_WORDS.get(test.status, test.status))
    return (
        _("{status}: {feedback}", status=status, feedback=test.feedback)
        if test.feedback
        else status
    )


def _finite(value):
    return value if not isinstance(value, float) or math.isfinite(value) else None


def _test(test: GradedTest, number: str) -> dict:
    return {
        "score": test.score,
        "max_score": test.max_score,
        "status": "passed" if test.status == "passed" else "failed",
        "name": f"{test.exercise}: {test.name}",
        "number": number,
        "output": _output(test),
        "output_format": "text",
        "tags": [test.exercise],
        "visibility": VISIBILITY[test.visibility],
        "extra_data": {"status": test.status, "duration_s": test.duration_s},
    }


def leaderboard(result: SubmissionResult) -> list[dict]:
    metrics = result.gate_metrics()
    if metrics.get("accuracy") is None:
        return []
    board = [{"name": _("Accuracy"), "value": round(metrics["accuracy"], 4), "order": "desc"}]
    if metrics.get("train_s") is not None:
        board.append({"name": _("Training time (s)"), "value": metrics["train_s"], "order": "asc"})
    return board


def results_json(result: SubmissionResult) -> dict:
    """Gradescope's ``results.json`` for ``result``, in its language."""
    language = result.language if result.language in i18n.LANGUAGES else i18n.DEFAULT
    with i18n.using(language):
        return _results_json(result)


def _results_json(result: SubmissionResult) -> dict:
    exercise_numbers = {key: i for i, key in enumerate(result.exercises, 1)}
    tests, counters = [], dict.fromkeys(result.exercises, 0)
    for test in result.tests:
        counters[test.exercise] = counters.get(test.exercise, 0) + 1
        number = f"{exercise_numbers.get(test.exercise, 0)}.{counters[test.exercise]}"
        tests.append(_test(test, number))
    lines = [
        f"{key}: {e.score:g}/{e.max_score:g}" + (f" ({e.message})" if e.message else "")
        for key, e in result.exercises.items()
    ]
    if result.ungraded_points:
        lines.append(_("{points:g} points not graded in this run", points=result.ungraded_points))
    lines.extend(_("warning: {note}", note=w) for w in result.warnings)
    shown = {t["visibility"] for t in tests}
    data = {
        "score": result.score,
        "execution_time": int(math.ceil(result.duration_s)),
        "output": "\n".join(lines),
        "output_format": "text",
        "visibility": shown.pop() if len(shown) == 1 else "visible",
        "stdout_visibility": "hidden",
        "extra_data": {
            "submission": result.submission,
            "max_score": result.max_score,
            "grader_version": result.grader_version,
            "device": result.device,
            "isolation": result.isolation,
            "sandbox": result.sandbox,
        },
        "tests": tests,
    }
    board = leaderboard(result)
    if board:
        data["leaderboard"] = [{k: _finite(v) for k, v in e.items()} for e in board]
    return data
