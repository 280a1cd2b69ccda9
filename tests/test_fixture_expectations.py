"""Every fixture folder says what it must earn, in an ``expected.toml`` the harness can read.

``tests/fixture_expectations.py`` reads the files; here: each folder has one, each one lies in
a fixture folder, none is ever staged with the submission, and a file that says something
wrong is refused with its path named; and every name of the grader a hostile fixture aims at
(a module it imports or patches, a file it looks for) still exists, so an attack the layout
moved away from fails here, in the default run, instead of passing for the wrong reason.
"""

from __future__ import annotations

import importlib
import re
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


# -- what a hostile fixture aims at still exists ------------------------------------------------

IMPORTED = re.compile(r"^\s*from\s+(grader(?:\.\w+)*)\s+import\s+([\w\s,()]+?)\s*$", re.M)
DOTTED = re.compile(r"(?<![\w./])grader(?:\.\w+)+")
PATH = re.compile(r"""["'](grader/[\w./-]+)["']""")


def grader_names(text: str) -> set[str]:
    """The grader's modules and attributes (``grader.inside.channel``) and the repository
    paths under ``grader/`` that ``text`` names."""
    names = set(DOTTED.findall(text)) | set(PATH.findall(text))
    for module, imported in IMPORTED.findall(text):
        for item in imported.replace("(", " ").replace(")", " ").split(","):
            if item.split():
                names.add(f"{module}.{item.split()[0]}")
    return names


def resolves(name: str) -> bool:
    """Is ``name`` a file or folder of the repository, or a module of the grader, or an
    attribute of one, as the code is now?"""
    if "/" in name:
        return (REPO / name).exists()
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def test_the_reader_finds_the_names_and_refuses_stale_ones():
    """Does the reader find each way a fixture names the grader, and refuse names the grader
    no longer has (a module moved, a file renamed, a helper gone)?"""
    text = (
        "from grader.inside import channel, contract\n"
        "import grader.suites.assertions\n"
        "grader.suites.assertions.expect = f\n"
        'open("grader/suites/test_ex1.py")\n'
        "from grader import channel\n"
    )
    assert grader_names(text) == {
        "grader.inside",
        "grader.inside.channel",
        "grader.inside.contract",
        "grader.suites.assertions",
        "grader.suites.assertions.expect",
        "grader/suites/test_ex1.py",
        "grader.channel",
    }
    assert [n for n in sorted(grader_names(text)) if not resolves(n)] == ["grader.channel"]
    for stale in ("grader/gate_eval.py", "grader.suites.assertions.no_such_helper"):
        assert not resolves(stale)


HOSTILE = sorted(p.name for p in FIXTURES.iterdir() if p.name.startswith("hostile_"))


@pytest.mark.parametrize("name", HOSTILE)
def test_what_a_hostile_fixture_aims_at_exists(name):
    """Does every module, attribute and file of the grader this hostile fixture names exist,
    so that its attack is tried against the code as it is?"""
    stale = {}
    for path in fixture_edits.fixture_files(name).values():
        names = grader_names(path.read_text(encoding="utf-8"))
        stale.update({n: path.name for n in names if not resolves(n)})
    assert not stale, f"{name} aims at what the grader no longer has: {stale}"
