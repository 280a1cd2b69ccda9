"""The results folder read back: every ``<submission>.json`` that ``grader run --out`` wrote.

What reads a class's stored results (the gradebook, the class report) reads them here, with
the model's own deserialisation and no output format.
"""

from __future__ import annotations

from pathlib import Path

from grader.results.model import SubmissionResult


class ResultsFolderError(ValueError):
    """The folder is missing, holds no results, or holds a file that is not one."""


def read_results(folder: Path) -> list[SubmissionResult]:
    """Every stored result ``FOLDER/<submission>.json``, by file name; ResultsFolderError
    naming the folder or the file when there is none or one is not a result."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResultsFolderError(f"{folder}: no such folder of results (grader run --out)")
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append(SubmissionResult.from_json(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ResultsFolderError(f"{path}: not a result of grader run: {exc}") from None
    if not found:
        raise ResultsFolderError(f"{folder}: no results (<submission>.json from grader run --out)")
    return found
