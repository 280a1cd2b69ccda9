"""``grader export nbgrader|gradescope|github DEST``: the kit for the platforms courses use.

The Gradescope zip and the GitHub workflow both grade with this kit itself, so they need
its source (the package, its hidden suites and the reference solutions that the trusted
side uses as answer keys): :func:`copy_kit` is the one list of what that is.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.config import REPO_ROOT

TARGETS = ("nbgrader", "gradescope", "github")
NEXT_STEPS = {
    "gradescope": "upload the zip; give the autograder 2 CPUs, 4 GB of memory and a 20-minute "
    "timeout (GRADESCOPE.md in the zip says why)",
    "github": "push the folder to a private repository of the classroom's organisation and "
    "follow CLASSROOM.md",
    "nbgrader": "",
}
"""What the person exporting does next, said after the export."""
KIT_FILES = ("pyproject.toml", "README.md", "grader", "solutions")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "tests")


class ExportError(RuntimeError):
    """The export could not be written (the destination is unusable)."""


def copy_kit(dest: Path) -> Path:
    """Copy the kit's source into ``dest`` (a folder ``pip install -e`` accepts)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in KIT_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=IGNORED, dirs_exist_ok=True)
        else:
            shutil.copy2(source, dest / name)
    return dest


def export(target: str, dest: Path, *, config: Path | None = None) -> Path:
    """Write the ``target`` platform's files under ``dest``; return the main file or folder."""
    from grader import course_config
    from grader.errors import GraderError

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
