"""``grader check``: the public tests, run on a student's own work, on CPU.

It takes what ``grader run`` takes for one submission (a folder of ``.py`` files or
notebooks, a zip, a single exercise file), stages it the same way (a notebook becomes the
module of its code cells, a cell that fails is skipped and said), and runs
``exercises/tests`` against the staged files. The student's code runs in a plain
subprocess: this is their own machine and their own code.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from grader.kit import EXERCISES, EXERCISES_DIR
from grader.submission import SubmissionError, discover, stage


def check(path: Path | None = None) -> int:
    """Run the public tests against the submission at ``path``; return pytest's status."""
    source = Path(path or EXERCISES_DIR)
    try:
        found = discover([source])
    except SubmissionError as exc:
        print(f"grader check: {exc}", file=sys.stderr)
        return 2
    if len(found) != 1:
        print(
            f"grader check: {source} holds {len(found)} submissions; check one at a time",
            file=sys.stderr,
        )
        return 2
    (submission,) = found
    if submission.error:
        print(f"grader check: {submission.error}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="grader-check-") as scratch:
        staged = stage(submission, Path(scratch) / "submission")
        if not any(staged.iterdir()):
            print(f"grader check: {source} holds no exercise files", file=sys.stderr)
            return 2
        missing = [e.filename for e in EXERCISES.values() if not (staged / e.filename).exists()]
        if missing:
            print(f"not handed in (their tests are left out): {', '.join(missing)}")
        env = dict(os.environ, EXERCISES_DIR=str(staged), CUDA_VISIBLE_DEVICES="", MPLBACKEND="Agg")
        tests = EXERCISES_DIR / "tests"
        command = [
            sys.executable,
            "-m",
            "pytest",
            str(tests),
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tests),
            "-c",
            os.devnull,
        ]
        return subprocess.call(command, env=env, cwd=staged)
