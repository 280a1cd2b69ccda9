"""Whose fault is a probe's exception: the student's code, or the grader's own probe?

A fault of the grader's probe code is reported as ``error`` (not the student's failure);
whatever a student's code or the value it returned can have caused stays ``failed``.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from grader.grading.plan import Plan
from grader.grading.suite_runner import run_suite
from grader.inside import worker
from grader.inside.contract import KIND_GRADER, KIND_STUDENT, REPLY_KIND, SUBMISSION_ENV
from grader.inside.probes import faults
from grader.kit import EXERCISES, SOLUTIONS_DIR
from grader.sandbox import policy, workdir
from grader.submissions.loading import load, stage

STUDENT = """\
def raises():
    raise ValueError("bad input")

def returns_none():
    return None

def undefined_name():
    return not_defined_anywhere
"""

PROBES = """\
import numpy as np
import ex_student

def grader_typo():
    value = ex_student.returns_none()
    return reslts

def grader_module_typo():
    return np.arrray([1.0])

def grader_import():
    import no_such_grader_helper

def unpacks_student_none():
    coeffs, losses = ex_student.returns_none()

def attribute_of_student_none():
    return ex_student.returns_none().tolist()

def student_raises():
    return ex_student.raises()

def student_undefined_name():
    return ex_student.undefined_name()

def student_lacks_function():
    return ex_student.no_such_function()

def raised_while_handling_student():
    try:
        ex_student.raises()
    except ValueError:
        return reslts
"""


@pytest.fixture
def sides(tmp_path, monkeypatch):
    """A student module in a submission folder and a probes module in a stand-in grader
    package (the folder ``faults`` takes for the grader's own code)."""
    submission, package = tmp_path / "submission", tmp_path / "grader"
    submission.mkdir()
    package.mkdir()
    (submission / "ex_student.py").write_text(STUDENT)
    (package / "probes_under_test.py").write_text(PROBES)
    monkeypatch.syspath_prepend(str(submission))
    monkeypatch.setattr(faults, "GRADER_DIR", str(package))
    monkeypatch.delitem(sys.modules, "ex_student", raising=False)
    spec = importlib.util.spec_from_file_location(
        "probes_under_test", package / "probes_under_test.py"
    )
    probes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probes)
    return probes, str(submission)


def _kind(probes, name: str, root: str) -> str:
    try:
        getattr(probes, name)()
    except BaseException as exc:  # noqa: BLE001 - as the worker catches
        return faults.kind_of(exc, root)
    raise AssertionError(f"{name} did not raise")


@pytest.mark.parametrize("name", ["grader_typo", "grader_module_typo", "grader_import"])
def test_a_bug_in_the_probes_own_code_is_the_graders(sides, name):
    """Is a name, module or attribute the probe itself gets wrong the grader's fault, even
    after the student's function ran?"""
    probes, root = sides
    assert _kind(probes, name, root) == KIND_GRADER


@pytest.mark.parametrize(
    "name",
    [
        "unpacks_student_none",
        "attribute_of_student_none",
        "student_raises",
        "student_undefined_name",
        "student_lacks_function",
        "raised_while_handling_student",
    ],
)
def test_what_the_students_code_can_cause_stays_the_students(sides, name):
    """Does a missing ``return`` (None unpacked or used in the probe's own frame), a raise or
    an undefined name in the student's code, or a function the module lacks stay the
    student's failure?"""
    probes, root = sides
    assert _kind(probes, name, root) == KIND_STUDENT


def test_a_missing_file_and_sys_exit_stay_the_students(tmp_path, monkeypatch):
    """Are a file not handed in and ``sys.exit`` the student's, as the worker reports them?"""
    monkeypatch.setenv(SUBMISSION_ENV, str(tmp_path))
    missing = worker.handle({"probe": "load", "args": {"module": "ex1_gradients"}})
    assert missing[REPLY_KIND] == KIND_STUDENT
    try:
        raise SystemExit(3)
    except SystemExit as exc:
        assert faults.kind_of(exc, str(tmp_path)) == KIND_STUDENT


BROKEN_PREDICT = """
@probe
def predict(coeffs, x):
    result = _ex1().predict(np.array(coeffs), np.array(x))
    return reslt  # the grader's typo, after the student's code ran fine
"""


def _grader_with_broken_predict(dest: Path) -> Path:
    """A copy of the grader package whose ``ex1.predict`` probe has a typo."""
    shutil.copytree(workdir.PACKAGE_DIR, dest, ignore=shutil.ignore_patterns("__pycache__"))
    probes = dest / "inside" / "probes" / "ex1.py"
    source = probes.read_text()
    start = source.index("@probe\ndef predict(")
    end = source.index("@probe", start + 1)
    probes.write_text(source[:start] + BROKEN_PREDICT.lstrip() + "\n\n" + source[end:])
    return dest


def test_a_broken_probe_is_reported_as_the_graders_error(tmp_path, monkeypatch):
    """Graded by the real worker, are the tests that call a broken probe ``error`` with a
    message that says the grader failed, while the other tests still pass?"""
    package = _grader_with_broken_predict(tmp_path / "grader")
    monkeypatch.setattr(workdir, "PACKAGE_DIR", package)
    staged = stage(load(SOLUTIONS_DIR, "reference"), tmp_path / "staged")
    plan = Plan(("ex1",), isolation=policy.choose("strongest"))
    results, _ = run_suite(EXERCISES["ex1"], staged, plan)
    calls_predict = {t.name: t for t in results if "predict" in t.name}
    assert calls_predict, [t.name for t in results]
    for test in calls_predict.values():
        assert test.status == "error", (test.name, test.status, test.feedback)
        assert "the grader's probe ex1.predict failed" in test.feedback
        assert "reslt" in test.feedback
    others = [t for t in results if t.name not in calls_predict]
    assert others and all(t.status == "passed" for t in others), [
        (t.name, t.status, t.feedback) for t in others
    ]


def test_the_worker_itself_reports_a_broken_probe_as_the_graders(tmp_path, monkeypatch):
    """Does the worker as it is reply with the grader's kind for a probe's own typo?"""
    monkeypatch.setenv(SUBMISSION_ENV, str(tmp_path))
    from grader.inside.probes import ex1

    # the typo as if it were in grader/inside/probes/ex1.py (the file the traceback names)
    namespace = {}
    source = "def broken(coeffs, x):\n    return reslt\n"
    exec(compile(source, ex1.__file__, "exec"), namespace)  # noqa: S102 - a test's own code
    broken = namespace["broken"]
    broken.is_probe = True
    monkeypatch.setattr(ex1, "predict", broken)
    reply = worker.handle({"probe": "ex1.predict", "args": {"coeffs": [0.0], "x": [0.0]}})
    assert reply[REPLY_KIND] == KIND_GRADER
