"""GitHub Classroom: a grading repository that course staff own, not a workflow students hold.

A workflow in a student's repository runs with whatever the student commits: it could be
edited to print a token, or to read the hidden suites it checks out. So grading happens in
a private repository of the staff's (``grader export github DEST`` writes it): the kit in
``kit/``, the workflow ``.github/workflows/grade-class.yml`` (started by staff only, by hand
or on a schedule), ``classroom.py`` (:mod:`grader.export.classroom`: lists the assignment's
student repositories, fetches the exercise files of each one's newest commit without
running anything of the repository's, and optionally posts each score back as a commit
status) and ``CLASSROOM.md`` (the set-up). Student repositories need no workflow and no
secret.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.export.bundle import copy_kit

CLASSROOM_SCRIPT = Path(__file__).with_name("classroom.py")
"""The fetch and post script (standard library only), copied as it is."""

PROGRAMS = Path(__file__).with_name("programs")
WORKFLOW = PROGRAMS / "grade-class.yml"
"""The workflow that grades the class, copied as it is."""
CLASSROOM_MD = PROGRAMS / "CLASSROOM.md"
"""The set-up, for the course staff."""


def build(dest: Path) -> Path:
    """Write the staff grading repository into ``dest``; return its workflow."""
    copy_kit(dest / "kit")
    shutil.copyfile(CLASSROOM_SCRIPT, dest / "classroom.py")
    shutil.copyfile(CLASSROOM_MD, dest / "CLASSROOM.md")
    path = dest / ".github" / "workflows" / "grade-class.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(WORKFLOW, path)
    return path
