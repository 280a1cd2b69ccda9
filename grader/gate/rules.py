"""The gate's rules, each decided here once: which exercise has it, the cores it trains with,
and the limit its timed window is held to.

The recipe it trains with (threshold and time factor among its fields) is the course's
(:mod:`grader.course.recipes`, resolved once into the run's plan,
:mod:`grader.grading.plan`); its points and its test's marks are the hidden suite's
(``test_accuracy_gate`` in ``grader/suites/test_ex5.py``).
"""

from __future__ import annotations

from grader.course.config import FALLBACK_TIME_LIMIT_S
from grader.gate.trial import Limit
from grader.sandbox import cpus

EXERCISE = "ex5"
"""The exercise whose suite ends with the gate: it trains the student's pipeline."""
WALL_CAP_FACTOR = 4.0
"""Under a CPU-time limit, the run is also stopped after this many times the limit's wall
time (the reference's wall time times the factor): a pipeline that sleeps."""


def has_gate(exercises) -> bool:
    """Do ``exercises`` (keys) include the one whose suite ends with the gate?"""
    return EXERCISE in exercises


def cores(recipe: dict, device: str) -> int:
    """The cores a gate trains with: its torch threads and loader workers (all, on a GPU)."""
    if device == "cuda" or not recipe.get("threads"):
        return len(cpus.available())
    return int(recipe["threads"]) + int(recipe["num_workers"])


def time_limit(recipe: dict, reference: dict, device: str) -> tuple[Limit, dict]:
    """The gate run's limit and the metrics that say how it was set: ``time_factor`` times the
    reference's cost (``reference``, :mod:`grader.gate.calibration`; CPU seconds on cpu where
    the kernel counts them, else wall seconds), or the course's absolute ``time_limit_s``
    (or, where the reference's cost is unknown, the device's fallback)."""
    if recipe.get("time_limit_s") is not None or not reference.get("wall_s"):
        seconds = recipe.get("time_limit_s") or FALLBACK_TIME_LIMIT_S[device]
        metrics = {"time_basis": "wall", "time_limit_s": seconds}
        return Limit("wall", seconds, seconds), metrics
    basis = "cpu" if device == "cpu" and reference.get("cpu_s") else "wall"
    factor = recipe["time_factor"]
    seconds = factor * reference[f"{basis}_s"]
    metrics = {
        "time_basis": basis,
        "time_factor": factor,
        "reference_s": reference[f"{basis}_s"],
        "time_limit_s": round(seconds, 2),
    }
    wall_cap = WALL_CAP_FACTOR * factor * reference["wall_s"]
    return Limit(basis, seconds, wall_cap), metrics
