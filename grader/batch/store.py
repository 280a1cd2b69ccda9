"""The results folder (``--out``): one ``<submission>.json`` each, written atomically.

A stored result is read back on a rerun only if the grader itself wrote it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from grader.files import atomic_write
from grader.results.model import SubmissionResult


def write_result(result: SubmissionResult, out: Path) -> Path:
    """Write ``<out>/<submission>.json`` atomically (a crash never leaves half a file)."""
    path = out / f"{result.submission}.json"
    atomic_write(path, lambda f: f.write((result.to_json() + "\n").encode("utf-8")))
    return path


def written_by_grader(path: Path) -> bool:
    """Is ``path`` this user's, a plain file, and neither it nor its folder writable by
    every user? (Workers run as users of their own: a result one could have written is
    never trusted.)"""
    try:
        for item in (path.parent, path):
            info = item.lstat()
            if info.st_uid != os.geteuid() or info.st_mode & 0o002 or stat.S_ISLNK(info.st_mode):
                return False
    except OSError:
        return False
    return True


def read_result(
    path: Path, exercises: list[str], language: str | None = None
) -> SubmissionResult | None:
    """A stored result, if the grader wrote it, it is complete and graded the same exercises
    (in ``language``, where one is given); else ``None`` (the submission is graded again)."""
    if not written_by_grader(path):
        return None
    try:
        result = SubmissionResult.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return None
    if list(result.exercises) != list(exercises) or language not in (None, result.language):
        return None
    return result
