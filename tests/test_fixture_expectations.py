"""Every fixture folder says what it must earn, in an ``expected.toml`` the harness can read.

``tests/fixture_expectations.py`` reads the files; here: each folder has one, each one lies in
a fixture folder, none is ever staged with the submission, and a file that says something
wrong is refused with its path named.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import fixture_edits
import fixture_expectations as expectations
import pytest
from conftest import FIXTURES, REPO


def test_every_fixture_folder_has_an_expected_toml_that_reads():
    """Does every folder of tests/fixtures/submissions/ say what it earns, readably?"""
    folders = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
    missing = [name for name in folders if not (FIXTURES / name / expectations.EXPECTED).is_file()]
    assert not missing, f"no {expectations.EXPECTED} in {missing}"
    assert sorted(expectations.load()) == folders


def test_every_expected_toml_lies_in_a_fixture_folder():
    """Is every expected.toml under tests/fixtures/ the file of a fixture folder, beside the
    exercise files it stages (not one left where its fixture was)?"""
    strays = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "tests" / "fixtures").rglob(expectations.EXPECTED))
        if path.parent.parent != FIXTURES or not fixture_edits.fixture_files(path.parent.name)
    ]
    assert not strays, f"expected.toml without its fixture: {strays}"


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()))
def test_expected_toml_is_never_staged(name, tmp_path):
    """Is the submission staged from a fixture folder byte for byte the one staged from the
    same folder without its expected.toml?"""
    bare = tmp_path / "bare"
    shutil.copytree(FIXTURES / name, bare / name, ignore=shutil.ignore_patterns("expected.toml"))
    staged = fixture_edits.stage(name, tmp_path / "staged")
    without = fixture_edits.stage(name, tmp_path / "without", root=bare)
    files = {p.name: p.read_bytes() for p in staged.iterdir()}
    assert expectations.EXPECTED not in files
    assert files == {p.name: p.read_bytes() for p in without.iterdir()}


# -- what a wrong file is told -----------------------------------------------------------------

EX1 = "ex1_gradients.py"
GOOD = {
    "bug_x": 'exercise = "ex1"\nfunction = "sse_loss"\n'
    '[fails]\ntest_sse_loss_is_sum_of_squares = "mean"\n',
    "correct_x": 'description = "written otherwise"\n',
    "broken_x": 'exercise = "ex1"\nwords = ["TypeError"]\n',
    "hostile_x": 'exercise = "ex1"\nfeedback = "ended"\n[fixture_batch]\nfeedback = ""\n',
    "hostile_gate_x": 'fails_by = "limit"\n',
}


def fixture(root: Path, name: str, toml: str | None, files=(EX1,)) -> Path:
    """A fixture folder ``name`` under ``root`` with ``files`` and that expected.toml."""
    folder = root / name
    folder.mkdir(parents=True)
    for file in files:
        (folder / file).write_text("x = 1\n")
    if toml is not None:
        (folder / expectations.EXPECTED).write_text(toml)
    return folder


@pytest.mark.parametrize("name", sorted(GOOD))
def test_a_right_file_of_each_kind_reads(tmp_path, name):
    """Does a file that says what its kind needs read without complaint?"""
    assert expectations.read(fixture(tmp_path, name, GOOD[name])).fixture == name


WRONG = {
    "unknown key": ("correct_x", 'description = "d"\nexercise = "ex1"\n', "unknown key"),
    "missing key": ("bug_x", 'exercise = "ex1"\n[fails]\n', "missing key 'function'"),
    "wrong type": ("bug_x", 'exercise = "ex1"\nfunction = 3\n[fails]\n', "function must be"),
    "wrong choice": ("hostile_gate_x", 'fails_by = "late"\n', "fails_by must be one of"),
    "no such exercise": (
        "broken_x", 'exercise = "ex9"\nwords = ["w"]\n', "no exercise 'ex9'"
    ),
    "exercise not changed": (
        "bug_x", 'exercise = "ex2"\nfunction = "train_step"\n[fails]\n', "not an exercise it"
    ),
    "no such test": (
        "bug_x", 'exercise = "ex1"\nfunction = "f"\n[fails]\ntest_nothing = "w"\n',
        "has no test test_nothing",
    ),
    "broken test not in suite": (
        "broken_x", 'exercise = "ex1"\nwords = ["w"]\nfails = ["test_nothing"]\n', "no test"
    ),
    "two functions without why": (
        "bug_x", 'exercise = "ex1"\nfunction = ["f", "g"]\n[fails]\n', "says why"
    ),
    "batch without the exercise": (
        "broken_x", 'exercise = "ex1"\nwords = ["w"]\nbatch = "b"\n', "does not grade ex1"
    ),
    "not TOML": ("correct_x", "description = \n", "not TOML"),
    "no expected.toml": ("correct_x", None, "missing; every fixture folder"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(WRONG))
def test_a_wrong_file_is_refused_naming_it(tmp_path, case):
    """Is each mistake in an expected.toml an ExpectationError that names the file?"""
    name, toml, words = WRONG[case]
    folder = fixture(tmp_path, name, toml)
    with pytest.raises(expectations.ExpectationError) as raised:
        expectations.read(folder)
    assert str(folder / expectations.EXPECTED) in str(raised.value)
    assert words in str(raised.value)


def test_a_folder_of_no_kind_or_without_exercise_files_is_refused(tmp_path):
    """Is a folder whose name says no kind, or an expected.toml whose folder stages nothing
    (its exercise files gone), refused by load?"""
    fixture(tmp_path / "a", "stray_x", GOOD["correct_x"])
    with pytest.raises(expectations.ExpectationError, match="stray_x: not a kind of fixture"):
        expectations.load(tmp_path / "a")
    fixture(tmp_path / "b", "correct_x", GOOD["correct_x"], files=())
    with pytest.raises(expectations.ExpectationError, match="holds no exercise file"):
        expectations.load(tmp_path / "b")
