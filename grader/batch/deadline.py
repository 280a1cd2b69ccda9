"""How long the trusted side may spend on one submission before its grading is stopped.

The default follows from the limits every submission is graded under: each exercise's
wall-clock budget for calls into student code, with room beyond it for starting and ending a
fork server and a worker; for the gate, its timed window's wall-clock cap (the import,
preparation and training) and the weights' trip back, once for its own run and once for each
other job whose gate it may wait behind for its cores; and a margin for the trusted side's
own work (pytest, the gate's evaluation). Nothing a correct submission does comes near it:
it is there for a trusted side that never ends. A course sets it with
``grading_deadline_s``, a run with ``--deadline``.
"""

from __future__ import annotations

from grader.gate import rules
from grader.gate.trial import TRANSFER_S
from grader.grading.plan import Plan
from grader.kit import WORKER_START_TIMEOUT_S
from grader.sandbox.limits import Limits

MARGIN_S = 300.0
"""The trusted side's own work on one submission: pytest, the checks, the gate's evaluation."""
STARTS_S = 3 * WORKER_START_TIMEOUT_S
"""Per exercise, beyond its budget: a fork server's start, a worker's, and ending them."""


def default_deadline_s(plan: Plan, jobs: int) -> float:
    """The wall seconds one submission's grading may take under ``plan``, ``jobs`` at a time."""
    seconds = MARGIN_S + len(plan.exercises) * (Limits().exercise_budget_s + STARTS_S)
    gate = plan.gate
    if gate is not None:
        limit, _ = rules.time_limit(gate.recipe, gate.reference, plan.device)
        window = max(limit.wall_cap_s, limit.seconds + TRANSFER_S)
        seconds += window * max(1, jobs)
    return seconds
