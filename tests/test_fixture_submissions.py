"""Fixture submissions against the hidden suites.

Every fixture in ``tests/fixtures/submissions/<name>/`` holds only the exercise file(s) it
changes and its ``expected.toml``, what it must earn (``tests/fixture_expectations.py``); the
harness stages it as a copy of ``solutions/`` overlaid with those files, in a temporary
folder. Three kinds, named by their expected outcome:

- ``bug_*``: one natural student mistake in one function; exactly the tests its
  ``expected.toml`` names fail, with feedback that names the mistake, and nothing else loses
  points. One
  mistake costs once: every failing test is one of that function's (its
  ``@pytest.mark.tests_function`` marker says so), whatever calls it, and its feedback names
  the function.
- ``correct_*``: a correct solution written differently; full marks wherever it differs.
- ``hostile_*``: an ex1 that exits or monkeypatches at import; 0 for ex1, full marks elsewhere.

For speed, all fixtures that touch one exercise are graded in one ``grader run`` of a folder of
submissions (``--exercises exN``, with ex5 too for ex4 since ex5 imports ex4's Net), and the
batches run side by side as subprocesses. The default run grades :func:`sampled`: the bug
fixtures marked ``default_run``, those the diagnoses below name, and for a pointed hidden test
that none of them fails the first bug fixture by name that fails it (so every check still
meets a submission that must fail it); and every correct and hostile fixture. The other bug
fixtures are marked slow and graded with ``-m slow``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import fixture_edits
import fixture_expectations as expectations
import pytest
from conftest import FIXTURES, REPO, describe, fixture_submission, full_marks

from grader.grading import dependencies
from grader.submissions.notebooks import notebook_to_source

SOLUTIONS = REPO / "solutions"
SUITES = REPO / "grader" / "suites"
MODULES = {
    "ex1": "ex1_gradients.py",
    "ex2": "ex2_autograd.py",
    "ex3": "ex3_data.py",
    "ex4": "ex4_net.py",
    "ex5": "ex5_train.py",
}
GATE = "test_accuracy_gate"
RUN_TIMEOUT_S = 480
"""How long the batches graded side by side may take, at the least; where they hold more than
48 submissions in all, 10 s for each (they share the machine's cores: the whole corpus, in
the slow run, is about 135)."""
pytestmark = pytest.mark.timeout(3600)
"""The first test to ask for the graded batches waits for all of them (the whole corpus in the
slow run): more than pytest-timeout's default for one test."""


BUGS = list(expectations.of(expectations.Bug).values())
"""The bug fixtures by name, each with what it must fail (its ``expected.toml``)."""
CORRECT = {name: c.description for name, c in expectations.of(expectations.Correct).items()}
HOSTILE = {
    name: attack.batch_feedback
    for name, attack in expectations.of(expectations.Attack).items()
    if attack.batch_feedback is not None
}
"""The hostile fixtures graded here too (a ``[fixture_batch]`` table): a word of every ex1
test's feedback."""


# -- staging and grading ---------------------------------------------------------------------


def fixture_files(name: str) -> dict[str, Path]:
    """Exercise key -> the fixture's edits (or file) for it."""
    files = fixture_edits.fixture_files(name)
    return {ex: files[module.removesuffix(".py")] for ex, module in MODULES.items()
            if module.removesuffix(".py") in files}  # fmt: skip


def batches() -> dict[str, tuple[list[str], str]]:
    """Batch name -> (fixtures graded in it, ``--exercises`` value)."""
    plan = {}
    for ex in MODULES:
        names = sorted(
            [b.fixture for b in BUGS if b.exercise == ex]
            + [name for name in CORRECT if ex in fixture_files(name)]
        )
        plan[ex] = (names, "ex4,ex5" if ex == "ex4" else ex)
    plan["hostile"] = (sorted(HOSTILE), ",".join(MODULES))
    return plan


DIAGNOSED = (
    "bug_no_optimizer_step",
    "bug_train_step_rebinds_coeffs",
    "bug_train_step_other_model",
)
"""Bug fixtures whose feedback the diagnoses below look at."""


def sampled() -> set[str]:
    """The bug fixtures the default run grades: those marked ``default_run``, those in
    :data:`DIAGNOSED`, and for each pointed test none of them fails, the first bug by name
    that fails it."""
    chosen = set(DIAGNOSED) | {b.fixture for b in BUGS if b.default_run}
    met = {(b.exercise, name) for b in BUGS if b.fixture in chosen for name in b.fails}
    for ex, names in suite_points().items():
        for name in sorted(names):
            if (ex, name) not in met:
                chosen.update(
                    next(([b.fixture] for b in BUGS if b.exercise == ex and name in b.fails), [])
                )
    return chosen


def bug_params() -> list:
    """BUGS as parameters, those outside :func:`sampled` marked slow."""
    sample = sampled()
    return [
        pytest.param(b, id=b.fixture, marks=() if b.fixture in sample else pytest.mark.slow)
        for b in BUGS
    ]


@dataclass
class BatchRun:
    returncode: int
    stderr: str
    results: dict[str, dict]
    folder: Path


@pytest.fixture(scope="module")
def graded(request, tmp_path_factory) -> dict[str, BatchRun]:
    """Stage every batch and grade them all side by side (one subprocess per batch): the whole
    corpus where a slow test of this module is selected, else the default run's sample."""
    everything = any(
        item.get_closest_marker("slow") and getattr(item, "module", None) is request.module
        for item in request.session.items
    )
    sample = sampled()
    root = tmp_path_factory.mktemp("fixture-batches")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    running = {}
    total = 0
    for batch, (names, exercises) in batches().items():
        folder = root / batch
        names = [n for n in names if everything or not n.startswith("bug_") or n in sample]
        total += len(names)
        for name in names:
            fixture_submission(name, folder / name)
        command = [sys.executable, "-m", "grader.cli", "run", str(folder), "--no-gate"]
        command += ["--format", "json", "--exercises", exercises]
        running[batch] = (
            folder,
            subprocess.Popen(
                command,
                cwd=root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
    timeout = max(RUN_TIMEOUT_S, 10 * total)
    deadline = time.monotonic() + timeout
    runs = {}
    for batch, (folder, process) in running.items():
        try:
            out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for _, other in running.values():
                other.kill()
            pytest.fail(f"grading batch {batch} took over {timeout} s")
        results = [json.loads(line) for line in out.splitlines() if line.strip()]
        runs[batch] = BatchRun(
            process.returncode, err, {r["submission"]: r for r in results}, folder
        )
    return runs


def result_of(graded, batch: str, name: str) -> dict:
    run = graded[batch]
    assert run.returncode == 0, run.stderr[-3000:]
    assert name in run.results, f"no result for {name} in batch {batch}:\n{run.stderr[-3000:]}"
    return run.results[name]


def pointed_tests(result: dict, exercise: str) -> dict[str, dict]:
    return {
        t["name"]: t
        for t in result["tests"]
        if t["exercise"] == exercise and t["max_score"] and t["name"] != GATE
    }


def suite_points() -> dict[str, set[str]]:
    """Exercise -> the names of its hidden tests that carry points (the gate aside)."""
    return {
        ex: {
            name
            for name, points in expectations.suite_tests(SUITES / f"test_{ex}.py").items()
            if points is not None and name != GATE
        }
        for ex in MODULES
    }


# -- the expectations themselves -------------------------------------------------------------


def test_every_pointed_test_has_a_bug_fixture_that_fails_it():
    """Is each pointed hidden test (the gate aside) named as failing by at least one bug?"""
    covered = {(b.exercise, name) for b in BUGS for name in b.fails}
    missing = [
        f"{ex}::{name}"
        for ex, names in suite_points().items()
        for name in sorted(names)
        if (ex, name) not in covered
    ]
    assert not missing, f"no bug fixture fails {missing}"
    unknown = [(ex, n) for ex, n in covered if n not in suite_points()[ex]]
    assert not unknown, f"expected.toml names tests the suites do not point: {unknown}"


def judged_by() -> dict[tuple[str, str], tuple[str, ...]]:
    """(exercise, test) -> the functions its ``tests_function`` marker names."""
    return {
        (ex, name): functions
        for ex, rows in dependencies.declared().items()
        for name, functions, _ in rows
    }


def names_function(feedback: str, functions: tuple[str, ...]) -> bool:
    """Does the feedback name one of the functions (a method by its own name)?"""
    return any(
        re.search(rf"(?<!\w){re.escape(f.rpartition('.')[2])}\b", feedback) for f in functions
    )


def test_each_bug_fails_only_tests_of_its_function():
    """Does every bug say which function its mistake is in (one its exercise defines), and is
    every test it names as failing one of that function's, by the test's own marker? One
    mistake costs once: the tests of the functions that call it must not fail."""
    markers = judged_by()
    problems = []
    for bug in BUGS:
        defined = dependencies.defined_names(bug.exercise)
        if not bug.functions or any(f not in defined for f in bug.functions):
            problems.append(f"{bug.fixture}: function={bug.function!r} is not {bug.exercise}'s")
        for test in bug.fails:
            judged = markers.get((bug.exercise, test), ())
            if not set(judged) & set(bug.functions):
                problems.append(f"{bug.fixture}: {test} judges {judged}, not {bug.functions}")
    assert not problems, "\n".join(problems)


def harnessed_folders() -> list[str]:
    """The fixture folders this harness grades: every bug_* and correct_*, and its hostile ones.

    The other hostile_* and broken_* folders belong to tests/test_hostile.py and test_broken.py.
    """
    names = (p.name for p in FIXTURES.iterdir() if p.is_dir())
    return sorted(n for n in names if n.startswith(("bug_", "correct_")) or n in HOSTILE)


@pytest.mark.parametrize("name", harnessed_folders())
def test_fixture_holds_only_changed_exercise_files(name, tmp_path):
    """Does a fixture hold only edits of exercise files (or whole exercise files), each
    changing the reference and staging as valid Python, the reference everywhere else?"""
    folder = FIXTURES / name
    suffixes = (".edits", ".py", ".ipynb")
    allowed = {f"{m.removesuffix('.py')}{s}" for m in MODULES.values() for s in suffixes}
    assert {p.name for p in folder.iterdir()} <= allowed | {expectations.EXPECTED}
    files = fixture_files(name)
    assert files, f"{name} holds no exercise file"
    staged = fixture_submission(name, tmp_path / name)
    assert {p.suffix for p in staged.iterdir()} <= {".py", ".ipynb"}, "only exercise files"
    for module in MODULES.values():
        reference = fixture_edits.reference_source(module.removesuffix(".py"))
        notebook = staged / module.replace(".py", ".ipynb")
        if notebook.exists():
            text = notebook_to_source(notebook.read_bytes(), notebook.name)
        else:
            text = (staged / module).read_text()
        changed = module.removesuffix(".py") in {p.stem for p in files.values()}
        assert (text != reference) == changed, module
        compile(text, str(staged / module), "exec")


# -- the grading runs ------------------------------------------------------------------------


@pytest.mark.parametrize("bug", bug_params())
def test_bug_fixture_fails_exactly_the_named_tests(graded, bug):
    """Does the mistake fail exactly the named tests, with feedback that names it, and cost
    nothing in any other exercise graded alongside?"""
    result = result_of(graded, bug.exercise, bug.fixture)
    tests = pointed_tests(result, bug.exercise)
    failing = {name for name, t in tests.items() if t["status"] != "passed"}
    markers = judged_by()
    elsewhere = {n for n in failing if not set(markers[bug.exercise, n]) & set(bug.functions)}
    assert not elsewhere, f"a mistake in {bug.function} cost points in {elsewhere}"
    assert failing == set(bug.fails), describe(result)
    for name, word in bug.fails.items():
        test = tests[name]
        assert test["score"] == 0 and test["feedback"], test
        assert word.lower() in test["feedback"].lower(), f"{name}: {test['feedback']!r}"
        assert names_function(test["feedback"], bug.functions), f"{name}: {test['feedback']!r}"
    for ex, exercise in result["exercises"].items():
        if ex != bug.exercise:
            assert full_marks(exercise), f"{ex} lost points:\n{describe(result)}"


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_variant_keeps_full_marks(graded, name):
    """Does a correct but differently written solution keep every point it is graded for?"""
    touched = fixture_files(name)
    assert touched
    for ex in touched:
        result = result_of(graded, ex, name)
        for key, exercise in result["exercises"].items():
            assert full_marks(exercise), f"{CORRECT[name]}: {key} lost points\n{describe(result)}"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_ex1_scores_zero_there_and_nowhere_else(graded, name):
    """Does an ex1 that exits or monkeypatches at import get 0 for ex1, full marks for the
    rest (each exercise has its own worker), with the run itself succeeding?"""
    result = result_of(graded, "hostile", name)
    assert set(result["exercises"]) == set(MODULES)
    assert result["exercises"]["ex1"]["score"] == 0
    ex1 = pointed_tests(result, "ex1")
    assert ex1 and all(t["status"] != "passed" and t["feedback"] for t in ex1.values())
    word = HOSTILE[name]
    assert all(word in t["feedback"] for t in ex1.values()), describe(result)
    for key in ("ex2", "ex3", "ex4", "ex5"):
        assert full_marks(result["exercises"][key]), describe(result)
    assert result["exercises"]["ex5"]["ungraded_points"] == 8
    assert result["score"] == 72 and result["max_score"] == 100


# -- diagnoses that name the mistake itself --


def test_missing_optimizer_step_is_diagnosed_as_such(graded):
    """Does a train_one_epoch without optimizer.step() hear that the weights did not change?"""
    result = result_of(graded, "ex5", "bug_no_optimizer_step")
    test = pointed_tests(result, "ex5")["test_train_one_epoch_updates_weights"]
    assert "did not change" in test["feedback"]


def test_rebinding_coeffs_is_diagnosed_as_not_in_place(graded):
    """Does a train_step that rebinds coeffs hear that the update must happen in place?"""
    result = result_of(graded, "ex2", "bug_train_step_rebinds_coeffs")
    test = pointed_tests(result, "ex2")["test_train_step_one_step"]
    assert "in place" in test["feedback"]


def test_another_model_is_not_told_that_gradients_accumulate(graded):
    """A train_step of another model that does clear .grad: is the clearing credited (the
    model is the one-step test's to charge), never told that gradients pile up?"""
    result = result_of(graded, "ex2", "bug_train_step_other_model")
    tests = pointed_tests(result, "ex2")
    assert tests["test_train_step_clears_grad"]["status"] == "passed", describe(result)
    assert "accumulate" not in tests["test_train_step_one_step"]["feedback"]


def test_skipped_notebook_cells_are_named_in_the_warnings(graded):
    """Does a notebook that keeps the tutorial's download and training cells keep full marks,
    with a warning naming each cell that was skipped and why?"""
    for ex in ("ex3", "ex5"):
        result = result_of(graded, ex, "correct_notebooks_with_tutorial_cells")
        warnings = " ".join(result["warnings"])
        assert "ex3_data.ipynb: cell 5 was skipped" in warnings or ex == "ex5", warnings
        assert "trainloader" in warnings, warnings
