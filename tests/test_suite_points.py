"""Each hidden suite's points add up to its exercise's points, as SPEC.md fixes them.

The course scales a suite's points to the exercise's total (``grader/grading/grade.py``), so a
suite whose ``@pytest.mark.points`` no longer add up would grade on quietly, every test
weighing a little more or less than its marker says; here it fails at once.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import fixture_expectations as expectations
import pytest

from grader import kit

SPEC_POINTS = {"ex1": 20, "ex2": 20, "ex3": 15, "ex4": 15, "ex5": 30}
"""SPEC.md, "The exercises": Points: ex1 20, ex2 20, ex3 15, ex4 15, ex5 30 = 100."""


def mismatches(suites: Path) -> list[str]:
    """A line for each exercise whose suite in ``suites`` does not add up to its points (the
    gate's ``GATE_POINTS`` among ex5's), read without importing the suites."""
    found = []
    for key, exercise in kit.EXERCISES.items():
        points = expectations.suite_tests(suites / f"test_{key}.py")
        total = sum(p for p in points.values() if p is not None)
        if total != exercise.points:
            found.append(f"test_{key}.py's points add up to {total}, not {exercise.points}")
    return found


def test_the_kit_records_spec_points():
    """Does the kit give each exercise the points SPEC.md fixes (100 in all)?"""
    assert {key: e.points for key, e in kit.EXERCISES.items()} == SPEC_POINTS
    assert sum(SPEC_POINTS.values()) == 100


def test_every_suite_adds_up_to_its_exercise_points():
    """Do the points of each hidden suite's tests add up to the exercise's points?"""
    assert mismatches(kit.SUITES_DIR) == []


@pytest.mark.parametrize(
    ("suite", "pattern", "replacement"),
    [
        ("test_ex3.py", r"points\((\d+)\)", "points(99)"),
        ("test_ex5.py", r"GATE_POINTS = \d+", "GATE_POINTS = 9"),
    ],
    ids=["a test's points", "the gate's points"],
)
def test_a_suite_that_does_not_add_up_is_named(tmp_path, suite, pattern, replacement):
    """Is a copy of the suites with one test's points changed, or the gate's, named?"""
    suites = tmp_path / "suites"
    shutil.copytree(kit.SUITES_DIR, suites, ignore=shutil.ignore_patterns("__pycache__"))
    text = (suites / suite).read_text()
    (suites / suite).write_text(re.sub(pattern, replacement, text, count=1))
    (found,) = mismatches(suites)
    assert found.startswith(f"{suite}'s points add up to ")


def test_points_that_cannot_be_read_without_running_are_refused(tmp_path):
    """Is a points marker that is neither a number nor a module constant refused, naming the
    test, rather than counted as nothing?"""
    suite = tmp_path / "test_ex1.py"
    suite.write_text("import pytest\n\n\n@pytest.mark.points(2 + 1)\ndef test_x():\n    pass\n")
    with pytest.raises(ValueError, match="test_x's points are not a number"):
        expectations.suite_tests(suite)
