"""An nbgrader course folder: ``source/<assignment>/exN_*.ipynb``, one notebook per exercise.

Each notebook holds the reference solution in a solution cell (its ``### BEGIN SOLUTION``
blocks are nbgrader's own markers, so ``nbgrader generate_assignment`` makes the student
version), then one autograded, locked test cell per public test, with the exercise's
points split over them. The last test cell of each exercise is hidden (``### BEGIN HIDDEN
TESTS``): students see that it exists, not what it checks, until it is graded. ex5 imports
ex4's ``Net``; its notebook gets the stub ``Net`` (layers only) as a read-only given cell.
The sandboxed hidden suites stay with ``grader run``: nbgrader runs notebooks in its kernel.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from grader.kit import EXERCISES, EXERCISES_DIR, SOLUTIONS_DIR, Exercise

ASSIGNMENT = "pytorch"
GIVEN_BY_STUB = {"test_parameter_count"}
"""Public tests that pass on the untouched stub (ex4's layers are given): each is graded in
one cell with the test before it, so it earns nothing on its own."""
COURSE_ID = "torch-course"
CONFIG = f"""\
# Written by `grader export nbgrader`.
c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.course_id = {COURSE_ID!r}
c.ExecutePreprocessor.timeout = 300
"""


def _meta(grade_id: str, *, solution=False, grade=False, locked=True, points=None) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _cell(kind: str, source: str, metadata: dict) -> dict:
    cell_id = metadata["nbgrader"]["grade_id"].replace("_", "-")
    cell = {"cell_type": kind, "id": cell_id, "metadata": metadata, "source": source.strip("\n")}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def split_points(total: float, count: int) -> list[float]:
    """``total`` over ``count`` cells, whole points where they divide, summing exactly."""
    if count == 0:
        return []
    if float(total).is_integer():
        base, extra = divmod(int(total), count)
        return [base + (1 if i < extra else 0) for i in range(count)]
    return [round(total / count, 4)] * (count - 1) + [
        round(total - round(total / count, 4) * (count - 1), 4)
    ]


def public_tests(exercise: Exercise) -> tuple[list[str], list[tuple[str, str]]]:
    """The public test module's imports (not the exercise's own), and per test cell its name
    and source: the test function(s) and their calls."""
    path = SOLUTIONS_DIR / "tests" / f"test_{exercise.module}.py"
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    imports, tests = [], []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            if not (
                isinstance(node, ast.ImportFrom)
                and node.module in {e.module for e in EXERCISES.values()}
            ):
                imports.append(ast.get_source_segment(text, node))
        elif isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            source = ast.get_source_segment(text, node)
            if node.name in GIVEN_BY_STUB and tests:
                name, before = tests[-1]
                tests[-1] = (name, f"{before}\n\n\n{source}\n\n\n{node.name}()")
            else:
                tests.append((node.name, f"{source}\n\n\n{node.name}()"))
    return imports, tests


def notebook(exercise: Exercise, points: float) -> dict:
    solution = (SOLUTIONS_DIR / exercise.filename).read_text(encoding="utf-8")
    cells = [
        _cell(
            "markdown",
            f"# {exercise.key}: {exercise.title} ({points:g} points)\n\n"
            "Fill in every `YOUR CODE HERE`, then run all cells: the test cells below check "
            "your work (the hidden one is revealed when it is graded).",
            _meta(f"{exercise.key}_intro"),
        )
    ]
    if exercise.key == "ex5":
        given = (EXERCISES_DIR / "ex4_net.py").read_text(encoding="utf-8")
        cells.append(
            _cell(
                "code",
                "# Given: the network of exercise 4 (its layers).\n" + given,
                _meta("ex5_given_net"),
            )
        )
        solution = solution.replace("from ex4_net import Net\n", "")
    cells.append(
        _cell("code", solution, _meta(f"{exercise.key}_solution", solution=True, locked=False))
    )
    imports, tests = public_tests(exercise)
    for index, ((name, source), share) in enumerate(
        zip(tests, split_points(points, len(tests)), strict=True)
    ):
        body = "\n".join(imports) + f"\n\n\n{source}"
        if index == len(tests) - 1 and len(tests) > 1:
            body = f"### BEGIN HIDDEN TESTS\n{body}\n### END HIDDEN TESTS"
        cells.append(_cell("code", body, _meta(f"{exercise.key}_{name}", grade=True, points=share)))
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def build(dest: Path, course) -> Path:
    """Write ``dest/nbgrader_config.py`` and ``dest/source/<ASSIGNMENT>/*.ipynb``."""
    source = dest / "source" / ASSIGNMENT
    source.mkdir(parents=True, exist_ok=True)
    (dest / "nbgrader_config.py").write_text(CONFIG)
    for exercise in EXERCISES.values():
        data = notebook(exercise, course.points[exercise.key])
        (source / f"{exercise.module}.ipynb").write_text(json.dumps(data, indent=1) + "\n")
    return dest
