"""Every figure of the class report, computed from the stored results: ``report.json``.

Scores (the distribution of totals and of each exercise), tests (pass rates and the causes
of failures, grouped), test quality (discrimination and flags), the accuracy gate across the
class, warnings across the class and a summary of the similarity report. Only numbers and
the results' own text: the page (:mod:`grader.results.report.page`) draws them.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

from grader import __version__
from grader.kit import CLASS_NAMES, EXERCISES
from grader.results.model import SubmissionResult
from grader.submissions.handin import missing_message

SCHEMA_VERSION = 1
TOTAL_BINS = 20
EXERCISE_BINS = 10
ACCURACY_BINS = 25
TIME_BINS = 20
NEGATIVE_DISCRIMINATION = -0.1
"""A test whose passing correlates with the rest of the total below this is flagged:
stronger students fail it more often than weaker ones."""
MOSTLY = 0.5
"""A test is flagged when more than this share of its failures are grader errors or
timeouts."""
SIMILAR_PAIRS = 20
"""Pairs of the similarity report the class report lists (the similarity report has all)."""

_NUMBER = re.compile(
    r"(?<![\w.])(?:0x[0-9a-fA-F]+|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)(?![\w])"
)
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_BRACKETED = re.compile(r"\([^()\n]*\)")


def cause(text: str) -> str:
    """A failure's feedback with what differs from student to student for the same mistake
    taken out: numbers (values, shapes, line numbers) become ``#`` and quoted text (names,
    file names) ``'…'``."""
    return _NUMBER.sub("#", _QUOTED.sub("'…'", text.strip()))


def warning_kind(text: str) -> str:
    """A warning with its particulars taken out, as :func:`cause`, and what is in brackets
    too (the error that made a notebook cell be skipped, the files named)."""
    return _BRACKETED.sub("(…)", cause(text))


def summary(values: list[float], maximum: float, bins: int) -> dict:
    """Mean, median, quartiles (numpy's linear interpolation), range, full and zero scores,
    and a histogram of ``bins`` equal bars over 0 to ``maximum`` (the last one closed)."""
    data = np.asarray(values, dtype=float)
    counts, edges = np.histogram(data, bins=bins, range=(0.0, maximum or 1.0))
    figures = {
        "count": len(data),
        "max_score": maximum,
        "full": int(np.sum(data >= maximum - 1e-9)) if maximum else 0,
        "zero": int(np.sum(data <= 1e-9)),
        "histogram": {"edges": _rounded(edges), "counts": counts.tolist()},
    }
    if not len(data):
        return {**figures, **dict.fromkeys(("mean", "median", "q1", "q3", "min", "max"))}
    q1, median, q3 = np.percentile(data, [25, 50, 75])
    stats = {"mean": data.mean(), "median": median, "q1": q1, "q3": q3}
    stats.update(min=data.min(), max=data.max())
    return {**figures, **{k: round(float(v), 4) for k, v in stats.items()}}


def _rounded(values) -> list[float]:
    return [round(float(v), 4) for v in values]


def _missing(result: SubmissionResult, key: str) -> str | None:
    """The feedback that says ``key``'s file is not in ``result``'s submission, if it is not."""
    exercise = EXERCISES.get(key)
    if exercise is None:
        return None
    words = missing_message(exercise.module, key)
    for test in result.tests:
        if test.exercise == key and words in test.feedback:
            return test.feedback
    return None


def scores(results: list[SubmissionResult]) -> dict:
    """The totals and each exercise: distribution, full and zero scores; and per exercise
    the students with a missing file, a grader error or a timeout."""
    keys = list(results[0].exercises)
    maximum = results[0].max_score
    per_exercise = {}
    for key in keys:
        top = results[0].exercises[key].max_score
        found = [r.exercises[key].score for r in results if key in r.exercises]
        per_exercise[key] = summary(found, top, EXERCISE_BINS)
        per_exercise[key]["missing_file"] = [
            r.submission for r in results if _missing(r, key) is not None
        ]
        for status, field in (("error", "grader_errors"), ("timeout", "timeouts")):
            per_exercise[key][field] = [
                r.submission
                for r in results
                if any(t.exercise == key and t.status == status for t in r.tests)
            ]
    return {
        "total": summary([r.score for r in results], maximum, TOTAL_BINS),
        "exercises": per_exercise,
        "grader_errors": [r.submission for r in results if _any(r, "error")],
        "timeouts": [r.submission for r in results if _any(r, "timeout")],
        "missing_files": [
            r.submission for r in results if any(_missing(r, k) is not None for k in keys)
        ],
        "not_graded": [r.submission for r in results if r.ungraded_points],
        "unreadable": [
            r.submission for r in results if any(e.message for e in r.exercises.values())
        ],
    }


def _any(result: SubmissionResult, status: str) -> bool:
    return any(t.status == status for t in result.tests)


def correlation(passed: list[bool], rest: list[float]) -> float | None:
    """The point-biserial correlation of passing a test with the rest of the total (the
    total less that test's points), or None where either does not vary."""
    x, y = np.asarray(passed, dtype=float), np.asarray(rest, dtype=float)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return None
    return round(float(np.corrcoef(x, y)[0, 1]), 4)


def tests(results: list[SubmissionResult]) -> list[dict]:
    """Every test: how many passed, failed, erred, timed out or were skipped, its pass rate
    (of those graded), its discrimination, its flags and its failures grouped by cause,
    largest first; lowest pass rate first."""
    catalogue: dict[tuple[str, str], dict] = {}
    indexed = []
    for result in results:
        own = {(t.exercise, t.name): t for t in result.tests}
        indexed.append((result, own))
        for key, test in own.items():
            catalogue.setdefault(key, {"max_score": test.max_score})
    rows = []
    for (exercise, name), row in catalogue.items():
        statuses: Counter = Counter()
        passed, rest, groups = [], [], {}
        for result, own in indexed:
            test = own.get((exercise, name))
            if test is None:
                continue
            statuses[test.status] += 1
            if not test.graded:
                continue
            passed.append(test.status == "passed")
            rest.append(result.score - test.score)
            if test.status != "passed":
                key = cause(test.feedback)
                group = groups.setdefault(key, {"texts": Counter(), "statuses": Counter()})
                group["texts"][test.feedback] += 1
                group["statuses"][test.status] += 1
                group.setdefault("students", []).append(result.submission)
        graded = len(passed)
        rate = round(sum(passed) / graded, 4) if graded else None
        row = {
            "exercise": exercise,
            "name": name,
            "max_score": row["max_score"],
            "graded": graded,
            **{s: statuses[s] for s in ("passed", "failed", "error", "timeout", "skipped")},
            "pass_rate": rate,
            "discrimination": correlation(passed, rest),
            "causes": [
                {
                    "count": len(g["students"]),
                    "text": g["texts"].most_common(1)[0][0],
                    "pattern": key,
                    "statuses": dict(g["statuses"]),
                    "students": g["students"],
                }
                for key, g in sorted(groups.items(), key=lambda item: -len(item[1]["students"]))
            ],
        }
        row["flags"] = flags(row)
        rows.append(row)
    rows.sort(key=lambda r: (r["pass_rate"] is None, r["pass_rate"] or 0.0))
    return rows


def flags(row: dict) -> list[str]:
    """What makes a test worth a look: nobody or everybody passes it, stronger students fail
    it more often, or most of its failures are the grader's errors or timeouts."""
    found = []
    if row["graded"] and not row["passed"]:
        found.append("nobody passes")
    if row["graded"] and row["passed"] == row["graded"]:
        found.append("everybody passes")
    if row["discrimination"] is not None and row["discrimination"] < NEGATIVE_DISCRIMINATION:
        found.append("stronger students fail it more often")
    failing = row["graded"] - row["passed"]
    if failing and (row["error"] + row["timeout"]) / failing > MOSTLY:
        found.append("mostly grader errors or timeouts")
    return found


def nice_step(value: float) -> float:
    """The least of 1, 2, 2.5 and 5 times a power of ten at or above ``value`` (a bar's
    width whose edges read well)."""
    if not value > 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value * (1 - 1e-9))


def _histogram(values: list[float], top: float, bins: int) -> dict:
    counts, edges = np.histogram(np.asarray(values, dtype=float), bins=bins, range=(0.0, top))
    return {"edges": _rounded(edges), "counts": counts.tolist()}


def _common(values: list):
    values = [v for v in values if v is not None]
    return Counter(values).most_common(1)[0][0] if values else None


def gate(results: list[SubmissionResult]) -> dict | None:
    """The accuracy gate across the class: accuracies against the threshold, training cost
    against the limit, the share stopped by it, the per-class accuracy of every student
    (classes weakest first) and the class-wide confusion matrix; None where it never ran."""
    runs = []  # the students whose pipeline the gate trained
    for result in results:
        test = next((t for t in result.tests if "threshold" in t.metrics), None)
        if test is not None and test.graded and "train_s" in test.metrics:
            runs.append((result, test, test.metrics))
    if not runs:
        return None
    threshold = _common([m.get("threshold") for _, _, m in runs])
    accuracies = [(r.submission, m["accuracy"]) for r, _, m in runs if _finite(m.get("accuracy"))]
    ratio = any(_finite(m.get("time_ratio")) for _, _, m in runs)
    if ratio:
        costs = [
            (r.submission, m["time_ratio"]) for r, _, m in runs if _finite(m.get("time_ratio"))
        ]
        limit = _common([m.get("time_factor") for _, _, m in runs])
    else:
        costs = [(r.submission, m["train_s"]) for r, _, m in runs if _finite(m.get("train_s"))]
        limit = _common([m.get("time_limit_s") for _, _, m in runs])
    step = nice_step(max([limit or 0.0, *(c for _, c in costs)]) * 1.05 / TIME_BINS)
    stopped = [r.submission for r, t, m in runs if "accuracy" in m and m["accuracy"] is None]
    return {
        "students": len(runs),
        "passed": sum(1 for _, t, _ in runs if t.status == "passed"),
        "threshold": threshold,
        "accuracy": {
            **summary([a for _, a in accuracies], 1.0, ACCURACY_BINS),
            "below_threshold": [
                s for s, a in accuracies if threshold is not None and a < threshold
            ],
        },
        "time": {
            "measure": "ratio to the reference's cost" if ratio else "seconds",
            "limit": limit,
            "count": len(costs),
            "over_limit": [s for s, c in costs if limit is not None and c > limit],
            "histogram": _histogram([c for _, c in costs], step * TIME_BINS, TIME_BINS),
        },
        "stopped": {
            "students": stopped,
            "share": round(len(stopped) / len(runs), 4),
        },
        **per_class(runs),
    }


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def per_class(runs: list) -> dict:
    """Each student's per-class accuracy (lowest accuracy first), the class's mean per class,
    the classes ordered weakest first, and the confusion matrices summed."""
    rows = []
    confusion, counted = None, 0
    for result, _, metrics in runs:
        values = metrics.get("per_class")
        if isinstance(values, list) and values:
            shown = [v if _finite(v) else None for v in values]
            accuracy = metrics.get("accuracy")
            rows.append({"submission": result.submission, "accuracy": accuracy, "per_class": shown})
        matrix = metrics.get("confusion")
        if isinstance(matrix, list) and matrix:
            array = np.asarray(matrix, dtype=np.int64)
            if confusion is None:
                confusion = np.zeros_like(array)
            if array.shape == confusion.shape:
                confusion += array
                counted += 1
    width = max((len(r["per_class"]) for r in rows), default=0)
    means = []
    for k in range(width):
        column = [r["per_class"][k] for r in rows if k < len(r["per_class"])]
        column = [v for v in column if v is not None]
        means.append(round(float(np.mean(column)), 4) if column else None)
    order = sorted(range(width), key=lambda k: (means[k] is None, means[k] or 0.0))
    rows.sort(key=lambda r: (r["accuracy"] is None, r["accuracy"] or 0.0))
    return {
        "classes": [CLASS_NAMES[k] if k < len(CLASS_NAMES) else str(k) for k in range(width)],
        "class_means": means,
        "weakest_first": order,
        "per_class": rows,
        "confusion": confusion.tolist() if confusion is not None else None,
        "confusion_students": counted,
    }


def warnings(results: list[SubmissionResult]) -> dict:
    """Warnings across the class, those of one kind together, most students first; the
    students graded under reduced isolation; those whose missing file has a near miss."""
    groups: dict[str, dict] = {}
    for result in results:
        for text in result.warnings:
            group = groups.setdefault(warning_kind(text), {"texts": Counter(), "students": []})
            group["texts"][text] += 1
            if result.submission not in group["students"]:
                group["students"].append(result.submission)
    near = []
    for result in results:
        for key in result.exercises:
            found = _missing(result, key)
            module = EXERCISES[key].module if key in EXERCISES else ""
            if found is not None and not found.endswith(missing_message(module, key)):
                near.append({"submission": result.submission, "exercise": key, "text": found})
                break
    return {
        "reduced_isolation": [r.submission for r in results if r.isolation != "bwrap"],
        "near_misses": near,
        "kinds": [
            {
                "count": len(g["students"]),
                "text": g["texts"].most_common(1)[0][0],
                "pattern": key,
                "students": g["students"],
            }
            for key, g in sorted(groups.items(), key=lambda item: -len(item[1]["students"]))
        ],
    }


def similarity(data: dict | None) -> dict | None:
    """What the similarity report (``similarity.json``) found, in short."""
    if not data:
        return None
    pairs = data.get("pairs", [])
    threshold = data.get("threshold", 1.0)
    whole = [p for p in pairs if p.get("score", 0) >= threshold]
    one = [p for p in pairs if p.get("score", 0) < threshold]
    copied: Counter = Counter()
    for pair in pairs:
        copied.update(pair.get("exercises", []))
    return {
        "submissions": len(data.get("submissions", [])),
        "pairs_compared": data.get("pairs_compared", 0),
        "threshold": threshold,
        "exercise_threshold": data.get("exercise_threshold"),
        "reported": len(pairs),
        "at_threshold": len(whole),
        "one_exercise": len(one),
        "copied_exercises": dict(sorted(copied.items())),
        "pairs": [
            {key: p.get(key) for key in ("a", "b", "score", "exercises", "b_is_reference")}
            for p in whole[:SIMILAR_PAIRS] + one[:SIMILAR_PAIRS]
        ],
        "not_compared": len(data.get("not_compared", [])),
    }


def figures(results: list[SubmissionResult], similar: dict | None = None) -> dict:
    """Every figure of the report (``report.json``)."""
    return {
        "schema": SCHEMA_VERSION,
        "grader_version": __version__,
        "students": len(results),
        "max_score": results[0].max_score,
        "exercises": {k: e.max_score for k, e in results[0].exercises.items()},
        "scores": scores(results),
        "tests": tests(results),
        "gate": gate(results),
        "warnings": warnings(results),
        "similarity": similarity(similar),
    }
