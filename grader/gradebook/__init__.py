"""``grader gradebook OUT``: from stored results to a file the LMS imports, with the course
policy applied at export time.

The policy (``gradebook`` in the course configuration: due date, late penalty, hard deadline)
and the staff's files (roster, extensions, overrides, submission times) are read each time the
gradebook is written; the stored results in ``OUT`` are only read, so a changed deadline,
extension or override changes the exported gradebook and nothing else. Modules: ``policy``
(the arithmetic), ``settings`` (the configuration table), ``times`` (submission times per
platform), ``students`` (roster, extensions, overrides), ``book`` (a row per student),
``lms`` (Canvas, Moodle and CSV files, the audit).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from grader.gradebook.lms import FORMATS, MOODLE_KEYS
from grader.gradebook.policy import MISSING, GradebookError
from grader.gradebook.times import SOURCES
from grader.results.stored import read_results

__all__ = ["FORMATS", "MISSING", "MOODLE_KEYS", "SOURCES", "GradebookError", "gradebook"]


def gradebook(
    results: Path,
    *,
    fmt: str = "canvas",
    roster: Path,
    dest: Path | None = None,
    times: str | None = None,
    times_from: Path | None = None,
    extensions: Path | None = None,
    overrides: Path | None = None,
    config: Path | None = None,
    roster_id: str | None = None,
    missing: str | None = None,
    moodle_key: str = "email",
    stream=None,
) -> dict[str, Path]:
    """Write ``DEST/<fmt>.csv`` and ``DEST/audit.json`` (``DEST``: ``RESULTS/gradebook``);
    return their paths. A problem with any input is a :class:`~grader.errors.GraderError`
    naming the file and line."""
    from dataclasses import replace

    from grader.gradebook import book, lms, settings, students
    from grader.gradebook.times import read_times

    results, roster = Path(results), Path(roster)
    dest = Path(dest) if dest else results / "gradebook"
    times_from = Path(times_from) if times_from else None
    stream = stream or sys.stderr
    with _as_grader_error():
        if fmt not in FORMATS:
            raise GradebookError(f"unknown gradebook format {fmt!r}: use {', '.join(FORMATS)}")
        policy = settings.load(config)
        if missing is not None:
            policy = replace(policy, missing=missing)
        stored = read_results(results)
        maxima, total = _points(stored)
        class_roster = students.read_roster(roster, roster_id or policy.roster_id)
        known = set(class_roster.rows) | {r.submission for r in stored}
        extension_file = extensions or policy.extensions
        granted = (
            students.read_extensions(Path(extension_file), policy, known) if extension_file else {}
        )
        override_file = overrides or policy.overrides
        regrades = (
            students.read_overrides(Path(override_file), known, maxima, total)
            if override_file
            else {}
        )
        submitted = {}
        if times is not None:
            if times_from is None:
                raise GradebookError(f"--times {times} needs --from (a folder, or the CSV file)")
            submitted = read_times(
                times,
                times_from,
                [r.submission for r in stored],
                zone=policy.zone if policy.timezone else None,
            )
            untimed = [r.submission for r in stored if r.submission not in submitted]
            if untimed:
                raise GradebookError(
                    f"{times_from}: no submission time ({times}) for {', '.join(untimed)}"
                )
        elif policy.due is not None:
            raise GradebookError(
                f"{policy.source}: the course has a due date: say where submission times come from "
                "(--times gradescope|github|nbgrader|csv|mtime --from PATH)"
            )
        result = book.build(
            stored,
            class_roster,
            policy,
            times=submitted,
            extensions=granted,
            overrides=regrades,
            maxima=maxima,
            total=total,
        )
        inputs = {
            "results": str(results),
            "roster": str(roster),
            "roster_id": class_roster.id_column,
            "times": f"{times}: {times_from}" if times else None,
            "extensions": str(extension_file) if extension_file else None,
            "overrides": str(override_file) if override_file else None,
        }
        texts = {
            dest / ("gradebook.csv" if fmt == "csv" else f"{fmt}.csv"): lms.render(
                fmt, result, moodle_key=moodle_key
            ),
            dest / "audit.json": lms.audit(result, inputs=inputs),
        }
        dest.mkdir(parents=True, exist_ok=True)
        for path, text in texts.items():
            path.write_text(text, encoding="utf-8")
        written = dict(zip((fmt, "audit"), texts, strict=True))
        _summary(result, written, stream)
        return written


@contextmanager
def _as_grader_error():
    """The gradebook's and the course configuration's errors as the command's error."""
    from grader.errors import GraderError

    try:
        yield
    except ValueError as exc:  # GradebookError, CourseConfigError
        raise GraderError(str(exc)) from None


def _points(results) -> tuple[dict[str, float], float]:
    """Each exercise's maximum and the total, the same in every result."""
    first = results[0]
    maxima = {k: e.max_score for k, e in first.exercises.items()}
    for result in results[1:]:
        other = {k: e.max_score for k, e in result.exercises.items()}
        if other != maxima:
            raise GradebookError(
                f"{result.submission}.json was graded out of {other}, "
                f"{first.submission}.json out of {maxima}: grade the class the same way"
            )
    return maxima, first.max_score


def _summary(result, written: dict[str, Path], stream) -> None:
    for name, path in written.items():
        print(f"{name}: {path}", file=stream)
    rules: dict[str, int] = {}
    for row in result.rows:
        rules[row.rule] = rules.get(row.rule, 0) + 1
    counts = ", ".join(f"{count} {rule}" for rule, count in sorted(rules.items()))
    print(f"{len(result.rows)} student(s): {counts}", file=stream)
    if result.missing:
        print(f"in the roster, no submission: {', '.join(result.missing)}", file=stream)
    if result.unmatched:
        print(
            f"not in the roster (in the audit and --format csv, not in an LMS file): "
            f"{', '.join(result.unmatched)}",
            file=stream,
        )
    if result.times_without_result:
        print(
            f"a submission time but no result (not graded?): "
            f"{', '.join(result.times_without_result)}",
            file=stream,
        )
    if result.roster_without_id:
        print(f"roster rows without an id: {', '.join(result.roster_without_id)}", file=stream)
