"""The student version is generated from the solutions and kept up to date."""

import ast
import re

import pytest

from grader.course import release
from grader.kit import EXERCISES, SOLUTIONS_DIR


def test_exercises_folder_is_up_to_date():
    """Is exercises/ exactly what `grader release` makes from solutions/?"""
    assert release.stale_files() == [], "run `grader release` and commit exercises/"


def test_solution_regions_become_stubs_with_hints():
    """Is each solution region replaced by a NotImplementedError at the marker's indent?"""
    source = (
        "def f(x):\n"
        '    """Doc."""\n'
        "    ### BEGIN SOLUTION\n"
        "    return x\n"
        "    ### END SOLUTION\n"
        "\n"
        "def g():\n"
        "    ### BEGIN SOLUTION\n"
        "    # hint: add one to two\n"
        "    return 3\n"
        "    ### END SOLUTION\n"
    )
    out = release.strip_solutions(source)
    assert "return x" not in out and "return 3" not in out
    assert "    raise NotImplementedError('f is not written yet" in out
    assert "(hint: add one to two)')" in out and "g is not written yet" in out
    ast.parse(out)


def _regions(source: str) -> list[list[str]]:
    """The lines of each solution region of ``source``, markers left out."""
    regions, current = [], None
    for line in source.splitlines():
        if line.strip() == release.BEGIN:
            current = []
        elif line.strip() == release.END:
            regions.append(current)
            current = None
        elif current is not None:
            current.append(line.strip())
    return regions


@pytest.mark.parametrize("exercise", list(EXERCISES.values()), ids=lambda e: e.key)
def test_every_stub_hints_at_its_tutorial_step_without_the_answer(exercise):
    """Does every solution region open with a one-line hint that names a step of the tutorial
    (3-4, 6-1, part 5, ...) and holds none of the region's code, and does its stub say it?"""
    solution = (SOLUTIONS_DIR / exercise.filename).read_text()
    stub = release.render()[exercise.filename]
    for region in _regions(solution):
        match = release.HINT.match(region[0])
        assert match, f"{exercise.filename}: a solution region without a '# hint:' line"
        hint = match["text"].strip()
        assert re.search(r"tutorial (?:\d-\d(?:-\d)?|part \d)", hint), hint
        code = [line for line in region[1:] if line and not line.startswith("#")]
        leaked = [line for line in code if len(line) > 12 and line in hint]
        assert not leaked and "return " not in hint, hint
        assert f"(hint: {hint})" in stub


@pytest.mark.parametrize(
    "source", ["### BEGIN SOLUTION\nx = 1\n", "x = 1\n### END SOLUTION\n"], ids=["open", "close"]
)
def test_unmatched_marker_is_an_error(source):
    """Does a marker without its partner stop the release with the line number?"""
    with pytest.raises(release.ReleaseError, match=r"ex\.py:\d"):
        release.strip_solutions(source, "ex.py")


@pytest.mark.parametrize("exercise", list(EXERCISES.values()), ids=lambda e: e.key)
def test_stubs_keep_every_signature(exercise):
    """Do the stubs define the same functions and classes, with the same arguments?"""

    def signatures(text):
        tree = ast.parse(text)
        return {
            node.name: ast.dump(node.args) if isinstance(node, ast.FunctionDef) else "class"
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.ClassDef)
        }

    solution = (SOLUTIONS_DIR / exercise.filename).read_text()
    assert signatures(release.render()[exercise.filename]) == signatures(solution)
    assert "BEGIN SOLUTION" not in release.render()[exercise.filename]
