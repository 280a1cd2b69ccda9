"""The English that students read in the exercise files and the student guide, found for the
catalog and replaced by the course language's when ``grader release`` writes them.

In ``solutions/`` (the stubs and the public tests come from it) that is every docstring,
every comment outside the solution regions (and their ``# hint:`` lines, which
:mod:`grader.course.release` turns into the stub's message), and every ``assert``'s message;
in the README, the section "For students", block by block (a paragraph, a list item, a
table row, a fenced code block). :func:`texts` and :func:`guide_blocks` find them, for
``pybabel extract`` (:func:`extract_python`, :func:`extract_guide`, named in ``babel.cfg``)
and for :func:`translate_source` and :func:`guide`, so the catalog and the release see the
same messages. A text whose translation is missing stays English.
"""

from __future__ import annotations

import ast
import inspect
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

from grader.i18n import _
from grader.kit import REPO_ROOT

README = REPO_ROOT / "README.md"
GUIDE_SECTION = "## For students"
WORDS = re.compile(r"[A-Za-z]{3,}")
"""A comment worth translating holds a word (not only shapes: ``# (N, 84) -> (N, 10)``)."""
SKIPPED_COMMENTS = re.compile(r"#\s*(?:noqa|fmt:|type:)", re.IGNORECASE)
HINT = re.compile(r"#\s*hint:\s*(?P<text>.+)$", re.IGNORECASE)
"""A solution region's first line: the stub's hint (:mod:`grader.course.release`)."""
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


@dataclass(frozen=True)
class Text:
    """One translatable text of a source file: where its token starts and ends, and the
    message (its English as the catalog holds it)."""

    start: tuple[int, int]
    end: tuple[int, int]
    token: str
    """The comment or string literal as written."""
    message: str
    kind: str
    """``docstring``, ``comment``, ``message`` (an assert's) or ``hint`` (a solution region's
    ``# hint:``, which the release translates into the stub's message, not in place)."""


def _literal_spots(tree: ast.Module) -> dict[tuple[int, int], str]:
    """Where each docstring and each assert message starts -> its kind."""
    spots = {}
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef) and body:
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                spots[(first.value.lineno, first.value.col_offset)] = "docstring"
        if isinstance(node, ast.Assert) and isinstance(node.msg, ast.Constant | ast.JoinedStr):
            spots[(node.msg.lineno, node.msg.col_offset)] = "message"
    return spots


def _parts(literal: str) -> tuple[str, str, str]:
    """A one-token string literal's prefix, quote and text between the quotes."""
    prefix = re.match(r"[A-Za-z]*", literal).group()
    rest = literal[len(prefix) :]
    quote = rest[:3] if rest[:3] in ('"""', "'''") else rest[0]
    return prefix, quote, rest[len(quote) : -len(quote)]


def _message(kind: str, literal: str) -> str:
    """What the catalog holds for a literal: a docstring as ``inspect.cleandoc`` gives it, an
    assert's message as written (an f-string's fields as they are)."""
    prefix, _quote, text = _parts(literal)
    if kind == "docstring":
        return inspect.cleandoc(ast.literal_eval(literal))
    return text if "f" in prefix.lower() else ast.literal_eval(literal)


def texts(source: str) -> list[Text]:
    """The translatable texts of a Python ``source``, in order."""
    spots = _literal_spots(ast.parse(source))
    found, in_solution = [], False
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            stripped = token.string.strip()
            if stripped in MARKERS:
                in_solution = stripped == MARKERS[0]
            elif hint := HINT.match(stripped):
                message = hint["text"].strip()
                found.append(Text(token.start, token.end, token.string, message, "hint"))
            elif (
                not in_solution and not SKIPPED_COMMENTS.match(stripped) and WORDS.search(stripped)
            ):
                message = stripped.lstrip("#").strip()
                found.append(Text(token.start, token.end, token.string, message, "comment"))
        elif token.type == tokenize.STRING and token.start in spots:
            kind = spots[token.start]
            message = _message(kind, token.string)
            found.append(Text(token.start, token.end, token.string, message, kind))
    return found


def _docstring(literal: str, translated: str, indent: str) -> str:
    """``translated`` as a docstring literal laid out as ``literal`` was."""
    prefix, quote, text = _parts(literal)
    if "\\" in translated and "r" not in prefix.lower():
        translated = translated.replace("\\", "\\\\")
    lines = translated.splitlines() or [""]
    body = lines[0] + "".join(f"\n{indent}{line}" if line else "\n" for line in lines[1:])
    if "\n" in text and not text.rstrip(" ").endswith("\n"):
        return f"{prefix}{quote}{body}{quote}"
    closing = f"\n{indent}" if "\n" in text or len(lines) > 1 else ""
    return f"{prefix}{quote}{body}{closing}{quote}"


def _replacement(text: Text, translated: str, indent: str) -> str:
    if text.kind == "comment":
        return f"# {translated}"
    if text.kind == "docstring":
        return _docstring(text.token, translated, indent)
    prefix, quote, _written = _parts(text.token)
    return f"{prefix}{quote}{translated}{quote}"


def translate_source(source: str) -> str:
    """``source`` with each of its :func:`texts` in the current language."""
    lines = source.splitlines(keepends=True)
    for text in reversed(texts(source)):
        translated = _(text.message)
        if translated == text.message or text.kind == "hint":
            continue
        (row, col), (end_row, end_col) = text.start, text.end
        first = lines[row - 1]
        new = _replacement(text, translated, first[: len(first) - len(first.lstrip())])
        lines[row - 1 : end_row] = [first[:col] + new + lines[end_row - 1][end_col:]]
    return "".join(lines)


def guide_blocks(readme: str) -> list[str]:
    """The README's section for students, block by block: each paragraph (its lines joined),
    each list item, each table row, each fenced code block whole."""
    section = readme.split(GUIDE_SECTION, 1)[1].split("\n## ", 1)[0]
    blocks: list[str] = []
    fence: list[str] | None = None
    paragraph: list[str] = []

    def close() -> None:
        if paragraph:
            blocks.append(" ".join(paragraph))
            paragraph.clear()

    for line in section.strip("\n").splitlines():
        if fence is not None:
            fence.append(line)
            if line.startswith("```"):
                blocks.append("\n".join(fence))
                fence = None
        elif line.startswith("```"):
            close()
            fence = [line]
        elif not line.strip():
            close()
        elif line.startswith(("- ", "|")):
            close()
            paragraph.append(line.strip())
            if line.startswith("|"):
                close()
        else:
            paragraph.append(line.strip())
    close()
    return blocks


def guide(readme: Path = README) -> str:
    """The student guide in the current language: the README's section for students, each
    block translated, a blank line between blocks (a list's items and a table's rows kept
    together)."""
    out: list[str] = []
    for block in guide_blocks(readme.read_text(encoding="utf-8")):
        together = out and any(block.startswith(m) and out[-1].startswith(m) for m in ("|", "- "))
        if out and not together:
            out.append("")
        out.append(_(block))
    title = _("The student guide")
    return f"# {title}\n\n" + "\n".join(out) + "\n"


def extract_python(fileobj, keywords, comment_tags, options):
    """Babel's extractor for :func:`texts` (``babel.cfg``): ``(line, None, message, [])``."""
    for text in texts(fileobj.read().decode("utf-8")):
        yield text.start[0], None, text.message, []


def extract_guide(fileobj, keywords, comment_tags, options):
    """Babel's extractor for the README's section for students, and the guide's title."""
    readme = fileobj.read().decode("utf-8")
    line = readme[: readme.index(GUIDE_SECTION)].count("\n") + 1
    for block in guide_blocks(readme):
        if WORDS.search(block):
            yield line, None, block, []
