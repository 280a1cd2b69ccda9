"""Shared helpers of the project's tests."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import fixture_edits
import pytest

REPO = Path(__file__).resolve().parent.parent
GRADER = [sys.executable, "-m", "grader.cli"]
FIXTURES = REPO / "tests" / "fixtures" / "submissions"


def grader(*args, cwd=None, env=None, timeout=900) -> subprocess.CompletedProcess:
    """Run the ``grader`` command line; return the completed process (text output)."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [*GRADER, *map(str, args)],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def json_results(completed: subprocess.CompletedProcess) -> list[dict]:
    """The JSON Lines of a ``grader run --format json``; fails if stdout holds anything else."""
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def index_tests(result: dict) -> dict[str, dict]:
    return {t["name"]: t for t in result["tests"]}


def write_notebook(path: Path, source) -> Path:
    """A one-cell nbformat 4 notebook at ``path`` whose code cell holds ``source`` (a string or
    a list of lines, as Jupyter stores it)."""
    cell = {
        "cell_type": "code",
        "metadata": {},
        "outputs": [],
        "execution_count": None,
        "source": source,
    }
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(notebook))
    return path


def fixture_submission(name: str, dest: Path) -> Path:
    """A whole submission in ``dest``: the reference with the fixture ``name``'s edits and
    files on top (see ``tests/fixture_edits.py``)."""
    return fixture_edits.stage(name, dest)


def write_zip(path: Path, members: dict[str, bytes], *, symlinks=()) -> Path:
    """A zip of ``members`` (name -> bytes), plus ``(name, target)`` symbolic-link entries."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def full_marks(exercise: dict) -> bool:
    """Every graded point earned (the gate's points count as ungraded under --no-gate)."""
    return exercise["score"] == exercise["max_score"] - exercise.get("ungraded_points", 0)


def describe(result: dict) -> str:
    """The tests a result did not pass, a line each (for assertion messages)."""
    return "\n".join(
        f"  {t['exercise']} {t['name']}: {t['status']} {t['feedback'][:200]}"
        for t in result["tests"]
        if t["status"] not in ("passed", "skipped")
    )


def isolations() -> list[str]:
    """The isolations this machine can grade with: bubblewrap where it starts, reduced
    isolation where the grader is root and the Python is readable by other users."""
    from grader.sandbox.policy import bwrap_works, unreadable_python

    found = ["bwrap"] if bwrap_works() else []
    if os.geteuid() == 0 and unreadable_python() is None:
        found.append("process")
    return found


@pytest.fixture(params=isolations() or [pytest.param("none", marks=pytest.mark.skip)])
def isolation(request) -> str:
    """Each isolation this machine can grade with, in turn."""
    return request.param


@pytest.fixture
def make_submission(tmp_path):
    """A submission folder: the reference solutions, with some files replaced."""

    def build(name: str, replace: dict[str, str] | None = None, keep=None) -> Path:
        folder = tmp_path / name
        folder.mkdir(parents=True)
        for path in sorted((REPO / "solutions").glob("ex*.py")):
            if keep is None or path.stem in keep:
                (folder / path.name).write_text(path.read_text())
        for filename, text in (replace or {}).items():
            (folder / filename).write_text(text)
        return folder

    return build


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
"""Debian's chromium, which opens the pages the kit writes (the class report, a feedback page)."""


def chromium_command(profile: Path, *, width: int = 1280, height: int = 2400) -> list[str]:
    """Headless Chromium with a profile of its own, every host name unresolvable and no
    background traffic, in a window of ``width`` x ``height``."""
    return [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ]
