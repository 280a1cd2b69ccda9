"""``grader check``: the public tests, run on a student's own work, on CPU.

It takes what ``grader run`` takes for one submission (a folder of ``.py`` files or
notebooks, a zip, a single exercise file), stages it the same way (a notebook becomes the
module of its code cells, helper modules come along) and says what ``grader run`` would
warn about: a name taken despite its letter case, a missing exercise file and the files
close to its name, the lines only Jupyter can run, after the tests each notebook cell that
was skipped. Then it runs ``exercises/tests`` against the staged files; it fails when an
exercise file is missing, even if every test that ran passed. The student's code runs in a
plain subprocess: this is their own machine and their own code. It speaks the course's
language (``language`` in the course configuration of the current folder), else the
student's own (their locale), else English; ``--lang`` chooses for one run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from grader import i18n
from grader.course import config as course_config
from grader.errors import CourseConfigError
from grader.i18n import _
from grader.kit import EXERCISES, EXERCISES_DIR
from grader.submissions.loading import SubmissionError, discover, missing_file_message, stage

LANGUAGE_ENV = "GRADER_CHECK_LANGUAGE"
"""The language ``grader check`` chose, for its plugin in the public tests' process."""


def check(path: Path | None = None, *, language: str | None = None) -> int:
    """Run the public tests against the submission at ``path``; return pytest's status, or 1
    where it passed but an exercise file is missing. ``language``: see the module's docstring."""
    try:
        language = language or student_language()
    except CourseConfigError as exc:
        print(f"grader check: {exc}", file=sys.stderr)
        return 2
    with i18n.using(language):
        return _check(Path(path or EXERCISES_DIR), language)


def student_language(environ=None) -> str:
    """The course's language where the course configuration here chooses one, else the one the
    student's locale asks for, else English."""
    return course_config.load().language or i18n.language_of_locale(environ) or i18n.DEFAULT


def _check(source: Path, language: str) -> int:
    try:
        found = discover([source])
    except SubmissionError as exc:
        print(f"grader check: {exc}", file=sys.stderr)
        return 2
    if len(found) != 1:
        print(
            "grader check: "
            + _(
                "{path} holds {count} submissions; check one at a time",
                path=source,
                count=len(found),
            ),
            file=sys.stderr,
        )
        return 2
    (submission,) = found
    if submission.error:
        print(f"grader check: {submission.error}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="grader-check-") as scratch:
        staged = stage(submission, Path(scratch) / "submission")
        for note in submission.notes:
            print(_("warning: {note}", note=note))
        missing = [e for e in EXERCISES.values() if not (staged / e.filename).exists()]
        messages = [missing_file_message(staged, e.module, e.key) for e in missing]
        if len(missing) == len(EXERCISES):
            print(
                "grader check: " + _("{path} holds no exercise files", path=source),
                file=sys.stderr,
            )
            for message in messages:
                print(f"  {message}", file=sys.stderr)
            return 2
        if missing:
            print(_("not handed in (their tests are left out): {files}", files=_names(missing)))
            for message in messages:
                print(f"  {message}")
        env = dict(os.environ, EXERCISES_DIR=str(staged), CUDA_VISIBLE_DEVICES="", MPLBACKEND="Agg")
        env[LANGUAGE_ENV] = language
        tests = EXERCISES_DIR / "tests"
        command = [sys.executable, "-m", "pytest", str(tests), "-q", "-p", "no:cacheprovider"]
        command += ["-p", "grader.submissions.check", "--rootdir", str(tests), "-c", os.devnull]
        status = subprocess.call(command, env=env, cwd=staged)
    if missing and status == 0:
        print(_("grader check fails: {files} not handed in (see above)", files=_names(missing)))
        return 1
    return status


def _names(exercises) -> str:
    return ", ".join(e.filename for e in exercises)


def pytest_terminal_summary(terminalreporter) -> None:
    """In the public tests' process (``-p grader.submissions.check``): each notebook cell that
    failed when its notebook was imported, and so was skipped, as ``grader run`` warns of it."""
    language = os.environ.get(LANGUAGE_ENV)
    with i18n.using(language if language in i18n.LANGUAGES else None):
        for exercise in EXERCISES.values():
            module = sys.modules.get(exercise.module)
            cells = getattr(module, "__grader_skipped_cells__", None)
            for number, why in cells if isinstance(cells, list) else []:
                note = _(
                    "{module}.ipynb: cell {number} was skipped, it failed when the notebook was "
                    "imported ({error}); whatever it defines is missing",
                    module=exercise.module,
                    number=number,
                    error=why,
                )
                terminalreporter.write_line(_("warning: {note}", note=note))
