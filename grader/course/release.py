"""Make the student version (``exercises/``) from the reference solutions.

Every region between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's
markers) becomes ``raise NotImplementedError("<function> is not written yet: replace this
line with your code (hint: ...)")`` at the marker's indent; the hint is the region's first
line where it is a ``# hint: ...`` comment (each solution's points at the tutorial step
the function exercises). The public tests in ``solutions/tests/`` are copied as they are.

In English (the default) that is all. In another course language the docstrings, comments,
hints and the public tests' messages are that language's (:mod:`grader.course.translation`),
and the student guide (the README's section for students) comes along as
``README.<language>.md``.
"""

from __future__ import annotations

import re
from pathlib import Path

from grader import i18n
from grader.course import config as course_config
from grader.course.translation import HINT, guide, translate_source
from grader.errors import ReleaseError
from grader.i18n import _
from grader.kit import EXERCISES, EXERCISES_DIR, SOLUTIONS_DIR

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
DEF = re.compile(r"^\s*(?:async\s+)?def\s+(?P<name>\w+)")


def strip_solutions(source: str, filename: str = "<source>") -> str:
    """Replace each solution region of ``source`` with a NotImplementedError stub."""
    out: list[str] = []
    lines = source.splitlines(keepends=True)
    function = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if (match := DEF.match(line)) is not None:
            function = match["name"]
        if line.strip() == BEGIN:
            indent = line[: len(line) - len(line.lstrip())]
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == END), None)
            if end is None:
                raise ReleaseError(f"{filename}:{i + 1}: {BEGIN} without {END}")
            body = lines[i + 1 : end]
            message = _(
                "{function} is not written yet: replace this line with your code",
                function=function or _("this part"),
            )
            if body and (match := HINT.match(body[0].strip())):
                message = _(
                    "{message} (hint: {hint})", message=message, hint=_(match["text"].strip())
                )
            out.append(f"{indent}raise NotImplementedError({message!r})\n")
            i = end + 1
            continue
        if line.strip() == END:
            raise ReleaseError(f"{filename}:{i + 1}: {END} without {BEGIN}")
        out.append(line)
        i += 1
    return "".join(out)


def render(language: str = i18n.DEFAULT) -> dict[str, str]:
    """What ``exercises/`` should hold in ``language``: relative path -> file content."""
    with i18n.using(language):
        translated = language != i18n.DEFAULT
        files: dict[str, str] = {}
        for exercise in EXERCISES.values():
            source = (SOLUTIONS_DIR / exercise.filename).read_text(encoding="utf-8")
            if translated:
                source = translate_source(source)
            files[exercise.filename] = strip_solutions(source, exercise.filename)
        tests_dir = SOLUTIONS_DIR / "tests"
        for path in sorted(tests_dir.glob("*.py")):
            source = path.read_text(encoding="utf-8")
            files[f"tests/{path.name}"] = translate_source(source) if translated else source
        if translated:
            files[guide_name(language)] = guide()
    return files


def guide_name(language: str) -> str:
    """The student guide's file in ``exercises/`` for ``language`` (English has none: the
    README is the guide)."""
    return f"README.{language}.md"


def _others(target: Path, language: str) -> list[Path]:
    """The guides of other languages that ``target`` holds (from an earlier release)."""
    names = [guide_name(other) for other in i18n.LANGUAGES[1:] if other != language]
    return [target / name for name in names if (target / name).exists()]


def stale_files(target: Path = EXERCISES_DIR, language: str = i18n.DEFAULT) -> list[str]:
    """Files of ``target`` that differ from what :func:`render` makes (or are missing), and
    guides of another language."""
    stale = []
    for relpath, content in render(language).items():
        path = target / relpath
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            stale.append(relpath)
    return stale + [path.name for path in _others(target, language)]


def release(target: Path = EXERCISES_DIR, *, language: str | None = None) -> list[str]:
    """Write the student version into ``target`` in ``language`` (default: the course's, from
    its configuration here, else English), removing a guide of another language; return the
    paths written."""
    if language is None:
        language = course_config.load().language or i18n.DEFAULT
    written = []
    for relpath, content in render(language).items():
        path = target / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            written.append(relpath)
    for path in _others(target, language):
        path.unlink()
    return written
