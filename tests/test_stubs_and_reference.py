"""The hidden suites against the two ends of the scale: the reference and the untouched stubs.

``grader run --reference`` must earn every point it grades (92, the gate's 8 ungraded under
``--no-gate``); ``grader run exercises`` (the stubs as released) must earn nothing, and every
failed test must tell the student what to do. Both runs go side by side, in subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXERCISES = ("ex1", "ex2", "ex3", "ex4", "ex5")
GATE = "test_accuracy_gate"
RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, list[dict]]]:
    """``reference`` and ``stubs``: each run's process and its JSON results."""
    cwd = tmp_path_factory.mktemp("runs")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    grader = [sys.executable, "-m", "grader.cli", "run", "--no-gate", "--format", "json"]
    commands = {
        "reference": [*grader, "--reference"],
        "stubs": [*grader, str(REPO / "exercises")],
    }
    started = {
        key: subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for key, command in commands.items()
    }
    out = {}
    for key, process in started.items():
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
        completed = subprocess.CompletedProcess(commands[key], process.returncode, stdout, stderr)
        out[key] = (completed, [json.loads(line) for line in stdout.splitlines() if line.strip()])
    return out


def one_result(runs, key: str) -> dict:
    completed, results = runs[key]
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert len(results) == 1, completed.stdout
    return results[0]


def test_reference_passes_everything_but_the_ungraded_gate(runs):
    """Does the reference pass every hidden test, with only the gate skipped (not graded)?"""
    result = one_result(runs, "reference")
    not_passed = {t["name"]: t["status"] for t in result["tests"] if t["status"] != "passed"}
    assert not_passed == {GATE: "skipped"}, not_passed
    gate = next(t for t in result["tests"] if t["name"] == GATE)
    assert gate["exercise"] == "ex5" and gate["max_score"] == 8 and gate["score"] == 0
    assert "--no-gate" in gate["feedback"]


def test_reference_scores_92_with_8_points_ungraded(runs):
    """Is the reference's score 92 of 100, every exercise full, the gate's 8 points ungraded?"""
    result = one_result(runs, "reference")
    assert result["score"] == 92 and result["max_score"] == 100
    maxima = {"ex1": 20, "ex2": 20, "ex3": 15, "ex4": 15, "ex5": 30}
    for key, exercise in result["exercises"].items():
        ungraded = 8 if key == "ex5" else 0
        assert exercise["max_score"] == maxima[key]
        assert exercise["ungraded_points"] == ungraded
        assert exercise["score"] == maxima[key] - ungraded
    assert set(result["exercises"]) == set(EXERCISES)


def test_every_exercise_has_at_least_four_pointed_tests(runs):
    """Does each hidden suite grade its exercise with at least 4 tests that carry points?"""
    result = one_result(runs, "reference")
    pointed = Counter(t["exercise"] for t in result["tests"] if t["max_score"])
    assert all(pointed[ex] >= 4 for ex in EXERCISES), pointed
    for ex in EXERCISES:
        points = sum(t["max_score"] for t in result["tests"] if t["exercise"] == ex)
        assert points == result["exercises"][ex]["max_score"], ex


def test_stubs_score_zero(runs):
    """Do the released stubs, untouched, score 0 in every exercise?"""
    result = one_result(runs, "stubs")
    assert result["score"] == 0
    assert set(result["exercises"]) == set(EXERCISES)
    assert all(exercise["score"] == 0 for exercise in result["exercises"].values())


def test_stub_failures_say_what_to_do(runs):
    """Does every failed test of the stubs say which function is not written yet?"""
    result = one_result(runs, "stubs")
    graded = [t for t in result["tests"] if t["max_score"] and t["name"] != GATE]
    assert graded
    for test in graded:
        assert test["status"] == "failed", test  # the student's to fix; "error" is the grader's
        assert test["score"] == 0
        assert "is not written yet" in test["feedback"], test
        assert "replace this line with your code" in test["feedback"], test
