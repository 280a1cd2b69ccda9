"""Make the student version (``exercises/``) from the reference solutions.

Every region between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's
markers) becomes ``raise NotImplementedError("<function> is not written yet: replace this
line with your code (hint: ...)")`` at the marker's indent; the hint is the region's first
line where it is a ``# hint: ...`` comment (each solution's points at the tutorial step
the function exercises). The public tests in ``solutions/tests/`` are copied as they are.
"""

from __future__ import annotations

import re
from pathlib import Path

from grader.errors import ReleaseError
from grader.kit import EXERCISES, EXERCISES_DIR, SOLUTIONS_DIR

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
HINT = re.compile(r"#\s*hint:\s*(?P<text>.+)$", re.IGNORECASE)
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
            message = (
                f"{function or 'this part'} is not written yet: replace this line with your code"
            )
            if body and (match := HINT.match(body[0].strip())):
                message = f"{message} (hint: {match['text'].strip()})"
            out.append(f"{indent}raise NotImplementedError({message!r})\n")
            i = end + 1
            continue
        if line.strip() == END:
            raise ReleaseError(f"{filename}:{i + 1}: {END} without {BEGIN}")
        out.append(line)
        i += 1
    return "".join(out)


def render() -> dict[str, str]:
    """What ``exercises/`` should hold: relative path -> file content."""
    files: dict[str, str] = {}
    for exercise in EXERCISES.values():
        source = (SOLUTIONS_DIR / exercise.filename).read_text(encoding="utf-8")
        files[exercise.filename] = strip_solutions(source, exercise.filename)
    tests_dir = SOLUTIONS_DIR / "tests"
    for path in sorted(tests_dir.glob("*.py")):
        files[f"tests/{path.name}"] = path.read_text(encoding="utf-8")
    return files


def stale_files(target: Path = EXERCISES_DIR) -> list[str]:
    """Files of ``target`` that differ from what :func:`render` makes (or are missing)."""
    stale = []
    for relpath, content in render().items():
        path = target / relpath
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            stale.append(relpath)
    return stale


def release(target: Path = EXERCISES_DIR) -> list[str]:
    """Write the student version into ``target``; return the paths written."""
    written = []
    for relpath, content in render().items():
        path = target / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            written.append(relpath)
    return written
