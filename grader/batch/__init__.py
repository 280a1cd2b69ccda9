"""Grade a batch of submissions: resumable, in parallel, and safe to interrupt.

Each result is written to ``<out>/<submission>.json`` atomically the moment it is
graded; a rerun reuses every result already there (unless ``force``), so Ctrl-C loses
nothing that finished. With ``jobs > 1`` each of N trusted child processes
(:mod:`grader.batch.child`, its own session) grades one submission at a time: the
hidden suites run through ``pytest.main``, which must not share a process between
concurrent gradings. On Ctrl-C the parent forwards SIGINT to its children; a child
interrupted mid-submission writes nothing, so no partial result ever lands on disk.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from grader import course_config
from grader.batch.plan import Outcome, Plan, stage_for_grading
from grader.batch.pool import Pool
from grader.batch.progress import Progress
from grader.batch.store import read_result
from grader.errors import SuiteError
from grader.results import SubmissionResult
from grader.submission import Submission

__all__ = ["Outcome", "Plan", "grade_all"]


def grade_all(
    submissions: list[Submission],
    plan: Plan,
    *,
    course: course_config.CourseConfig,
    jobs: int = 1,
    force: bool = False,
    stderr=None,
    on_result=None,
) -> Outcome:
    """Grade ``submissions`` (reusing stored results), in submission order."""
    stderr = stderr or sys.stderr
    outcome = Outcome()
    done: dict[str, SubmissionResult] = {}
    with tempfile.TemporaryDirectory(prefix="grader-batch-") as scratch:
        out = Path(plan.out) if plan.out else Path(scratch) / "results"
        plan = Plan(plan.exercises, plan.options, plan.config, str(out))
        todo = []
        for submission in submissions:
            stored = None if force else read_result(out / f"{submission.id}.json", plan.exercises)
            if stored is not None:
                done[submission.id] = stored
                if on_result:
                    on_result(stored)
            else:
                todo.append(submission)
        outcome.reused = len(done)
        progress = Progress(len(submissions), stderr, already=len(done))

        def finished(submission_id: str, result: SubmissionResult | None, error: str = ""):
            if result is None:
                outcome.failed[submission_id] = error
                progress.failed(submission_id, error)
                return
            done[submission_id] = result
            progress.finished(result)
            if on_result:
                on_result(result)

        workdir = Path(scratch) / "staged"
        try:
            if jobs == 1 or len(todo) <= 1:
                _grade_inline(todo, plan, course, workdir, progress, finished)
            else:
                Pool(min(jobs, len(todo)), plan, workdir, Path(scratch)).run(
                    todo, progress, finished
                )
        except KeyboardInterrupt:
            progress.interrupted(len(done), out if plan.out else None)
            raise
        progress.close()
    outcome.results = [done[s.id] for s in submissions if s.id in done]
    progress.summary(outcome)
    return outcome


def _grade_inline(todo, plan: Plan, course, workdir: Path, progress, finished) -> None:
    for submission in todo:
        progress.started(submission.id)
        try:
            staged = stage_for_grading(submission, workdir)
            result = plan.grade(course, submission.id, staged, submission.error, submission.notes)
        except SuiteError as exc:
            finished(submission.id, None, str(exc))
            continue
        finished(submission.id, result)
