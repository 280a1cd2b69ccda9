"""Run one exercise's hidden suite (pytest, in this process) against a staged submission.

The suites are ordinary pytest files in :mod:`grader.suites`; they run in this
(trusted) process and reach student code only through the sandboxed worker.
A small plugin hands the suite its submission, the run's
:class:`~grader.grading.plan.Plan` and the exercise's :class:`Seat` (through pytest's stash, no
command line) and turns pytest's reports into :class:`~grader.results.model.GradedTest`.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader.errors import ProbeFailure, SuiteError
from grader.grading import dependencies
from grader.grading.plan import Plan
from grader.i18n import _
from grader.kit import SUITES_DIR, Exercise
from grader.results.model import GradedTest
from grader.sandbox.forkserver import ForkServer
from grader.sandbox.leftovers import Ledger


@dataclass
class Seat:
    """Where one exercise's suite runs: the cores it holds and its priority, the submission's
    zygote (its workers are forked from it; ``None``: each starts on its own) and the ledger
    every sandbox of the submission records its leftovers in."""

    cores: list[int] = field(default_factory=list)
    """The cores this exercise's worker holds (grader.sandbox.cpus)."""
    background: bool = False
    """Run the worker at the lowest scheduling priority (it holds no cores)."""
    forkserver: ForkServer | None = field(default=None, compare=False, repr=False)
    ledger: Ledger | None = field(default=None, compare=False, repr=False)


NOTES = pytest.StashKey[list]()
"""Where a suite leaves what the result's warnings should say (a notebook cell skipped)."""
SUBMISSION = pytest.StashKey[Path]()
"""The staged submission folder the suite grades."""
PLAN = pytest.StashKey[Plan]()
"""What the suite grades with (the gate's settings among them)."""
SEAT = pytest.StashKey[Seat]()
"""Where the suite's workers run."""


class Collector:
    """pytest plugin: hands the suite its submission, plan and seat; one GradedTest per test,
    with points from ``@pytest.mark.points``, and the suite's notes for the result's warnings.
    It records the functions whose tests did not pass, for the stand-ins of the tests after
    (:mod:`grader.grading.dependencies`), and has each failure's feedback name its function."""

    def __init__(self, exercise: str, submission: Path, plan: Plan, seat: Seat):
        self.exercise = exercise
        self.submission = submission
        self.plan, self.seat = plan, seat
        self.results: list[GradedTest] = []
        self.errors: list[str] = []
        self.notes: list[str] = []
        self._spent: dict[str, float] = {}

    def pytest_configure(self, config):
        config.stash[dependencies.FAILED] = set()
        config.stash[NOTES] = self.notes
        config.stash[SUBMISSION] = self.submission
        config.stash[PLAN] = self.plan
        config.stash[SEAT] = self.seat

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        """One result per test; its duration counts setup, call and teardown (the fixtures
        that start workers and run probes belong to the test that needs them)."""
        outcome = yield
        report = outcome.get_result()
        spent = self._spent.get(item.nodeid, 0.0) + report.duration
        self._spent[item.nodeid] = spent
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.results.append(self._result(item, call, report, spent))
        elif report.when == "teardown" and self.results and self.results[-1].name == item.name:
            self.results[-1].duration_s = round(spent, 3)

    def pytest_collectreport(self, report):
        if report.failed:
            self.errors.append(str(report.longrepr))

    def _result(self, item, call, report, spent: float) -> GradedTest:
        marker = item.get_closest_marker("points")
        points = marker.args[0] if marker else 0
        status, feedback = _outcome(call, report)
        functions = dependencies.tested(item)
        if status not in ("passed", "skipped"):
            # what its dependents are judged without; the feedback names what it judges
            item.config.stash[dependencies.FAILED].update((self.exercise, f) for f in functions)
            feedback = dependencies.feedback(
                feedback, functions, item.stash.get(dependencies.USED, ())
            )
        return GradedTest(
            name=item.name,
            exercise=self.exercise,
            score=points if status == "passed" else 0,
            max_score=points,
            status=status,
            feedback=feedback,
            duration_s=round(spent, 3),
            metrics=dict(report.user_properties),
        )


def _outcome(call, report) -> tuple[str, str]:
    if report.passed:
        return "passed", ""
    if report.skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        return "skipped", reason.removeprefix("Skipped: ")
    exc = call.excinfo.value if call.excinfo else None
    if isinstance(exc, ProbeFailure):
        return exc.status, exc.feedback()
    if isinstance(exc, AssertionError | pytest.fail.Exception):
        message = str(exc).split("\nassert ")[0].strip()
        return "failed", message or _("the check failed")
    return "error", _(
        "the grader could not check this result ({type}: {error})",
        type=type(exc).__name__,
        error=exc,
    )


def run_suite(
    exercise: Exercise, submission: Path, plan: Plan, seat: Seat | None = None
) -> tuple[list[GradedTest], list[str]]:
    """Grade ``exercise`` of the staged submission folder: one result per hidden test, and
    the notes the suite left for the result's warnings."""
    collector = Collector(exercise.key, Path(submission).resolve(), plan, seat or Seat())
    args = [
        str(exercise.suite),
        "-c",
        str(SUITES_DIR / "pytest.ini"),
        "--rootdir",
        str(SUITES_DIR),
        "-p",
        "no:cacheprovider",
        # these two run gc.collect() twice per session, which costs 0.2 s a time with torch
        # loaded (1.7 s a submission); they report exceptions in __del__ and stray threads
        "-p",
        "no:unraisableexception",
        "-p",
        "no:threadexception",
        # the suites fail through assertions.expect/fail with their own words, never a bare
        # assert: rewriting them (each session, the suites being imported afresh) buys nothing
        "--assert=plain",
        "-q",
    ]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = pytest.main(args, plugins=[collector])
    if code == pytest.ExitCode.INTERRUPTED:
        # Ctrl-C inside pytest: the results so far are partial and must never be written.
        raise KeyboardInterrupt
    if collector.errors or (not collector.results and code != pytest.ExitCode.OK):
        detail = "\n".join(collector.errors) or out.getvalue()[-2000:]
        raise SuiteError(f"the hidden suite for {exercise.key} did not run:\n{detail}")
    return collector.results, collector.notes
