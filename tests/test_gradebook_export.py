"""``grader gradebook`` end to end: results that ``grader run --out`` stored, a roster, a
TA's timestamps, extensions and overrides in, an LMS file and its audit out."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import REPO, fixture_submission, grader

FIXTURES = REPO / "tests" / "fixtures" / "gradebook"
ROSTER = FIXTURES / "canvas_export.csv"


@pytest.fixture(scope="session")
def graded(tmp_path_factory) -> Path:
    """A class graded once (ex1 only, no gate): alice the reference, bob the untouched stub,
    carol a bug that costs part of ex1, zed the reference but in no roster; frank, in the
    roster, handed nothing in."""
    root = tmp_path_factory.mktemp("gradebook")
    group = root / "class"
    for name in ("alice", "zed"):
        (group / name).mkdir(parents=True)
        shutil.copy(REPO / "solutions" / "ex1_gradients.py", group / name)
    (group / "bob").mkdir()
    shutil.copy(REPO / "exercises" / "ex1_gradients.py", group / "bob")
    fixture_submission("bug_sse_loss_mean", group / "carol")
    out = root / "results"
    completed = grader("run", group, "--exercises", "ex1", "--no-gate", "--jobs", "2", "--out", out)
    assert completed.returncode == 0, completed.stderr
    return out


def raw(results: Path, student: str) -> float:
    return json.loads((results / f"{student}.json").read_text())["score"]


def export(results: Path, dest: Path, *extra, fmt="canvas", roster=ROSTER):
    completed = grader(
        "gradebook", results, "--format", fmt, "--roster", roster,
        "--config", FIXTURES / "grader.toml",
        "--times", "csv", "--from", FIXTURES / "timestamps.csv",
        "--overrides", FIXTURES / "overrides.csv",
        "--dest", dest, *extra,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    return completed


def rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.json")}


def test_canvas_csv_cell_by_cell(graded, tmp_path):
    """Is every cell of the Canvas file what the policy gives: alice on time, bob's regrade
    less a day's penalty, carol one day late even with her extension (past the grace across
    the clock change), frank 0; zed, in no roster, listed and not dropped silently?"""
    completed = export(graded, tmp_path, "--extensions", FIXTURES / "extensions.csv")
    carol = max(raw(graded, "carol") - 2, 0)
    assert 0 < raw(graded, "carol") < 20 and raw(graded, "bob") == 0
    assert rows(tmp_path / "canvas.csv") == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "PyTorch exercises (4242)"],
        ["    Points Possible", "", "", "", "", "20"],
        ["Adams, Alice", "1001", "S-1001", "alice", "Lab A", "20"],
        ["Brown, Bob", "1002", "S-1002", "bob", "Lab A", "10"],
        ["Chen, Carol", "1003", "S-1003", "carol", "Lab B", f"{carol:g}"],
        ["Fisher, Frank", "1004", "S-1004", "frank", "Lab B", "0"],
    ]
    assert "in the roster, no submission: frank" in completed.stderr
    assert "not in the roster" in completed.stderr and "zed" in completed.stderr
    assert "canvas_export.csv:7" in completed.stderr  # Canvas's test student: no login id
    assert "a submission time but no result (not graded?): yuki" in completed.stderr
    audit = {
        row["student"]: row for row in json.loads((tmp_path / "audit.json").read_text())["rows"]
    }
    assert audit["bob"]["overrides"][0]["by"] == "ta_dana"
    assert (
        "regrade" in audit["bob"]["explanation"]
        and "1 started day(s)" in audit["bob"]["explanation"]
    )
    assert audit["carol"]["due"] == "2026-03-09T23:59:00-04:00"
    assert audit["carol"]["late_by_s"] == 31 * 60 and audit["carol"]["rule"] == "late"
    assert audit["zed"]["in_roster"] is False and audit["zed"]["rule"] == "hard_deadline"
    assert audit["frank"]["rule"] == "no_submission" and audit["frank"]["final_score"] == 0


def test_changed_extension_changes_the_gradebook_and_nothing_else(graded, tmp_path):
    """Re-exported with carol's extension one day longer, does only her cell change (to her
    raw score), and are the stored results byte for byte the same?"""
    before = digest(graded)
    export(graded, tmp_path / "first", "--extensions", FIXTURES / "extensions.csv")
    longer = tmp_path / "extensions.csv"
    longer.write_text("student,days,reason\ncarol,4,medical note\n")
    export(graded, tmp_path / "second", "--extensions", longer)
    first, second = (
        rows(tmp_path / "first" / "canvas.csv"),
        rows(tmp_path / "second" / "canvas.csv"),
    )
    changed = [(a, b) for a, b in zip(first, second, strict=True) if a != b]
    assert changed == [(first[4], [*first[4][:5], f"{raw(graded, 'carol'):g}"])]
    assert digest(graded) == before


def test_canvas_csv_reads_back_in_canvas_export_layout(graded, tmp_path):
    """Read with the csv module, does the file have the layout Canvas's own gradebook export
    has: its five student columns in order, an assignment column ``Name (id)``, the
    ``Points Possible`` row second with the student columns blank, and each student's
    Canvas ids as the export gives them?"""
    export(graded, tmp_path)
    ours, theirs = rows(tmp_path / "canvas.csv"), rows(ROSTER)
    assert ours[0][:5] == theirs[0][:5]
    assert all(re.fullmatch(r".+ \(\d+\)", name) for name in (ours[0][5], theirs[0][5]))
    assert ours[1][:5] == theirs[1][:5] and ours[1][0] == "    Points Possible"
    assert float(ours[1][5]) == 20
    exported = {row[3]: row[:5] for row in theirs[2:] if row[3]}
    assert {row[3]: row[:5] for row in ours[2:]} == exported
    assert {len(row) for row in ours} == {6}


def test_moodle_csv_keyed_by_email_or_id_number(graded, tmp_path):
    """Is the Moodle file keyed by the roster's email (or ID number), one row per student?"""
    roster = FIXTURES / "moodle_participants.csv"
    export(graded, tmp_path, fmt="moodle", roster=roster)
    assert rows(tmp_path / "moodle.csv")[:3] == [
        ["Email address", "PyTorch exercises"],
        ["alice@example.edu", "20"],
        ["bob@example.edu", "10"],
    ]
    export(
        graded,
        tmp_path,
        "--moodle-key",
        "idnumber",
        "--missing",
        "blank",
        fmt="moodle",
        roster=roster,
    )
    moodle = rows(tmp_path / "moodle.csv")
    assert moodle[0][0] == "ID number" and moodle[-1] == ["frank", ""]


def test_csv_breakdown_has_every_student_and_the_steps(graded, tmp_path):
    """Does the plain CSV show raw score, override, lateness, penalty and final score for every
    row, the submission outside the roster included?"""
    export(graded, tmp_path, fmt="csv")
    table = {row["student"]: row for row in csv.DictReader((tmp_path / "gradebook.csv").open())}
    assert set(table) == {"alice", "bob", "carol", "frank", "zed"}
    bob = table["bob"]
    assert (bob["raw_score"], bob["score_after_override"], bob["penalty"], bob["final_score"]) == (
        "0",
        "12",
        "2",
        "10",
    )
    assert "ta_dana" in bob["override"] and bob["late_by"] == "12 h 1 min"
    assert table["zed"]["in_roster"] == "no" and table["zed"]["final_score"] == "0"


def test_bad_extension_is_the_commands_error_with_file_and_line(graded, tmp_path):
    """Does an extension for an unknown student stop the export (exit 2) naming file and line,
    writing nothing?"""
    bad = tmp_path / "extensions.csv"
    bad.write_text("student,days,reason\ncarol,1,\nzoe,2,flu\n")
    completed = grader(
        "gradebook", graded, "--roster", ROSTER, "--config", FIXTURES / "grader.toml",
        "--times", "csv", "--from", FIXTURES / "timestamps.csv",
        "--extensions", bad, "--dest", tmp_path / "out",
    )  # fmt: skip
    assert completed.returncode == 2
    assert f"{bad}:3: unknown student 'zoe'" in completed.stderr
    assert not (tmp_path / "out").exists()


def test_a_due_date_needs_every_submission_time(graded, tmp_path):
    """With a due date, is an export without a source of times, or with a graded submission
    missing from it, refused (exit 2) rather than treated as on time?"""
    base = ["gradebook", graded, "--roster", ROSTER, "--config", FIXTURES / "grader.toml"]
    completed = grader(*base, "--dest", tmp_path / "a")
    assert completed.returncode == 2 and "say where submission times come from" in completed.stderr
    partial = tmp_path / "timestamps.csv"
    partial.write_text("submission,submitted_at\nalice,2026-03-06T10:00:00Z\n")
    completed = grader(*base, "--times", "csv", "--from", partial, "--dest", tmp_path / "b")
    assert completed.returncode == 2
    assert "no submission time (csv) for bob, carol, zed" in completed.stderr
