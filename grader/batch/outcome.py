"""What a batch gives back (:class:`Outcome`), and a submission staged for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from grader.i18n import _
from grader.results.model import SubmissionResult
from grader.submissions.loading import Submission, stage


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
        submission.error = _(
            "its files could not be staged ({type}: {error})", type=type(exc).__name__, error=exc
        )
        return None
