"""The CIFAR-10 accuracy gate end to end, through ``grader run``.

By default, cheap: one epoch on a small prepared slice (2,000 training and 500 test images, drawn
evenly over the classes from the real prepared data when it is there, else synthetic), checking
the gate test's status, feedback and metrics for a pass, a miss of the threshold and a miss of the
time limit. Marked ``slow`` (``make test-slow``): the full gate with the default CPU recipe on the
real data, on the reference (must pass) and on the four typical training bugs of
``tests/fixtures/submissions/`` (each must fail). Figures: bench/results/GATE.md.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import grader, index_tests, json_results

from grader import data, gate

GATE = "test_accuracy_gate"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "submissions"
GATE_BUGS = (
    "bug_no_normalize",
    "bug_no_zero_grad",
    "bug_step_before_backward",
    "bug_train_loader_not_shuffled",
)
CPU = gate.RECIPES["cpu"]


def _slice(images: np.ndarray, labels: np.ndarray, per_class: int, rng) -> tuple:
    """``per_class`` images of each class, in a random order (the cache is sorted by class)."""
    picks = [rng.choice(np.flatnonzero(labels == k), per_class, replace=False) for k in range(10)]
    order = rng.permutation(np.concatenate(picks))
    return np.ascontiguousarray(images[order]), labels[order]


@pytest.fixture(scope="module")
def small_root(tmp_path_factory) -> Path:
    """A prepared data root with 200 training and 50 test images per class."""
    rng = np.random.default_rng(0)
    try:
        splits = {s: data.load_split(data.default_root(), s, mmap=True) for s in data.SPLITS}
        description = "a slice of the prepared CIFAR-10"
    except data.DataError:
        splits = {
            s: (
                rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8),
                np.repeat(np.arange(10), n // 10),
            )
            for s, n in (("train", 2000), ("test", 500))
        }
        description = "synthetic"
    per_class = {"train": 200, "test": 50}
    sliced = {s: _slice(*splits[s], per_class[s], rng) for s in data.SPLITS}
    root = tmp_path_factory.mktemp("cifar10-slice")
    return data.prepare(data.CifarArrays(sliced, description), root, progress=False)


def _gate_test(*args, timeout=900) -> dict:
    """The gate test's record from ``grader run ARGS --exercises ex5 --format json``."""
    completed = grader("run", *args, "--exercises", "ex5", "--device", "cpu", "--format", "json",
                       timeout=timeout)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    (result,) = json_results(completed)
    return index_tests(result)[GATE]


def _small_gate(root: Path, *settings: str) -> dict:
    sets = [arg for s in ("epochs=1", *settings) for arg in ("--gate-set", s)]
    return _gate_test("--reference", "--data-root", root, *sets)


def test_gate_passes_and_reports_its_metrics(small_root):
    """With threshold 0, does the reference pass and report accuracy, threshold and times?"""
    test = _small_gate(small_root, "threshold=0.0")
    assert test["status"] == "passed", test["feedback"]
    assert test["score"] == test["max_score"] > 0
    metrics = test["metrics"]
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert metrics["threshold"] == 0.0
    assert metrics["time_limit_s"] == CPU["time_limit_s"]
    assert 0.0 < metrics["train_s"] <= metrics["time_limit_s"]
    assert len(metrics["per_class"]) == 10
    assert sum(map(sum, metrics["confusion"])) == 500


def test_gate_below_threshold_fails_naming_the_accuracy(small_root):
    """With threshold 0.99, does the gate fail, naming the accuracy and each class's figure?"""
    test = _small_gate(small_root, "threshold=0.99")
    assert test["status"] == "failed" and test["score"] == 0
    accuracy = test["metrics"]["accuracy"]
    assert accuracy < 0.99 and test["metrics"]["threshold"] == 0.99
    feedback = test["feedback"]
    assert f"test accuracy {accuracy:.1%}" in feedback, feedback
    assert "below the required 99%" in feedback, feedback
    assert all(name in feedback for name in ("plane", "car", "truck")), feedback


def test_gate_past_its_time_limit_fails_for_time(small_root):
    """With a time limit of 1 ms, is training stopped and the gate failed for time?"""
    test = _small_gate(small_root, "threshold=0.0", "time_limit_s=0.001")
    assert test["status"] == "failed" and test["score"] == 0
    assert "over the course's limit" in test["feedback"], test["feedback"]
    metrics = test["metrics"]
    assert metrics["time_limit_s"] == 0.001 and metrics["train_s"] > 0.001
    assert metrics["accuracy"] is None


# --- the full gate: real data, the default CPU recipe ------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_full_gate_passes_on_the_reference():
    """Does the reference reach the CPU threshold within the CPU time limit on real CIFAR-10?"""
    test = _gate_test("--reference", timeout=1200)
    metrics = test["metrics"]
    assert test["status"] == "passed", test["feedback"]
    assert metrics["threshold"] == CPU["threshold"]
    assert metrics["accuracy"] >= metrics["threshold"]
    assert metrics["train_s"] <= metrics["time_limit_s"] == CPU["time_limit_s"]


@pytest.mark.slow
@pytest.mark.timeout(3000)
def test_full_gate_fails_the_typical_training_bugs(make_submission):
    """Do no zero_grad, step before backward, no Normalize and an unshuffled training loader
    each fail the full gate (graded as one batch)?"""
    bugs = list(GATE_BUGS)
    assert len(bugs) == 4
    for bug in bugs:
        files = {p.name: p.read_text() for p in (FIXTURES / bug).glob("ex*.py")}
        batch = make_submission(f"batch/{bug}", replace=files).parent
    completed = grader("run", batch, "--exercises", "ex5", "--device", "cpu", "--format", "json",
                       timeout=3000)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    results = {r["submission"]: index_tests(r)[GATE] for r in json_results(completed)}
    assert sorted(results) == bugs
    for bug, test in results.items():
        accuracy = test["metrics"].get("accuracy")
        assert test["status"] == "failed", f"{bug} passed the gate: {test['metrics']}"
        assert accuracy is None or math.isfinite(accuracy) and accuracy < CPU["threshold"], bug
