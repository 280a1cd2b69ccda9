"""Every output format renders the one result model,
:class:`~grader.results.model.SubmissionResult`.

``table`` (for people), ``json`` (JSON Lines, canonical), ``csv`` (a gradebook),
``junit`` (JUnit XML), ``gradescope`` (Gradescope's results.json, one object per line when
there are several submissions) and ``github`` (``::error`` annotations on stdout and a
Markdown step summary, appended to ``$GITHUB_STEP_SUMMARY`` where that is set).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from grader.results.formats import github, gradebook, gradescope, junit
from grader.results.formats.jsonl import to_json_line
from grader.results.formats.table import table
from grader.results.model import SubmissionResult

FORMATS = ("table", "json", "csv", "junit", "gradescope", "github")


def render(fmt: str, results: list[SubmissionResult]) -> str:
    """The whole batch in ``fmt``, as the text that goes to stdout."""
    if fmt == "table":
        return table(results)
    if fmt == "json":
        return "".join(to_json_line(r) + "\n" for r in results)
    if fmt == "csv":
        return gradebook.render(results)
    if fmt == "junit":
        return junit.render(results)
    if fmt == "gradescope":
        return "".join(json.dumps(gradescope.results_json(r)) + "\n" for r in results)
    if fmt == "github":
        return github.annotations(results) + github.summary(results)
    raise ValueError(f"unknown format {fmt!r}: use {', '.join(FORMATS)}")


def emit(fmt: str, results: list[SubmissionResult], stdout) -> None:
    """Write ``fmt`` to stdout; the github step summary goes to ``$GITHUB_STEP_SUMMARY`` if set."""
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if fmt == "github" and summary_file:
        stdout.write(github.annotations(results))
        with Path(summary_file).open("a", encoding="utf-8") as handle:
            handle.write(github.summary(results))
        return
    stdout.write(render(fmt, results))


__all__ = ["FORMATS", "emit", "render", "to_json_line"]
