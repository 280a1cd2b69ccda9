"""What the kit fixes, whatever the course: its folders, the exercises and their SPEC points.

Also the names of CIFAR-10's classes. The values a course may change, and their defaults,
are in :mod:`grader.course.config`; the gate's recipe fields and their types in
:mod:`grader.course.recipes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
EXERCISES_DIR = REPO_ROOT / "exercises"
SUITES_DIR = PACKAGE_DIR / "suites"
EXAMPLES_DIR = REPO_ROOT / "examples" / "submissions"


@dataclass(frozen=True)
class Exercise:
    key: str
    module: str
    points: int
    title: str

    @property
    def filename(self) -> str:
        return self.module + ".py"

    @property
    def suite(self) -> Path:
        return SUITES_DIR / f"test_{self.key}.py"


EXERCISES: dict[str, Exercise] = {
    e.key: e
    for e in (
        Exercise("ex1", "ex1_gradients", 20, "gradients by hand"),
        Exercise("ex2", "ex2_autograd", 20, "autograd"),
        Exercise("ex3", "ex3_data", 15, "the data pipeline"),
        Exercise("ex4", "ex4_net", 15, "the network"),
        Exercise("ex5", "ex5_train", 30, "training and evaluation"),
    )
}

WORKER_START_TIMEOUT_S = 60.0
"""Time a worker may take to start and answer its first request."""

CLASS_NAMES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
"""CIFAR-10's classes in label order, by the short names the course uses in feedback."""


def select_exercises(names: str | list[str] | None) -> list[Exercise]:
    """``"ex1,ex3"`` -> those exercises, in course order; ``None`` -> all of them."""
    if names is None:
        return list(EXERCISES.values())
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in EXERCISES]
    if unknown or not names:
        raise ValueError(
            f"unknown exercise {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(EXERCISES)}"
        )
    return [e for key, e in EXERCISES.items() if key in names]
