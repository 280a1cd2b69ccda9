"""Grade one staged submission: each exercise's hidden suite in its own worker, the points
scaled to the course's totals, one :class:`~grader.results.model.SubmissionResult`.

Both ``grader run`` (inline) and a batch child process (:mod:`grader.batch`) call
:func:`grade_staged`; it holds the machine's cores a gate trains with while that suite runs.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import replace
from pathlib import Path

from grader import __version__, i18n
from grader.gate import rules
from grader.grading.plan import Plan, Scoring
from grader.grading.suite_runner import Seat, run_suite
from grader.i18n import N_, _
from grader.kit import EXERCISES, WORKER_START_TIMEOUT_S, Exercise
from grader.results.model import GradedTest, SubmissionResult
from grader.sandbox import cpus, policy
from grader.sandbox.forkserver import ForkServer
from grader.sandbox.launch import WorkerSpec
from grader.sandbox.leftovers import Ledger
from grader.sandbox.limits import Limits

WORKERS_ENV = "GRADER_WORKERS"
"""``fork`` (the default): workers are forked from a fork server, which imports torch once
per submission; ``fresh``: each worker is a new Python (a fallback, and to compare)."""
LEFT_BEHIND = N_(
    "the sandbox's uid still held something when it ended ({kept}); that uid is not used again"
)
REDUCED_ISOLATION = N_(
    "isolation was reduced (--isolation process): student code ran as a plain process of "
    "its own user with resource limits, not inside bubblewrap"
)


def _apply_scoring(
    tests: list[GradedTest], exercise: Exercise, scoring: Scoring
) -> list[GradedTest]:
    """Scale the suite's points to the course's total for ``exercise``; set visibility."""
    suite_total = sum(t.max_score for t in tests)
    factor = scoring.points[exercise.key] / suite_total if suite_total else 1.0
    scaled = []
    for t in tests:
        t = replace(t, visibility=scoring.visibility_of(exercise.key, t.name))
        if factor != 1.0:
            t = replace(
                t, score=round(t.score * factor, 4), max_score=round(t.max_score * factor, 4)
            )
        scaled.append(t)
    return scaled


def grade_staged(
    submission_id: str,
    staged: Path | None,
    plan: Plan,
    *,
    error: str = "",
    notes: list[str] | tuple[str, ...] = (),
) -> SubmissionResult:
    """Grade a staged submission folder (``None`` with ``error``: it could not be read), its
    feedback in the plan's language.

    ``notes`` (e.g. a renamed duplicate id) go into the result's warnings.
    """
    with i18n.using(plan.language):
        return _graded(submission_id, staged, plan, error, notes)


def _graded(submission_id: str, staged, plan: Plan, error: str, notes) -> SubmissionResult:
    start = time.monotonic()
    exercises = [EXERCISES[key] for key in plan.exercises]
    tests: list[GradedTest] = []
    messages = {}
    ledger = Ledger()
    if error or staged is None:
        messages = {e.key: _("not graded: {error}", error=error) for e in exercises}
    else:
        slots = cpus.Slots()
        with forkserver_for(staged, plan, ledger) as server:
            for exercise in exercises:
                with slots.hold(cores_for(exercise, plan)) as cores:
                    seat = Seat(cores, background=not cores, forkserver=server, ledger=ledger)
                    graded, suite_notes = run_suite(exercise, staged, plan, seat)
                tests.extend(_apply_scoring(graded, exercise, plan.scoring))
                notes = [*notes, *suite_notes]
    warnings = list(notes)
    left = ledger.record()
    if left["kept"]:
        warnings.append(_(LEFT_BEHIND, kept=", ".join(left["kept"])))
    sandbox = policy.record(plan.isolation, Limits(), plan.device)
    sandbox["leftovers"] = left
    if plan.gate and plan.gate.reference_error:
        warnings.append(plan.gate.reference_error)
    if error:
        warnings.append(_("the submission could not be read: {error}", error=error))
    if plan.isolation != "bwrap":
        warnings.append(_(REDUCED_ISOLATION))
    return SubmissionResult.build(
        submission_id,
        tests,
        {e.key: plan.scoring.points[e.key] for e in exercises},
        messages=messages,
        device=plan.device,
        isolation=plan.isolation,
        grader_version=__version__,
        duration_s=round(time.monotonic() - start, 2),
        warnings=warnings,
        sandbox=sandbox,
        language=plan.language,
    )


@contextlib.contextmanager
def forkserver_for(staged: Path, plan: Plan, ledger: Ledger):
    """The fork server that forks this submission's workers for the plan's exercises (its sandbox
    started on the first worker it forks, and ended with the submission, so that no other
    submission's code ever meets anything this one left), or None where
    ``GRADER_WORKERS=fresh`` asks for a new Python per worker."""
    if os.environ.get(WORKERS_ENV, "fork") == "fresh":
        yield None
        return
    spec = WorkerSpec(
        submission=Path(staged).resolve(),
        device=plan.device,
        isolation=plan.isolation,
        background=True,
        exercises=plan.exercises,
    )
    server = ForkServer(spec, start_timeout_s=WORKER_START_TIMEOUT_S, ledger=ledger)
    try:
        yield server
    finally:
        server.close()


def cores_for(exercise: Exercise, plan: Plan) -> int:
    """The cores an exercise holds: the gate's, where it trains; none elsewhere (those
    workers run at the lowest priority on whatever cores no gate holds)."""
    if exercise.key == rules.EXERCISE and plan.gate:
        return rules.cores(plan.gate.recipe, plan.device)
    return 0
