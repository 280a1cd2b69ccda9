"""``grader check``: the public tests, run on a student's own exercise files, on CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from grader.config import EXERCISES_DIR


def check(path: Path | None = None) -> int:
    """Run ``exercises/tests`` against the exercise files in ``path``; return pytest's status."""
    folder = Path(path or EXERCISES_DIR).resolve()
    if not folder.is_dir():
        print(f"grader check: {folder} is not a folder", file=sys.stderr)
        return 2
    env = dict(os.environ, EXERCISES_DIR=str(folder), CUDA_VISIBLE_DEVICES="")
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
    return subprocess.call(command, env=env, cwd=folder)
