"""What a batch grades every submission with (:class:`Plan`), and what it gives back."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.batch.store import write_result
from grader.course import config as course_config
from grader.course.recipes import GateSettings
from grader.grading.grade import grade_staged
from grader.grading.suite_runner import SuiteOptions
from grader.kit import EXERCISES
from grader.results.model import SubmissionResult
from grader.submissions.loading import Submission, stage


@dataclass
class Plan:
    """What every submission of the batch is graded with (sent to child processes as JSON)."""

    exercises: list[str]
    options: SuiteOptions
    config: str | None = None
    out: str | None = None

    def to_json(self) -> str:
        data = asdict(self)
        root = self.options.data_root
        data["options"]["data_root"] = str(root) if root else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data = json.loads(text)
        options = SuiteOptions(**data.pop("options"))
        if options.data_root:
            options.data_root = Path(options.data_root)
        if options.gate is not None:
            options.gate = GateSettings(**options.gate)
        return cls(options=options, **data)

    def grade(
        self,
        course: course_config.CourseConfig,
        submission_id: str,
        staged: Path | None,
        error: str = "",
        notes=(),
    ) -> SubmissionResult:
        """Grade one staged submission and write its result to ``out`` (raises SuiteError)."""
        result = grade_staged(
            submission_id,
            staged,
            exercises=[EXERCISES[key] for key in self.exercises],
            options=self.options,
            course=course,
            error=error,
            notes=notes,
        )
        write_result(result, Path(self.out))
        return result


@dataclass
class Outcome:
    results: list[SubmissionResult] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """Submission id -> why the grader could not grade it (not the student's fault)."""
    reused: int = 0


def stage_for_grading(submission: Submission, workdir: Path) -> Path | None:
    """The submission's staged folder; None (with ``submission.error`` set) if it has none."""
    if submission.error:
        return None
    try:
        return stage(submission, workdir / submission.id)
    except (OSError, ValueError) as exc:  # SubmissionError among them
        submission.error = f"its files could not be staged ({type(exc).__name__}: {exc})"
        return None
