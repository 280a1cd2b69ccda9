"""What Chinese text the kit writes may hold in English: code, numbers, placeholders, and the
terms the glossary keeps (``docs/glossary.zh_CN.md``, "Kept in English").

:func:`english_left` finds the rest, for the catalog's test (a translation keeps no English of
its own) and for the feedback of submissions graded in Chinese (no English message slipped
through untranslated).
"""

from __future__ import annotations

import ast
import builtins
import re
import string
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GLOSSARY = REPO / "docs" / "glossary.zh_CN.md"
CJK = re.compile(r"[\u4e00-\u9fff]")
WORD = re.compile(r"[A-Za-z]+")
BRACES = re.compile(r"\{[^{}]*\}")
PERCENT = re.compile(r"%\([A-Za-z_]+\)[sd]")
CODE_SPAN = re.compile(r"```.*?```|``[^`]+``|`[^`]+`|'[^'\n]+'", re.DOTALL)
"""Code as the messages quote it: a fenced block, ``double`` or `single` backticks, 'quotes'."""
CODE_TOKEN = re.compile(
    r"[A-Za-z_][\w-]*(?:[._/][\w-]+|\(\)|\[|\()[\w.()\[\]/*=-]*"  # dotted, called, indexed
    r"|[\w-]*_[\w-]*|\w*\d\w*"  # underscored, with digits
    r"|\w+=[\w.]+|--[\w-]+(?:[ =][\w.]+)?|\.\w+"  # an argument, an option, an extension
    r"|grader \w+(?: \w+)?"  # a command
)
"""A word that is code by its shape."""


@cache
def kept() -> frozenset[str]:
    """The terms the glossary keeps in English, as words."""
    text = GLOSSARY.read_text(encoding="utf-8").split("## Kept in English", 1)[1]
    section = text.split("\n## ", 1)[0]
    spans = re.findall(r"`([^`]+)`", section)
    return frozenset(word for span in spans for word in WORD.findall(span))


@cache
def solution_names() -> frozenset[str]:
    """Every name the reference solutions and their public tests use, whole (functions,
    arguments, attributes: ``predict``, ``coeffs``, ``labels``): code, whatever a message says
    around it."""
    names: set[str] = set()
    for path in (REPO / "solutions").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for field in ("id", "attr", "name", "arg", "module"):
                value = getattr(node, field, None)
                if isinstance(value, str) and value.isidentifier():
                    names.add(value)
    return frozenset(names)


def placeholders(text: str) -> list[tuple]:
    """The placeholders of ``text``: ``{name:spec!conv}`` fields and ``%(name)s``, sorted."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:  # not a format string (a docstring with a lone brace)
        parsed = []
    fields = [("brace", name, spec, conv) for _text, name, spec, conv in parsed if name is not None]
    return sorted(fields + [("percent", match) for match in PERCENT.findall(text)])


def without_placeholders(text: str) -> str:
    return PERCENT.sub(" ", BRACES.sub(" ", text))


def code_words(text: str) -> set[str]:
    """The words of ``text`` that are code: quoted, or code by their shape."""
    text = without_placeholders(text)
    found = set()
    for span in [*CODE_SPAN.findall(text), *CODE_TOKEN.findall(text)]:
        found.update(WORD.findall(span))
    return found


def english_left(text: str, allowed: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The English words of ``text`` that are none of: a placeholder, code, a name the
    solutions use or Python's builtins (``dict``), a term the glossary keeps, a single letter
    (``k``, ``x``), or ``allowed``."""
    free = kept() | solution_names() | set(dir(builtins)) | code_words(text) | set(allowed)
    words = WORD.findall(without_placeholders(text))
    return sorted({w for w in words if w not in free and len(w) > 1})
