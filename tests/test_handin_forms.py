"""Submissions as students hand them in, graded end to end: each is read the way they expect.

Every ``tests/fixtures/handins/<outcome>_<what>/`` holds a ``handin.json`` that lays the
hand-in out (a folder or a zip; each file's name as the student gave it, and what it holds:
an exercise of the reference, with the fixture's ``.edits`` applied, or a file of the
fixture), so the reference reaches every fixture by itself. They are graded in one
``grader run`` (ex1, ex2 and ex5, without the gate) and each outcome is asserted:

- ``correct_*``: full marks, with the warning that says what the grader did (a name taken
  despite its letter case, a helper module staged, Jupyter lines skipped);
- ``missing_*``: the exercise whose file is not there scores 0, and its feedback names the
  files close to its name; the rest keeps full marks;
- ``hostile_*``: what a student could try through names and helper modules (a link to a
  file of the machine, modules that would hide Python's or the grader's own, a forged
  record of what is missing) gets nowhere, and the rest is graded as usual.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import fixture_edits
import pytest
from conftest import REPO, describe, full_marks, grader

from grader.export import classroom
from grader.submissions.loading import load

HANDINS = REPO / "tests" / "fixtures" / "handins"
GRADED = ("ex1", "ex2", "ex5")
GATE = "test_accuracy_gate"


@dataclass(frozen=True)
class Outcome:
    zero: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Exercise -> words the feedback of each of its pointed tests holds (it scores 0)."""
    warnings: tuple[str, ...] = ()
    """Words the result's warnings hold."""
    never: tuple[str, ...] = ()
    """Words that appear in no feedback and no warning."""


OUTCOMES = {
    "correct_windows_zip_case_variant": Outcome(
        warnings=(
            "'Alice/Ex1_Gradients.py' is graded as ex1_gradients.py",
            "'Alice/EX2_AUTOGRAD.PY' is graded as ex2_autograd.py",
        )
    ),
    "correct_helper_module": Outcome(warnings=("helper modules staged: utils.py",)),
    "correct_helper_module_in_zip": Outcome(warnings=("helper modules staged: helpers.py.",)),
    "correct_nbconvert_script": Outcome(warnings=("ex1_gradients.py: lines", "get_ipython()")),
    "missing_near_miss_names": Outcome(
        zero={
            "ex1": ("ex1_gradients.py is not in the submission", "'ex1_gradient.py'"),
            "ex2": ("'ex2_autograd (1).py'", "rename it to ex2_autograd.py"),
            "ex5": ("'ex5_train.py.txt'",),
        }
    ),
    "missing_case_ambiguous_zip": Outcome(
        zero={"ex1": ("'carol/Ex1_Gradients.py' and 'carol/EX1_GRADIENTS.py'", "letter case")}
    ),
    "hostile_helper_symlink": Outcome(
        zero={"ex5": ("No module named 'utils'", "the other .py files beside them")},
        warnings=("'utils.py' is a symbolic link",),
        never=("root:x:0:0",),
    ),
    "hostile_helper_shadows_modules": Outcome(
        warnings=(
            "'grader.py' would hide the grader's own package",
            "'numpy.py' would hide the installed package 'numpy'",
            "'random.py' would hide Python's own module 'random'",
        ),
        never=("shadowed",),
    ),
    "hostile_forged_manifest": Outcome(
        zero={"ex2": ("ex2_autograd.py is not in the submission",)}, never=("FORGED",)
    ),
}


def build(name: str, root: Path) -> Path:
    """The hand-in ``name`` as the student made it, in ``root``: a folder, or ``<name>.zip``."""
    folder = HANDINS / name
    layout = json.loads((folder / "handin.json").read_text())
    files = {}
    for target, source in layout["files"].items():
        if source in fixture_edits.MODULES:
            text = fixture_edits.reference_source(source)
            edits = folder / f"{source}.edits"
            if edits.exists():
                text = fixture_edits.apply(text, fixture_edits.parse(edits.read_text()), str(edits))
            files[target] = text.encode()
        else:
            files[target] = (folder / source).read_bytes()
    if layout.get("zip"):
        path = root / f"{name}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for target, data in files.items():
                archive.writestr(target, data)
        return path
    path = root / name
    path.mkdir(parents=True)
    for target, data in files.items():
        (path / target).write_bytes(data)
    for target, link in layout.get("links", {}).items():
        (path / target).symlink_to(link)
    return path


def test_every_fixture_has_an_outcome():
    """Is every hand-in fixture in the table, named by its outcome, and vice versa?"""
    on_disk = {p.name for p in HANDINS.iterdir() if p.is_dir()}
    assert on_disk == set(OUTCOMES)
    assert all(n.startswith(("correct_", "missing_", "hostile_")) for n in on_disk)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, dict]:
    """Every hand-in graded in one class run, as a TA would grade them."""
    root = tmp_path_factory.mktemp("handins") / "class"
    root.mkdir()
    for name in OUTCOMES:
        build(name, root)
    completed = subprocess.run(
        [sys.executable, "-m", "grader.cli", "run", str(root), "--no-gate", "--format", "json",
         "--exercises", ",".join(GRADED)],
        capture_output=True, text=True, timeout=600, cwd=root.parent,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    return {r["submission"]: r for r in results}


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_handin_is_graded_as_its_student_expects(graded, name):
    """Does each hand-in get its outcome: full marks where nothing is missing, 0 with the near
    misses named where a file is, the grader's warnings, and nothing a hostile one planted?"""
    outcome = OUTCOMES[name]
    result = graded[name]
    assert set(result["exercises"]) == set(GRADED)
    for key, exercise in result["exercises"].items():
        if key not in outcome.zero:
            assert full_marks(exercise), f"{name}: {key} lost points\n{describe(result)}"
            continue
        assert exercise["score"] == 0, describe(result)
        tests = [t for t in result["tests"] if t["exercise"] == key and t["max_score"]]
        tests = [t for t in tests if t["name"] != GATE]
        assert tests
        for test in tests:
            for word in outcome.zero[key]:
                assert word in test["feedback"], test["feedback"]
    warnings = " | ".join(result.get("warnings", []))
    for word in outcome.warnings:
        assert word in warnings, warnings
    everything = warnings + " ".join(t["feedback"] for t in result["tests"])
    for word in outcome.never:
        assert word not in everything


@pytest.mark.parametrize(
    "name", ["correct_windows_zip_case_variant", "hostile_helper_shadows_modules"]
)
def test_grader_check_takes_the_handin(tmp_path, name):
    """Does `grader check` (the tests in a plain process, the staged folder its current one)
    pass on the Windows zip and on helpers named like numpy or the grader, which it leaves
    out and names?"""
    completed = grader("check", build(name, tmp_path))
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    for word in OUTCOMES[name].warnings:
        assert word in completed.stdout


def test_the_classroom_fetch_takes_what_the_grader_reads(tmp_path):
    """Does the GitHub Classroom fetch write a repository's exercise files in any letter case
    and its other top-level .py files (helper modules, near misses to name), 25 at most, and
    do they load as the same hand-in would from a folder?"""
    work = tmp_path / "work"
    work.mkdir()
    files = {"Ex1_Gradients.py": b"x = 1\n", "aux.py": b"X = 1\n", "ex2-autograd.py": b"",
             "notes.txt": b"", "工具.py": b"Z = 1\n", "工具2.py": b"",
             **{f"m{i:02}.py": b"" for i in range(22)}}  # fmt: skip
    for name, data in files.items():
        (work / name).write_bytes(data)
    env = classroom.git_environment("file", str(tmp_path))
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["-c", "user.name=s", "-c", "user.email=s@example.org", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", "-C", str(work), *args], env=env, check=True)  # fmt: skip
    dest = tmp_path / "alice"
    record = classroom.fetch_one(f"file://{work}", dest, env, env)
    fetched = {p.name for p in dest.iterdir()} - {".git"}
    assert {"Ex1_Gradients.py", "aux.py", "ex2-autograd.py", "工具.py"} <= fetched
    assert len(fetched) == 1 + classroom.MAX_OTHER_FILES and "notes.txt" not in fetched
    assert record["skipped"] == {"工具2.py": "more than 25 .py files besides the exercise files"}
    submission = load(dest)
    assert submission.files == {"ex1_gradients.py": b"x = 1\n"} and len(submission.helpers) == 20
    assert "'ex2-autograd.py'" in submission.missing["ex2_autograd"]
