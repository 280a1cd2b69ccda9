"""The class report's page: ``index.html`` from the figures, with its pictures inline.

The template is ``grader/results/templates/report.html``, rendered with autoescape on
(:mod:`grader.results.pages`): a student's feedback, warnings and name are text wherever they
appear. The page loads nothing (its Content-Security-Policy forbids every load), runs no
script, and stays readable for a class of 500: long lists of students are folded, the heat
map gives each student a row as tall as the page allows.
"""

from __future__ import annotations

from urllib.parse import quote

from grader.results import pages
from grader.results.report import charts

CAUSES_SHOWN = 5
"""Causes of a test's failures listed on the page (report.json has them all)."""
TEXT_SHOWN = 600
"""Characters of a message shown (report.json has it whole)."""


def _colour(exercise: str, exercises: list[str]) -> str:
    index = exercises.index(exercise) if exercise in exercises else len(exercises)
    return charts.EXERCISE_COLOURS[index % len(charts.EXERCISE_COLOURS)]


def _score_charts(figures: dict) -> dict:
    total = figures["scores"]["total"]
    shown = {
        "total": charts.histogram(
            total["histogram"]["counts"],
            total["histogram"]["edges"],
            title="totals",
            box=total,
            width=620,
            height=220,
        )
    }
    for key, summary in figures["scores"]["exercises"].items():
        shown[key] = charts.histogram(
            summary["histogram"]["counts"],
            summary["histogram"]["edges"],
            title=f"{key} scores",
            box=summary,
            width=300,
            height=150,
        )
    return shown


def _test_charts(figures: dict) -> dict:
    exercises = list(figures["exercises"])
    rows, points = [], []
    for test in figures["tests"]:
        colour = _colour(test["exercise"], exercises)
        label = f"{test['exercise']} {test['name']}"
        tip = f"{label}: {test['passed']} of {test['graded']} passed"
        rows.append((label, test["pass_rate"], colour, tip))
        if test["pass_rate"] is not None:
            r = test["discrimination"]
            flagged = "; ".join(test["flags"])
            tip = f"{label}: {test['pass_rate']:.0%} passed, discrimination " + (
                f"{r:+.2f}" if r is not None else "none"
            )
            points.append(
                (
                    test["pass_rate"],
                    r,
                    charts.RED if test["flags"] else colour,
                    tip + (f" ({flagged})" if flagged else ""),
                )
            )
    return {
        "pass_rates": charts.bars(rows, title="pass rate of every test, lowest first"),
        "quality": charts.scatter(
            points,
            title="pass rate and discrimination of every test",
            x_label="pass rate",
            y_label="discrimination",
            line=0.0,
        ),
    }


def _at(values: list, index: int):
    return values[index] if index < len(values) else None


def _gate_charts(gate: dict) -> dict:
    accuracy = gate["accuracy"]["histogram"]
    time = gate["time"]
    unit = "x" if time["measure"].startswith("ratio") else " s"
    shown = {
        "accuracy": charts.histogram(
            accuracy["counts"],
            accuracy["edges"],
            title="test accuracy of every student's training",
            markers=((gate["threshold"], "threshold", charts.RED),),
            width=620,
        ),
        "time": charts.histogram(
            time["histogram"]["counts"],
            time["histogram"]["edges"],
            title="training cost",
            markers=((time["limit"], "limit", charts.RED),),
            width=620,
            unit=unit,
        ),
        "per_class": None,
        "confusion": None,
    }
    order, names = gate["weakest_first"], gate["classes"]
    if gate["per_class"]:
        rows = [
            (row["submission"], [_at(row["per_class"], k) for k in order])
            for row in gate["per_class"]
        ]
        shown["per_class"] = charts.heatmap(
            rows,
            [names[k] for k in order],
            title="per-class accuracy of every student",
            row_title="students, lowest accuracy first",
            column_title="classes, weakest first",
        )
    if gate["confusion"]:
        matrix = gate["confusion"]
        shares, tips = [], []
        for i, row in enumerate(matrix):
            total = sum(row) or 1
            shares.append((names[i] if i < len(names) else str(i), [v / total for v in row]))
            tips.append(
                [
                    f"true {shares[-1][0]}, predicted {names[j] if j < len(names) else j}: "
                    f"{v} images ({v / total:.1%} of that class)"
                    for j, v in enumerate(row)
                ]
            )
        shown["confusion"] = charts.heatmap(
            shares,
            names,
            title="the class's confusion matrix",
            colour=charts.blues,
            numbers=True,
            tips=tips,
            row_title="true class",
            column_title="predicted class",
        )
    return shown


def render(figures: dict, *, feedback: str | None, similarity: str | None) -> str:
    """The page. ``feedback`` is the relative path of the students' feedback pages (their
    names link there), ``similarity`` that of ``similarity.html``; None where absent."""

    def student(name: str) -> str | None:
        return f"{feedback}/{quote(name)}.html" if feedback else None

    return pages.render(
        "report.html",
        data=figures,
        scores=_score_charts(figures),
        tests=_test_charts(figures),
        gate=_gate_charts(figures["gate"]) if figures["gate"] else None,
        similarity_href=similarity,
        student=student,
        causes_shown=CAUSES_SHOWN,
        text_shown=TEXT_SHOWN,
        failing=[t for t in figures["tests"] if t["graded"] > t["passed"]],
        quality=sorted(
            figures["tests"],
            key=lambda t: (not t["flags"], t["discrimination"] is None, t["discrimination"] or 0),
        ),
    )
