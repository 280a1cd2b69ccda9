"""The student version is generated from the solutions and kept up to date."""

import ast
import re

import chinese_text
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


def _shape(source: str) -> str:
    """The code of ``source`` with every string's text left out (what a translation changes)."""

    class Blank(ast.NodeTransformer):
        def visit_Constant(self, node):
            return ast.Constant("") if isinstance(node.value, str) else node

        def visit_JoinedStr(self, node):
            return ast.Constant("")

    return ast.dump(Blank().visit(ast.parse(source)))


def test_a_chinese_release_changes_only_the_texts():
    """Does ``grader release --lang zh_CN`` write the same code as the English release, every
    docstring and hint in Chinese, and the student guide beside the exercise files?"""
    english, chinese = release.render(), release.render("zh_CN")
    assert set(chinese) == set(english) | {"README.zh_CN.md"}
    for relpath, text in english.items():
        assert _shape(chinese[relpath]) == _shape(text), relpath
        for node in ast.walk(ast.parse(chinese[relpath])):
            documented = ast.Module | ast.ClassDef | ast.FunctionDef
            docstring = ast.get_docstring(node) if isinstance(node, documented) else None
            assert docstring is None or not chinese_text.english_left(docstring), docstring
    for exercise in EXERCISES.values():
        stubs = re.findall(r"raise NotImplementedError\((.+)\)", chinese[exercise.filename])
        assert stubs and all("还没有写" in s and re.search(r"提示:教程", s) for s in stubs)
    guide = chinese["README.zh_CN.md"]
    assert guide.startswith("# 学生指南\n") and "`ex5_train.py` | 30 |" in guide
    assert "grader check" in guide and not chinese_text.english_left(guide)


def test_a_release_in_another_language_replaces_the_guide(tmp_path):
    """Does the command write the Chinese version where it is told, and does an English release
    there afterwards take the Chinese guide away, leaving exactly the English version?"""
    from conftest import grader

    done = grader("release", "--lang", "zh_CN", "--dest", tmp_path / "exercises")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "exercises" / "README.zh_CN.md").exists()
    assert release.stale_files(tmp_path / "exercises", "zh_CN") == []
    assert "README.zh_CN.md" in release.stale_files(tmp_path / "exercises")
    release.release(tmp_path / "exercises", language="en")
    assert not (tmp_path / "exercises" / "README.zh_CN.md").exists()
    assert release.stale_files(tmp_path / "exercises") == []
