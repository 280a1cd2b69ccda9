"""When each submission was handed in, from where its platform records it.

- ``gradescope``: ``FROM/<submission>/submission_metadata.json``, its ``created_at`` (the file
  Gradescope gives every submission's autograder).
- ``github``: the last commit of the clone ``FROM/<submission>`` (GitHub Classroom), its
  committer date. The date is written by the student's own git, not by GitHub.
- ``nbgrader``: ``timestamp.txt`` that nbgrader's exchange writes on submit and ``nbgrader
  collect`` keeps: ``FROM/<submission>/timestamp.txt`` or ``FROM/<submission>/<assignment>/
  timestamp.txt`` (``FROM`` is the course's ``submitted/`` folder).
- ``csv``: a file the TA keeps, columns ``submission`` and ``submitted_at`` (ISO 8601 with an
  offset or zone).
- ``mtime``: the newest modification time of the files in ``FROM/<submission>``, only when
  asked for: copying or unzipping a submission changes it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from grader.gradebook.policy import UTC, GradebookError, named_zone, parse_time
from grader.gradebook.records import csv_records, read_text

SOURCES = ("gradescope", "github", "nbgrader", "csv", "mtime")


@dataclass(frozen=True)
class Submitted:
    at: dt.datetime
    source: str
    """Where the time was read (a file, a commit)."""


def read_times(
    kind: str, path: Path, submissions: list[str], *, zone: dt.tzinfo | None = None
) -> dict[str, Submitted]:
    """The time of each of ``submissions`` (those it cannot find are left out); ``zone`` is
    the course's, which reads an nbgrader timestamp written with its abbreviation (EDT)."""
    path = Path(path)
    if kind == "csv":
        return _csv(path)
    if not path.is_dir():
        raise GradebookError(f"{path}: not a folder (--times {kind} reads the submissions there)")
    readers = {
        "gradescope": _gradescope,
        "github": _github,
        "nbgrader": lambda folder: _nbgrader(folder, zone),
        "mtime": _mtime,
    }
    if kind not in readers:
        raise GradebookError(f"unknown source of times {kind!r}: use {', '.join(SOURCES)}")
    found = {}
    for submission in submissions:
        folder = path / submission
        if folder.is_dir():
            time = readers[kind](folder)
            if time is not None:
                found[submission] = time
    return found


def _gradescope(folder: Path) -> Submitted | None:
    meta = folder / "submission_metadata.json"
    if not meta.is_file():
        return None
    try:
        created = json.loads(read_text(meta))["created_at"]
    except (ValueError, KeyError, TypeError):
        raise GradebookError(f"{meta}: not Gradescope metadata with a created_at") from None
    return Submitted(parse_time(created, f"{meta}: created_at"), str(meta))


GIT_TIMEOUT_S = 60
GIT_SETTINGS = (
    "core.fsmonitor=false",  # a program git would run to list changed files
    "log.showSignature=false",  # else a signed commit runs the repository's gpg.program
    "protocol.allow=never",  # no fetch of a missing object (a partial clone's remote)
)
"""What a clone's own configuration may not change while its last commit is read: nothing in
it may run a program or reach the network."""


def _github(folder: Path) -> Submitted | None:
    if not (folder / ".git").exists():
        return None
    settings = [f"safe.directory={folder.resolve()}", *GIT_SETTINGS]
    try:
        completed = subprocess.run(
            ["git", "--no-replace-objects", *(arg for s in settings for arg in ("-c", s))]
            + ["-C", str(folder), "log", "-1", "--no-show-signature", "--format=%H %cI"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except subprocess.TimeoutExpired:
        raise GradebookError(f"{folder}: git log gave no answer in {GIT_TIMEOUT_S} s") from None
    if completed.returncode != 0 or not completed.stdout.strip():
        raise GradebookError(f"{folder}: no last commit: {completed.stderr.strip()}")
    commit, when = completed.stdout.split()
    return Submitted(parse_time(when, f"{folder}: commit {commit}"), f"{folder} commit {commit}")


_NBGRADER = re.compile(r"^(?P<when>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\s*(?P<zone>\S*)$")


def _nbgrader(folder: Path, course_zone: dt.tzinfo | None = None) -> Submitted | None:
    found = [folder / "timestamp.txt"] if (folder / "timestamp.txt").is_file() else []
    found = found or sorted(folder.glob("*/timestamp.txt"))
    if not found:
        return None
    if len(found) > 1:
        raise GradebookError(
            f"{folder}: several timestamp.txt ({', '.join(p.parent.name for p in found)}); "
            "give the folder of one assignment"
        )
    text = read_text(found[0]).strip()
    match = _NBGRADER.match(text)
    if not match:
        raise GradebookError(f"{found[0]}:1: {text!r} is not an nbgrader timestamp")
    when, zone, where = match["when"], match["zone"] or "UTC", f"{found[0]}:1"
    if re.fullmatch(r"[+-]\d\d:?\d\d", zone):
        return Submitted(parse_time(when + zone, where), str(found[0]))
    if course_zone is not None and "/" not in zone and zone != "UTC":
        # nbgrader's %Z writes the zone's abbreviation: accept the course zone's own
        local = parse_time(when, where, course_zone)
        if local.tzname() == zone:
            return Submitted(local, str(found[0]))
    return Submitted(parse_time(when, where, named_zone(zone, where)), str(found[0]))


def _mtime(folder: Path) -> Submitted | None:
    files = [p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts]
    if not files:
        return None
    newest = max(files, key=lambda p: p.stat().st_mtime)
    when = dt.datetime.fromtimestamp(newest.stat().st_mtime, UTC)
    return Submitted(when, f"{newest} (file modification time)")


def _csv(path: Path) -> dict[str, Submitted]:
    found: dict[str, Submitted] = {}
    for record in csv_records(path, required=("submission", "submitted_at")):
        submission = record.text("submission")
        if not submission:
            record.fail("no submission")
        if submission in found:
            record.fail(f"{submission!r} is given a time twice (also {found[submission].source})")
        at = parse_time(record.text("submitted_at"), f"{record.where}: submitted_at")
        found[submission] = Submitted(at, record.where)
    return found
