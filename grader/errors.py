"""Every error type of the trusted side, sorted by whose fault it is.

- :class:`GraderError`: the grader cannot do its job at all (bad arguments, no data, no
  sandbox when one is required). The command exits 2 with the reason.
- :class:`SuiteError`: one submission could not be graded because of the grader (a hidden
  suite did not run). That submission is reported as not graded; the batch goes on.
- :class:`SandboxError`: a worker could not be started (the grader's fault, not the student's).
- :class:`ProbeFailure` and its kinds: a call into student code did not return data (it
  raised, hung, died or cheated). The test that made the call fails with the message;
  :class:`ProbeError` is the grader's own probe failing, reported as ``error``.
- The errors of one command's input, each a ``ValueError`` naming the file at fault:
  :class:`CourseConfigError`, :class:`SubmissionError`, :class:`ReleaseError`,
  :class:`DataError`; and :class:`CalibrationError`.

The worker side has its own two (it never imports this module): ``channel.ChannelError``
(a message that breaks the wire format) and ``probes.MissingFile``.
"""

from __future__ import annotations

from grader.i18n import _


class GraderError(RuntimeError):
    """The grader cannot do its job (bad arguments, no data, no sandbox when required)."""


class SuiteError(RuntimeError):
    """A hidden suite did not run on one submission: not the student's fault, and that
    submission alone is reported as not graded."""


class SandboxError(RuntimeError):
    """The grader could not start a worker at all (its own fault, not the student's)."""


class CourseConfigError(ValueError):
    """A course configuration file holds a key or value the grader does not understand."""


class SubmissionError(ValueError):
    """A path that cannot be read as a submission at all."""


class ReleaseError(ValueError):
    """A solution file whose solution markers cannot be turned into a stub."""


class DataError(Exception):
    """The CIFAR-10 source or cache is missing or not what it should be."""


class CalibrationError(RuntimeError):
    """The reference's training could not be measured here."""


class ProbeFailure(Exception):
    """A probe call did not return data: the student's code raised, hung or died."""

    status = "failed"

    def __init__(self, message: str, *, where: str = "", output: str = ""):
        super().__init__(message)
        self.message = message
        self.where = where
        self.output = output

    def feedback(self) -> str:
        if self.where:
            return _("{message} (at {where})", message=self.message, where=self.where)
        return self.message


class ProbeTimeout(ProbeFailure):
    """No answer in time (or the worker stopped reading its requests)."""

    status = "timeout"


class ProbeError(ProbeFailure):
    """The worker says the grader's own probe failed (reported as ``error``, not a failure)."""

    status = "error"


class WorkerDied(ProbeFailure):
    """The worker process ended during a call (exit, crash, killed for memory)."""
