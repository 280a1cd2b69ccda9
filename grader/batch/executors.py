"""Where a class is graded, behind one seam (submitit's shape): an executor takes the
request and the submissions and gives back their outcome.

:class:`Local` grades on this machine: the request resolved here into the plan
(:func:`grader.grading.plan.resolve`), then :func:`grader.batch.grade_all`. :class:`Slurm`
checks here what can be checked, prepares the data once on the shared file system, and
grades as a Slurm job array (:mod:`grader.batch.slurm`) whose every task is a :class:`Local`
on its node, resolving the plan there.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grader.batch import grade_all, slurm
from grader.batch.outcome import Outcome
from grader.course.config import SlurmSettings
from grader.grading.plan import Request, check_device, gate_data, gate_recipe, resolve
from grader.sandbox import policy
from grader.submissions.loading import Submission


class Local:
    """Grade on this machine, ``jobs`` submissions at a time (stored results kept)."""

    def __init__(self, *, on_node: bool = False):
        self.on_node = on_node

    def grade(
        self,
        request: Request,
        submissions: list[Submission],
        *,
        jobs: int = 1,
        force: bool = False,
        stderr=None,
        on_result=None,
    ) -> Outcome:
        stderr = stderr or sys.stderr
        if request.out is not None and not self.on_node:
            slurm.follow_running_array(Path(request.out), stderr, force=force)
        plan = resolve(request, on_node=self.on_node, stderr=stderr)
        return grade_all(
            submissions, plan, jobs=jobs, force=force, stderr=stderr, on_result=on_result
        )


def grade_on_node(request: Request, submissions: list[Submission], jobs: int) -> Outcome:
    """A Slurm array task's grading: :class:`Local` on the node, stored results kept."""
    return Local(on_node=True).grade(request, submissions, jobs=jobs)


class Slurm:
    """Grade as a Slurm job array (``settings``: the course's slurm table with the run's
    ``--slurm-set`` over it); ``detach``: submit and return."""

    def __init__(self, settings: SlurmSettings, *, detach: bool = False):
        self.settings, self.detach = settings, detach

    def grade(
        self,
        request: Request,
        submissions: list[Submission],
        *,
        jobs: int = 1,
        force: bool = False,
        stderr=None,
        on_result=None,
    ) -> Outcome | None:
        stderr = stderr or sys.stderr
        check_device(request.device)
        policy.check_choice(request.isolation)
        device_kind = "cuda" if request.device == "cuda" else "cpu"
        gate_recipe(request.course, device_kind, request.gate_overrides)
        if request.gate:  # prepared once here, on the shared file system; each node checks it
            root = Path(request.data_root) if request.data_root else None
            request.data_root = str(gate_data(root, stderr).resolve())
        return slurm.grade_on_slurm(
            submissions,
            grade=grade_on_node,
            request=request,
            settings=self.settings,
            device=request.device,
            exercises=request.exercises,
            out=Path(request.out),
            jobs=jobs,
            force=force,
            detach=self.detach,
            stderr=stderr,
            on_result=on_result,
        )


EXECUTORS = ("local", "slurm")
