"""A batch's progress on stderr: plain lines where stderr is not a terminal, rich's live bar
where it is, and a submission's own text printed as it is."""

from __future__ import annotations

import io

from grader.batch.outcome import Outcome
from grader.batch.progress import Progress
from grader.results.model import SubmissionResult

ODD_ID = "ann[bold]:smile:"
"""A submission id that rich would read as markup and an emoji code."""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _result(name: str, score: float) -> SubmissionResult:
    result = SubmissionResult.build(
        name, [], {"ex1": 20}, device="cpu", isolation="bwrap", grader_version="0", duration_s=2.0
    )
    result.score = score
    return result


def _batch(stream) -> str:
    """One kept from before, one graded, one the grader failed on."""
    progress = Progress(3, stream, already=1)
    progress.started(ODD_ID)
    progress.started("bob")
    progress.finished(_result(ODD_ID, 15))
    progress.failed("bob", "the hidden suite did not run: " + "x" * 200)
    progress.close()
    progress.summary(Outcome(results=[_result(ODD_ID, 15)], reused=1))
    return stream.getvalue()


def test_without_a_terminal_each_event_is_one_plain_line():
    """In CI or a log, is every event one line, with no escape codes, ids as they are (not
    rich markup) and a long reason not wrapped?"""
    lines = _batch(io.StringIO()).splitlines()
    assert "\x1b" not in "".join(lines)
    assert lines[:4] == [
        "1 of 3 already graded (kept; --force regrades them)",
        f"[2/3] grading {ODD_ID} ...",
        "[3/3] grading bob ...",
        f"[2/3] {ODD_ID}: 15/20 in 2.0 s",
    ]
    assert lines[4] == "bob: NOT GRADED: the hidden suite did not run: " + "x" * 200
    assert lines[5] == "summary:" and lines[6].split() == ["submissions", "3"]


def test_on_a_terminal_a_live_bar_shows_done_running_and_who():
    """On a terminal, does the live bar say done/total, what is running and failed, the
    submission being graded, and clear itself at the end (cursor shown again)?"""
    text = _batch(Terminal())
    assert "\x1b[?25l" in text and text.rstrip().count("\x1b[?25h") == 1
    assert f"grading {ODD_ID}, bob" in text and "2 running, 0 failed" in text
    assert "1/3" in text and "3/3" in text and "1 failed" in text
    assert "/min" in text  # the rate, once one was graded in this run
    assert f"[2/3] {ODD_ID}: 15/20 in 2.0 s\n" in text
    assert text.index("summary:") > text.rindex("\x1b[?25h")
