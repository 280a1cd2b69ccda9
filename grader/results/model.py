"""The one result model: every output format renders these dataclasses.

The canonical form is JSON, one strict object per result (:meth:`SubmissionResult.to_json`,
read back by :meth:`SubmissionResult.from_json`), documented in docs/results.md; the field
names are fixed by the course contract. The model serialises itself: storing a result needs
no renderer.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

from grader.text import clean

STATUSES = ("passed", "failed", "error", "timeout", "skipped")
VISIBILITIES = ("public", "hidden", "after_due_date")


@dataclass
class GradedTest:
    name: str
    exercise: str
    score: float
    max_score: float
    status: str
    feedback: str = ""
    duration_s: float = 0.0
    metrics: dict = field(default_factory=dict)
    visibility: str = "public"
    """Who sees this test: ``public``, ``hidden`` or ``after_due_date`` (the course config)."""

    def __post_init__(self):
        self.feedback = clean(self.feedback)  # text from student code, whatever the path
        if self.status not in STATUSES:
            raise ValueError(f"unknown test status {self.status!r}")
        if self.visibility not in VISIBILITIES:
            raise ValueError(f"unknown test visibility {self.visibility!r}")

    @property
    def graded(self) -> bool:
        """Skipped tests (the gate under ``--no-gate``) count as not graded."""
        return self.status != "skipped"


@dataclass
class ExerciseResult:
    score: float
    max_score: float
    ungraded_points: float = 0.0
    message: str = ""

    def __post_init__(self):
        self.message = clean(self.message)


@dataclass
class SubmissionResult:
    submission: str
    score: float
    max_score: float
    exercises: dict[str, ExerciseResult]
    tests: list[GradedTest]
    device: str
    isolation: str
    grader_version: str
    duration_s: float
    ungraded_points: float = 0.0
    warnings: list[str] = field(default_factory=list)
    sandbox: dict = field(default_factory=dict)
    """What isolated the student's code and which limits held (``grader.sandbox.policy``)."""
    language: str = "en"
    """The language its feedback and warnings are written in (``grader.i18n``)."""

    def __post_init__(self):
        self.warnings = [clean(w) for w in self.warnings]

    @classmethod
    def build(
        cls,
        submission: str,
        tests: list[GradedTest],
        max_points: dict[str, float],
        *,
        messages: dict[str, str] | None = None,
        **info,
    ) -> SubmissionResult:
        """Sum test scores per exercise; exercises listed in ``max_points`` always appear."""
        messages = messages or {}
        exercises = {}
        for name, max_score in max_points.items():
            own = [t for t in tests if t.exercise == name]
            exercises[name] = ExerciseResult(
                score=_round(sum(t.score for t in own)),
                max_score=max_score,
                ungraded_points=_round(sum(t.max_score for t in own if not t.graded)),
                message=messages.get(name, ""),
            )
        return cls(
            submission=submission,
            score=_round(sum(e.score for e in exercises.values())),
            max_score=_round(sum(e.max_score for e in exercises.values())),
            exercises=exercises,
            tests=tests,
            ungraded_points=_round(sum(e.ungraded_points for e in exercises.values())),
            **info,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SubmissionResult:
        data = dict(data)
        data["exercises"] = {k: ExerciseResult(**v) for k, v in data["exercises"].items()}
        data["tests"] = [GradedTest(**t) for t in data["tests"]]
        return cls(**data)

    def to_json(self) -> str:
        """One JSON object on one line; NaN and infinities become null (strict JSON)."""
        return json.dumps(_strict(self.to_dict()), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> SubmissionResult:
        return cls.from_dict(json.loads(text))

    def gate_metrics(self) -> dict:
        """The accuracy gate's measured numbers (empty when the gate did not run)."""
        for test in self.tests:
            if "threshold" in test.metrics:
                return test.metrics
        return {}

    def failed_tests(self) -> list[GradedTest]:
        return [t for t in self.tests if t.status not in ("passed", "skipped")]

    def failure_groups(self) -> list[list[GradedTest]]:
        """The failed tests, those of one exercise that failed for the same reason together
        (an import error is said once, not once per test), in the order they ran."""
        groups: dict[tuple[str, str], list[GradedTest]] = {}
        for test in self.failed_tests():
            groups.setdefault((test.exercise, test.feedback), []).append(test)
        return list(groups.values())


def _strict(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value


def _round(value: float) -> float:
    rounded = round(value, 4)
    return int(rounded) if math.isclose(rounded, int(rounded)) else rounded
