"""Broken submissions: each gets a clear answer, costs only its own exercise, and the batch goes on.

Every ``tests/fixtures/submissions/broken_*`` folder holds one malformed exercise file, or
the edits of the reference that make one (a syntax error, an import error, a wrong signature,
a missing return, a wrong shape or type, a binary file, an invalid notebook, an empty file),
and its ``expected.toml``. With them in the same batch: a missing file, an empty submission,
bad zips (``..`` and absolute paths, a symlink, a compression bomb, not a zip), two
submissions with one id and a folder name that is not UTF-8. Two ``grader run`` batches (by
the exercises they touch) go side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import fixture_expectations as expectations
import pytest
from conftest import (
    GRADER,
    REPO,
    describe,
    fixture_submission,
    full_marks,
    write_zip,
)

EX1 = (REPO / "solutions" / "ex1_gradients.py").read_bytes()
CASES = expectations.of(expectations.Broken)
"""Each broken_* fixture: the exercise it costs, the tests that fail and what they say."""
BATCH_EXERCISES = expectations.BROKEN_BATCHES
# Submissions that cannot be read at all: the id they get and a word of the reason.
UNREADABLE = {
    "zip_dotdot": "unsafe path",
    "zip_absolute": "unsafe path",
    "zip_symlink": "symbolic link",
    "zip_bomb": "compression bomb",
    "zip_not_a_zip": "not a valid zip",
}


def build_loading_cases(folder: Path) -> None:
    """Missing file, empty submission, bad zips, a duplicate id, a non-UTF-8 name."""
    missing = folder / "missing_ex1"
    fixture_submission("broken_empty_file", missing)
    (missing / "ex1_gradients.py").unlink()
    (folder / "empty").mkdir()
    write_zip(folder / "zip_dotdot.zip", {"../ex1_gradients.py": EX1})
    write_zip(folder / "zip_absolute.zip", {"/home/ex1_gradients.py": EX1})
    write_zip(folder / "zip_symlink.zip", {}, symlinks=[("ex1_gradients.py", "/etc/passwd")])
    write_zip(folder / "zip_bomb.zip", {"ex1_gradients.py": b"\n" * (6 * 1024 * 1024)})
    (folder / "zip_not_a_zip.zip").write_bytes(b"PK\x03\x04 truncated")
    (folder / "alice").mkdir()
    (folder / "alice" / "ex1_gradients.py").write_bytes(EX1)
    write_zip(folder / "alice.zip", {"alice/ex1_gradients.py": EX1})
    odd = Path(os.fsdecode(bytes(folder) + b"/caf\xe9"))
    odd.mkdir()
    (odd / "ex1_gradients.py").write_bytes(EX1)


def start(folder: Path, exercises: str) -> subprocess.Popen:
    args = [*GRADER, "run", folder, "--no-gate", "--format", "json", "--exercises", exercises]
    return subprocess.Popen(
        list(map(str, args)), cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """batch -> (exit status, stderr, {submission id: result})."""
    running = {}
    for batch, exercises in BATCH_EXERCISES.items():
        folder = tmp_path_factory.mktemp(f"broken_{batch}")
        for name, case in CASES.items():
            if case.batch == batch:
                fixture_submission(name, folder / name)
        if batch == "a":
            build_loading_cases(folder)
        running[batch] = start(folder, exercises)
    graded = {}
    for batch, process in running.items():
        out, err = process.communicate(timeout=900)
        results = [json.loads(line) for line in out.splitlines() if line.strip()]
        graded[batch] = (process.returncode, err, {r["submission"]: r for r in results})
    return graded


@pytest.mark.parametrize("batch", sorted(BATCH_EXERCISES))
def test_batch_is_never_aborted(graded, batch):
    """Does each batch exit 0 with a result for every submission in it?"""
    returncode, err, results = graded[batch]
    assert returncode == 0, err[-3000:]
    expected = {name for name, case in CASES.items() if case.batch == batch}
    assert expected <= set(results)


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_file_fails_with_file_and_cause_and_costs_only_its_exercise(graded, name):
    """Do the failing tests name the file and the cause (line numbers for syntax errors),
    with every other graded exercise at full marks?"""
    case = CASES[name]
    result = graded[case.batch][2][name]
    tests = [t for t in result["tests"] if t["exercise"] == case.exercise and t["max_score"]]
    failing = [t for t in tests if t["status"] != "passed"]
    names = {t["name"] for t in failing}
    if case.fails is None:
        assert names == {t["name"] for t in tests}, describe(result)
    else:
        assert set(case.fails) <= names, describe(result)
    for test in failing if case.fails is None else [t for t in failing if t["name"] in case.fails]:
        assert all(word in test["feedback"] for word in case.words), describe(result)
    assert (
        result["exercises"][case.exercise]["score"]
        < result["exercises"][case.exercise]["max_score"]
    )
    for key, exercise in result["exercises"].items():
        if key != case.exercise:
            assert full_marks(exercise), f"{key} lost points\n{describe(result)}"


def test_missing_file_scores_zero_there_only(graded):
    """Does a missing ex1_gradients.py cost ex1 alone, saying the file is not there?"""
    result = graded["a"][2]["missing_ex1"]
    ex1 = [t for t in result["tests"] if t["exercise"] == "ex1" and t["max_score"]]
    assert all("ex1_gradients.py is not in the submission" in t["feedback"] for t in ex1)
    assert result["exercises"]["ex1"]["score"] == 0
    assert full_marks(result["exercises"]["ex2"]) and full_marks(result["exercises"]["ex3"])


def test_empty_submission_scores_zero_with_a_reason(graded):
    """Does an empty folder score 0, each exercise saying its file is missing?"""
    result = graded["a"][2]["empty"]
    assert result["score"] == 0
    assert all(
        "is not in the submission" in t["feedback"] for t in result["tests"] if t["max_score"]
    )


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_unreadable_zip_is_a_clear_per_submission_error(graded, name):
    """Is a dangerous or broken zip a 0 with the reason, while the batch goes on?"""
    result = graded["a"][2][name]
    assert result["score"] == 0
    reason = UNREADABLE[name]
    assert any(reason in warning for warning in result["warnings"]), result["warnings"]
    for key, exercise in result["exercises"].items():
        assert exercise["score"] == 0 and reason in exercise["message"], (key, exercise)


def test_duplicate_ids_are_both_graded(graded):
    """Are ``alice/`` and ``alice.zip`` both graded, as alice and alice-2, and is that said?"""
    _, err, results = graded["a"]
    assert results["alice"]["exercises"]["ex1"]["score"] == 20
    assert results["alice-2"]["exercises"]["ex1"]["score"] == 20
    assert "graded as 'alice-2'" in err


def test_non_utf8_name_is_graded_under_a_safe_id(graded):
    """Is a folder whose name is not UTF-8 graded, under a printable id?"""
    assert graded["a"][2]["caf_"]["exercises"]["ex1"]["score"] == 20
