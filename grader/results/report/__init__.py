"""``grader report RESULTS``: the class as a whole, for staff, offline.

From the stored results alone (the folder ``grader run --out`` wrote, and the similarity
report where one is beside them) it writes ``RESULTS/report/``: ``index.html`` (the
pictures: scores, what the class got wrong and why, test quality, the accuracy gate,
warnings, similarity), ``report.json`` (every figure, :mod:`grader.results.report.figures`)
and ``tests.csv`` (every student's every test, no cell a spreadsheet formula). It grades
nothing and changes no result; no student's feedback page links to it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from grader.errors import GraderError
from grader.files import atomic_write
from grader.results.model import SubmissionResult
from grader.results.report import figures as compute
from grader.results.report import page
from grader.results.spreadsheet import csv_text
from grader.results.stored import ResultsFolderError, read_results

FOLDER = "report"
SIMILARITY = "similarity"
"""Where ``grader run --similarity`` writes the similarity report, beside the results."""


def tests_csv(results: list[SubmissionResult]) -> str:
    """One row per student and test: submission, exercise, test, status, score, maximum
    and feedback (text neutralised against formulas by :func:`csv_text`)."""
    header = ["submission", "exercise", "test", "status", "score", "max_score", "feedback"]
    rows = [
        [r.submission, t.exercise, t.name, t.status, t.score, t.max_score, t.feedback]
        for r in results
        for t in r.tests
    ]
    return csv_text([header, *rows])


def _read_similarity(folder: Path) -> dict | None:
    """``similarity.json`` in ``folder``, or None where there is none; a file that is not
    one is the command's error."""
    path = folder / "similarity.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GraderError(f"{path}: not a report of grader similarity: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("pairs"), list):
        raise GraderError(f"{path}: not a report of grader similarity")
    return data


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def report(
    results: Path,
    *,
    dest: Path | None = None,
    similarity: Path | None = None,
    stderr=None,
) -> dict:
    """Write the class report of the results folder ``results`` into ``dest`` (default:
    ``RESULTS/report``), with the summary of the similarity report in ``similarity``
    (default: ``RESULTS/similarity``, where there is one). Returns the figures
    (``report.json``); GraderError where there are no results or nothing can be written."""
    stderr = stderr or sys.stderr
    start = time.monotonic()
    results = Path(results)
    dest = Path(dest) if dest else results / FOLDER
    similar_dir = Path(similarity) if similarity else results / SIMILARITY
    if similarity and not (similar_dir / "similarity.json").is_file():
        raise GraderError(f"{similar_dir}: no similarity.json (grader similarity --out)")
    try:
        stored = read_results(results)
    except ResultsFolderError as exc:
        raise GraderError(str(exc)) from None
    similar = _read_similarity(similar_dir)
    data = compute.figures(stored, similar)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        feedback = results / "feedback"
        html = page.render(
            data,
            feedback=_relative(feedback, dest) if feedback.is_dir() else None,
            similarity=_relative(similar_dir / "similarity.html", dest)
            if (similar_dir / "similarity.html").is_file()
            else None,
        )
        for name, text in (
            ("report.json", json.dumps(data, allow_nan=False) + "\n"),
            ("tests.csv", tests_csv(stored)),
            ("index.html", html),
        ):
            payload = text.encode("utf-8")
            atomic_write(dest / name, lambda f, data=payload: f.write(data))
    except OSError as exc:
        raise GraderError(f"the class report could not be written to {dest}: {exc}") from None
    print(
        f"report: {dest / 'index.html'} ({len(stored)} results, {time.monotonic() - start:.1f} s)",
        file=stderr,
        flush=True,
    )
    return data
