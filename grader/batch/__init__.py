"""Grade a batch of submissions: resumable, in parallel, each under a deadline, safe to interrupt.

Each result is written to ``<out>/<submission>.json`` atomically the moment it is
graded; a rerun reuses every result already there (unless ``force``), so Ctrl-C loses
nothing that finished. Every submission is graded in a trusted child process
(:mod:`grader.batch.child`, its own session), ``jobs`` of them at a time (one for
``jobs=1``): the hidden suites run through ``pytest.main``, which must not share a process
between concurrent gradings, and a child can be stopped whatever it is doing. A child past
its submission's deadline (:mod:`grader.batch.deadline`) is ended with its sandboxes and that
submission alone is reported as not graded; the class goes on. On Ctrl-C the parent forwards
SIGINT to its children and ends them after a short grace; a child interrupted
mid-submission writes nothing, so no partial result ever lands on disk.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from grader import i18n
from grader.batch.deadline import default_deadline_s
from grader.batch.outcome import Outcome
from grader.batch.pool import Pool
from grader.batch.progress import Progress
from grader.batch.store import read_result
from grader.grading.plan import Plan
from grader.results.model import SubmissionResult
from grader.submissions.loading import Submission

__all__ = ["Outcome", "grade_all"]


def grade_all(
    submissions: list[Submission],
    plan: Plan,
    *,
    jobs: int = 1,
    force: bool = False,
    stderr=None,
    on_result=None,
) -> Outcome:
    """Grade ``submissions`` (reusing stored results), in submission order; the plan's
    ``deadline_s`` (else :func:`~grader.batch.deadline.default_deadline_s`) bounds each one's
    grading."""
    stderr = stderr or sys.stderr
    outcome = Outcome()
    done: dict[str, SubmissionResult] = {}
    with tempfile.TemporaryDirectory(prefix="grader-batch-") as scratch:
        out = Path(plan.out) if plan.out else Path(scratch) / "results"
        plan = plan.with_out(out)
        todo = []
        for submission in submissions:
            path = out / f"{submission.id}.json"
            stored = None if force else read_result(path, plan.exercises, plan.language)
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
        size = min(jobs, len(todo))
        deadline_s = plan.deadline_s or default_deadline_s(plan, size)
        try:
            if todo:
                pool = Pool(size, plan, workdir, Path(scratch), deadline_s)
                with i18n.using(plan.language):  # what staging tells a student
                    pool.run(todo, progress, finished)
        except KeyboardInterrupt:
            progress.interrupted(len(done), out if plan.out else None)
            raise
        progress.close()
    outcome.results = [done[s.id] for s in submissions if s.id in done]
    progress.summary(outcome)
    return outcome
