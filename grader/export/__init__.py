"""``grader export nbgrader|gradescope|github DEST``: the kit for the platforms courses use.

Each target is a module of its own; the Gradescope zip and the GitHub workflow both carry
the kit's source (:mod:`grader.export.bundle`).
"""

from __future__ import annotations

from pathlib import Path

from grader.course import config as course_config
from grader.errors import GraderError

TARGETS = ("nbgrader", "gradescope", "github")
NEXT_STEPS = {
    "gradescope": "upload the zip; give the autograder 2 CPUs, 4 GB of memory and a 20-minute "
    "timeout (GRADESCOPE.md in the zip says why)",
    "github": "push the folder to a private repository of the classroom's organisation and "
    "follow CLASSROOM.md",
    "nbgrader": "",
}
"""What the person exporting does next, said after the export."""


def export(target: str, dest: Path, *, config: Path | None = None) -> Path:
    """Write the ``target`` platform's files under ``dest``; return the main file or folder."""
    try:
        course = course_config.load(config)
    except ValueError as exc:
        raise GraderError(str(exc)) from None
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise GraderError(f"{dest} exists and is not a folder")
    dest.mkdir(parents=True, exist_ok=True)
    if target == "gradescope":
        from grader.export.gradescope import build

        return build(dest, course_file=Path(course.source) if course.source else None)
    if target == "github":
        from grader.export.github import build

        return build(dest)
    if target == "nbgrader":
        from grader.export.nbgrader import build

        return build(dest, course)
    raise GraderError(f"unknown export target {target!r}: use {', '.join(TARGETS)}")
