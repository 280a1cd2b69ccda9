"""A batch's progress on stderr: a line per event, a live bar on a terminal, a summary.

The bar is rich's (done/total, the submissions being graded now, the rate, elapsed time and
an estimate of what is left); it is drawn only where stderr is a terminal. Elsewhere (CI, a
log file, a pipe) the same events are plain lines, with no escape codes. Text from a
submission (its id, the reason it was not graded) is printed as it is: no rich markup, no
emoji codes, no wrapping.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as LiveBar

from grader.batch.outcome import Outcome
from grader.results.model import SubmissionResult

ESTIMATE_WINDOW_S = 900
"""How far back the estimate of the time left looks (a submission takes minutes)."""


class Progress:
    """Progress on ``stream``: a line per event; on a terminal also a live bar."""

    def __init__(self, total: int, stream, *, already: int = 0):
        self.total, self.start = total, time.monotonic()
        self.already = already
        self.done, self.failures, self.launched = already, 0, already
        self.running: list[str] = []
        isatty = getattr(stream, "isatty", None)
        self.console = Console(
            file=stream,
            force_terminal=bool(isatty and isatty()),
            markup=False,
            emoji=False,
            highlight=False,
            soft_wrap=True,
        )
        self.bar: LiveBar | None = None
        if self.console.is_terminal:
            self.bar = LiveBar(
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                TextColumn("{task.description}", markup=False),
                console=self.console,
                transient=True,
                speed_estimate_period=ESTIMATE_WINDOW_S,
            )
            self.task = self.bar.add_task("", total=total, completed=already, counts="")
            self.bar.start()
        self._refresh()
        if already:
            self._line(f"{already} of {total} already graded (kept; --force regrades them)")

    def _line(self, text: str) -> None:
        self._refresh()
        self.console.print(text)

    def _refresh(self) -> None:
        if self.bar is None:
            return
        elapsed = time.monotonic() - self.start
        graded_now = self.done + self.failures - self.already
        counts = f"{len(self.running)} running, {self.failures} failed"
        if graded_now > 0 and elapsed > 0:
            counts += f", {graded_now / elapsed * 60:.1f}/min"
        grading = ", ".join(self.running)
        self.bar.update(
            self.task,
            completed=self.done + self.failures,
            counts=counts,
            description=f"grading {grading}" if grading else "",
            refresh=True,
        )

    def started(self, submission_id: str) -> None:
        self.running.append(submission_id)
        self.launched += 1
        self._line(f"[{self.launched}/{self.total}] grading {submission_id} ...")

    def _stopped(self, submission_id: str) -> None:
        if submission_id in self.running:
            self.running.remove(submission_id)

    def finished(self, result: SubmissionResult) -> None:
        self._stopped(result.submission)
        self.done += 1
        self._line(
            f"[{self.done + self.failures}/{self.total}] {result.submission}: "
            f"{result.score:g}/{result.max_score:g} in {result.duration_s:.1f} s"
        )

    def failed(self, submission_id: str, error: str) -> None:
        self._stopped(submission_id)
        self.failures += 1
        self._line(f"{submission_id}: NOT GRADED: {error}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def interrupted(self, kept: int, out: Path | None) -> None:
        self.close()
        where = f"saved in {out}; rerun the same command to finish" if out else "not saved"
        self.console.print(f"interrupted: {kept} of {self.total} graded, {where}")

    def summary(self, outcome: Outcome) -> None:
        elapsed = time.monotonic() - self.start
        graded = len(outcome.results) - outcome.reused
        rows = [
            ("submissions", str(self.total)),
            ("graded now", str(graded)),
            ("kept from an earlier run", str(outcome.reused)),
            ("not graded (grader failure)", str(len(outcome.failed))),
            ("wall time", f"{elapsed:.1f} s"),
        ]
        if graded:
            rows.append(("submissions per minute", f"{graded / elapsed * 60:.1f}"))
        if outcome.results:
            mean = sum(r.score for r in outcome.results) / len(outcome.results)
            rows.append(("mean score", f"{mean:.1f}/{outcome.results[0].max_score:g}"))
        width = max(len(name) for name, _ in rows)
        lines = [f"  {name.ljust(width)}  {value}" for name, value in rows]
        lines += [f"  not graded: {sid}: {why}" for sid, why in outcome.failed.items()]
        self.console.print("summary:\n" + "\n".join(lines))
