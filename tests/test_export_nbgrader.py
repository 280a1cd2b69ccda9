"""`grader export nbgrader`: a course folder that the real nbgrader generates and grades."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import grader

from grader.kit import EXERCISES

NBGRADER = [str(Path(sys.executable).parent / "nbgrader")]


def nbgrader(course: Path, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    completed = subprocess.run(
        [*NBGRADER, *args], cwd=course, env=env, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed


def test_notebooks_carry_nbgrader_cells_and_spec_points(tmp_path):
    """Does each notebook have a solution cell, locked graded test cells with SPEC's points,
    and (but ex4, with one test cell) a hidden-test block?"""
    assert grader("export", "nbgrader", tmp_path).returncode == 0
    for exercise in EXERCISES.values():
        notebook = json.loads(
            (tmp_path / "source/pytorch" / f"{exercise.module}.ipynb").read_text()
        )
        meta = [c["metadata"]["nbgrader"] for c in notebook["cells"]]
        assert sum(m["solution"] for m in meta) == 1
        graded = [m for m in meta if m["grade"]]
        assert graded and all(m["locked"] for m in graded)
        assert sum(m["points"] for m in graded) == exercise.points
        hidden = ["### BEGIN HIDDEN TESTS" in c["source"] for c in notebook["cells"]]
        assert any(hidden) == (exercise.key != "ex4")


@pytest.mark.slow
def test_generate_autograde_export_with_real_nbgrader(tmp_path):
    """Released notebooks score 0, the source ones submitted as a student 100, in grades.csv?"""
    course = tmp_path / "course"
    assert grader("export", "nbgrader", course).returncode == 0
    nbgrader(course, "generate_assignment", "pytorch")
    released = course / "release" / "pytorch"
    assert "### BEGIN HIDDEN TESTS" not in (released / "ex1_gradients.ipynb").read_text()
    assert "### BEGIN SOLUTION" not in (released / "ex1_gradients.ipynb").read_text()
    shutil.copytree(course / "source" / "pytorch", course / "submitted" / "ace" / "pytorch")
    shutil.copytree(released, course / "submitted" / "zed" / "pytorch")
    nbgrader(course, "autograde", "pytorch", "--create")
    nbgrader(course, "export")
    with (course / "grades.csv").open() as handle:
        scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(handle)}
    assert scores == {"ace": 100.0, "zed": 0.0}
