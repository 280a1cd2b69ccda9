"""Whose fault a probe's exception is: the student's code, or the grader's own probe.

The worker asks :func:`kind_of` for every exception a probe raised and sends the answer as
the reply's kind (:data:`grader.inside.contract.KIND_STUDENT` or
:data:`~grader.inside.contract.KIND_GRADER`;
the trusted side reports the latter as ``error``, "the grader's probe ... failed").

It is the grader's only where no student value can have caused it:

- no frame of the submission is in the traceback (nor in the exception it was raised
  while handling), so the student's code was not running when it was raised;
- the statement that raised is the grader's own (a file of the grader package), not a
  library's that the probe handed student objects to;
- and it is an error a program makes about itself, not about the data it got: a name not
  defined (``NameError``), a module not there (``ImportError``), a grader file that does not
  parse (``SyntaxError``), an attribute a module does not have (``np.arrray``).

Anything else stays the student's, as before: a probe that unpacks what the student's
function returned (``coeffs, losses = fit_sine()`` on ``None``) fails in the probe's frame,
with no student frame left, and that is still the student's missing ``return``.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
import types

from grader.inside.contract import KIND_GRADER, KIND_STUDENT, SUBMISSION_ENV

GRADER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""The grader package as the worker runs it (the copy in its private folder)."""


def is_student_file(filename: str, root: str) -> bool:
    """A file of the submission, or a notebook's cell ("ex3_data.ipynb, cell 4")."""
    return filename.startswith(root.rstrip(os.sep) + os.sep) or ".ipynb, cell " in filename


def _chain(exc: BaseException):
    """``exc`` and the exceptions it was raised from or while handling."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _self_inflicted(exc: BaseException, root: str) -> bool:
    """An error a program makes about its own code, whatever data it was given."""
    if isinstance(exc, NameError | ImportError):
        return True
    if isinstance(exc, SyntaxError):
        return not is_student_file(exc.filename or "", root)
    if isinstance(exc, AttributeError):
        obj = getattr(exc, "obj", None)
        named = re.match(r"module '([\w.]+)' has no attribute", str(exc))
        if obj is None and named:  # raised by a module's own __getattr__ (numpy's)
            obj = sys.modules.get(named.group(1))
        home = getattr(obj, "__file__", None) or ""
        return isinstance(obj, types.ModuleType) and not is_student_file(home, root)
    return False


def _raised_by_grader(frames) -> bool:
    """Did the grader's own statement raise (or call the module ``__getattr__`` that did)?"""
    if frames and frames[-1].name == "__getattr__":
        frames = frames[:-1]
    return bool(frames) and os.path.abspath(frames[-1].filename).startswith(GRADER_DIR + os.sep)


def kind_of(exc: BaseException, root: str | None = None) -> str:
    """``KIND_GRADER`` for a fault of the grader's own probe code, else ``KIND_STUDENT``."""
    root = root or os.environ.get(SUBMISSION_ENV, "/submission")
    if type(exc).__name__ == "MissingFile" or not isinstance(exc, Exception):
        return KIND_STUDENT  # a file not handed in; sys.exit, KeyboardInterrupt
    for link in _chain(exc):
        frames = traceback.extract_tb(link.__traceback__)
        if any(is_student_file(f.filename, root) for f in frames):
            return KIND_STUDENT
        if isinstance(link, SyntaxError) and is_student_file(link.filename or "", root):
            return KIND_STUDENT
    frames = traceback.extract_tb(exc.__traceback__)
    return KIND_GRADER if _raised_by_grader(frames) and _self_inflicted(exc, root) else KIND_STUDENT
