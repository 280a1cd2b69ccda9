"""A batch's progress on stderr: a line per event, a live bar on a terminal, a summary."""

from __future__ import annotations

import time
from pathlib import Path

from grader.batch.plan import Outcome
from grader.results import SubmissionResult


class Progress:
    """Progress on stderr: a line per event; on a terminal also a live bar."""

    def __init__(self, total: int, stream, *, already: int = 0):
        self.total, self.stream, self.start = total, stream, time.monotonic()
        self.done, self.running, self.failures, self.launched = already, 0, 0, already
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        if already:
            self._line(f"{already} of {total} already graded (kept; --force regrades them)")

    def _line(self, text: str) -> None:
        print(("\r\033[K" if self.tty else "") + text, file=self.stream, flush=True)
        self.tick()

    def tick(self) -> None:
        if self.tty:
            width = 30
            filled = width * (self.done + self.failures) // max(self.total, 1)
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(
                f"\r[{bar}] {self.done}/{self.total} done, {self.running} running, "
                f"{self.failures} failed, {time.monotonic() - self.start:.0f} s"
            )
            self.stream.flush()

    def started(self, submission_id: str) -> None:
        self.running, self.launched = self.running + 1, self.launched + 1
        self._line(f"[{self.launched}/{self.total}] grading {submission_id} ...")

    def finished(self, result: SubmissionResult) -> None:
        self.running, self.done = self.running - 1, self.done + 1
        self._line(
            f"[{self.done + self.failures}/{self.total}] {result.submission}: "
            f"{result.score:g}/{result.max_score:g} in {result.duration_s:.1f} s"
        )

    def failed(self, submission_id: str, error: str) -> None:
        self.running, self.failures = self.running - 1, self.failures + 1
        self._line(f"{submission_id}: NOT GRADED: {error}")

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def interrupted(self, kept: int, out: Path | None) -> None:
        self.close()
        where = f"saved in {out}; rerun the same command to finish" if out else "not saved"
        print(f"interrupted: {kept} of {self.total} graded, {where}", file=self.stream)

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
        print("summary:\n" + "\n".join(lines), file=self.stream, flush=True)
