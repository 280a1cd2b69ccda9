"""The CIFAR-10 accuracy gate end to end, through ``grader run``.

By default, cheap: one epoch on a small prepared slice (2,000 training and 500 test images, drawn
evenly over the classes from the real prepared data when it is there, else synthetic), checking
the gate test's status, feedback and metrics for a pass, a miss of the threshold and a miss of the
time limit. Marked ``slow`` (``make test-slow``): the full gate with the default CPU recipe on the
real data, on the reference (must pass) and on the bug fixtures of
``tests/fixtures/submissions/`` whose ``expected.toml`` says how the gate ends for them
(``full_gate``: the four typical training bugs fail). Figures: bench/results/GATE.md.
"""

from __future__ import annotations

import math
from pathlib import Path

import fixture_expectations as expectations
import numpy as np
import pytest
from conftest import fixture_submission, grader, index_tests, json_results

from grader import data
from grader.course import recipes

GATE = "test_accuracy_gate"


def full_gate(outcome: str) -> list[str]:
    """The bug fixtures whose ``expected.toml`` says how the full gate ends for them."""
    bugs = expectations.of(expectations.Bug)
    return [name for name, bug in bugs.items() if bug.full_gate == outcome]


GATE_BUGS = full_gate("fails")
CPU = recipes.RECIPES["cpu"]


def _slice(images: np.ndarray, labels: np.ndarray, per_class: int, rng) -> tuple:
    """``per_class`` images of each class, in a random order (the cache is sorted by class)."""
    picks = [rng.choice(np.flatnonzero(labels == k), per_class, replace=False) for k in range(10)]
    order = rng.permutation(np.concatenate(picks))
    return np.ascontiguousarray(images[order]), labels[order]


def prepared_slice(root: Path) -> Path:
    """A prepared data root in ``root`` with 200 training and 50 test images per class."""
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
    return data.prepare(data.CifarArrays(sliced, description), root, progress=False)


@pytest.fixture(scope="module")
def small_root(tmp_path_factory) -> Path:
    """A prepared data root with 200 training and 50 test images per class."""
    return prepared_slice(tmp_path_factory.mktemp("cifar10-slice"))


def _gate_test(*args, timeout=900) -> dict:
    """The gate test's record from ``grader run ARGS --exercises ex5 --format json``."""
    completed = grader("run", *args, "--exercises", "ex5", "--device", "cpu", "--format", "json",
                       timeout=timeout)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    (result,) = json_results(completed)
    return index_tests(result)[GATE]


def _gate_batch(tmp_path: Path, names, timeout: int) -> dict[str, dict]:
    """The fixtures ``names`` graded as one batch with the full gate: name -> gate test."""
    batch = tmp_path / "batch"
    for name in names:
        fixture_submission(name, batch / name)
    completed = grader("run", batch, "--exercises", "ex5", "--device", "cpu", "--format", "json",
                       timeout=timeout)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    return {r["submission"]: index_tests(r)[GATE] for r in json_results(completed)}


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
    assert metrics["time_basis"] == "cpu" and metrics["time_factor"] == CPU["time_factor"]
    assert metrics["time_limit_s"] == pytest.approx(
        metrics["reference_s"] * CPU["time_factor"], abs=0.01
    )
    assert 0.0 < metrics["train_cpu_s"] <= metrics["time_limit_s"]
    assert 0.0 < metrics["time_ratio"] < CPU["time_factor"] and metrics["train_s"] > 0
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


def test_gate_over_its_factor_is_stopped_and_says_the_ratio(small_root):
    """With a factor of a hundredth of the reference's cost, is training stopped as soon as
    it passes it, the feedback giving the ratio and the limit?"""
    test = _small_gate(small_root, "threshold=0.0", "time_factor=0.01")
    assert test["status"] == "failed" and test["metrics"]["accuracy"] is None
    assert "the reference's CPU time on this machine (limit 0.01x)" in test["feedback"]
    assert "was stopped at" in test["feedback"], test["feedback"]


def test_calibration_is_measured_once_and_kept_with_the_data(small_root):
    """Is the reference's cost measured once per machine, kept beside the data, reused by the
    next run, and measured again by `grader calibrate`?"""
    import json

    first = grader(
        "calibrate", "--device", "cpu", "--data-root", small_root, "--gate-set", "epochs=1"
    )
    assert first.returncode == 0, first.stderr
    assert "the reference trains in" in first.stdout and "calibrating" in first.stderr
    stored = json.loads((small_root / "calibration.json").read_text())
    (entry,) = [e for e in stored.values() if e["machine"]["recipe"]["epochs"] == 1]
    assert entry["cpu_s"] > 0 and entry["machine"]["cores"] >= 1
    completed = grader("run", "--reference", "--exercises", "ex5", "--device", "cpu",
                       "--data-root", small_root, "--gate-set", "epochs=1", "--format",
                       "json")  # fmt: skip
    assert "calibrating" not in completed.stderr
    (result,) = json_results(completed)
    assert index_tests(result)[GATE]["metrics"]["reference_s"] == entry["cpu_s"]


def test_a_calibration_that_cannot_run_falls_back_to_seconds_and_says_so(small_root):
    """When the reference cannot train here, is the absolute limit used, with a warning?"""
    completed = grader("run", "--reference", "--exercises", "ex5", "--device", "cpu",
                       "--data-root", small_root, "--gate-set", "epochs=1", "--gate-set",
                       "optimizer=lbfgs", "--format", "json")  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    (result,) = json_results(completed)
    assert any("absolute" in w for w in result["warnings"]), result["warnings"]
    assert index_tests(result)[GATE]["metrics"]["time_basis"] == "wall"


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
    assert metrics["time_basis"] == "cpu" and metrics["time_factor"] == CPU["time_factor"]
    assert metrics["train_cpu_s"] <= metrics["time_limit_s"]


@pytest.mark.slow
@pytest.mark.timeout(3000)
def test_full_gate_fails_the_typical_training_bugs(tmp_path):
    """Do no zero_grad, step before backward, a Normalize in training only and an unshuffled
    training loader each fail the full gate (graded as one batch)?"""
    bugs = list(GATE_BUGS)
    results = _gate_batch(tmp_path, bugs, 3000)
    assert sorted(results) == sorted(bugs)
    for bug, test in results.items():
        accuracy = test["metrics"].get("accuracy")
        assert test["status"] == "failed", f"{bug} passed the gate: {test['metrics']}"
        assert accuracy is None or math.isfinite(accuracy) and accuracy < CPU["threshold"], bug


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("name", full_gate("fails on time"))
def test_full_gate_fails_a_slow_pipeline_on_time(tmp_path, name):
    """Does a pipeline several times slower than the reference (a Normalize written as a
    Python loop over every value) fail the full gate on time, the feedback saying by how much?"""
    slow = fixture_submission(name, tmp_path / "slow")
    test = _gate_test(slow, timeout=1800)
    assert test["status"] == "failed" and test["metrics"]["accuracy"] is None
    assert "the reference's CPU time on this machine (limit" in test["feedback"], test["feedback"]
    # stopped at the limit, the CPU counted is the limit itself (to the clock's resolution)
    stopped = "was stopped at" in test["feedback"]
    ratio = test["metrics"]["time_ratio"]
    assert ratio >= CPU["time_factor"] if stopped else ratio > CPU["time_factor"], test["feedback"]


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_full_gate_passes_what_ex3_and_ex5_already_charge(tmp_path):
    """Do a hard-coded tutorial Normalize (charged in ex3) and a train_one_epoch that returns
    nothing (charged in ex5) pass the full gate, whose training they do right?"""
    names = full_gate("passes")
    results = _gate_batch(tmp_path, names, 2400)
    for name in names:
        assert results[name]["status"] == "passed", (name, results[name]["feedback"])
