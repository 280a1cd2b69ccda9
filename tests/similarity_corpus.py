"""A class for ``grader similarity`` to judge: independent solutions and planted copies.

The independent solutions are the reference (``solutions/`` as a student's copy holds it)
and the ``correct_independent_*`` fixtures, in which every function is written anew in a
style of its own (and graded correct). The copies are made here, at test time, from any of them:
the same files, every identifier renamed, the functions in another order, the comments and
blank lines changed, the code as a notebook. A copy belongs to its original's *family*:
pairs within a family should be flagged, pairs across families should not.
"""

from __future__ import annotations

import ast
import io
import json
import keyword
import tokenize
import zipfile
from pathlib import Path

import fixture_edits

INDEPENDENT = ("correct_independent_loops", "correct_independent_compact")


def renamed(source: str) -> str:
    """Every name the file defines (functions, classes, arguments, variables) renamed,
    wherever it is used; attributes and keyword arguments of calls keep their names."""
    tree = ast.parse(source)
    defined = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
    defined -= set(keyword.kwlist) | {"self"}
    new = {name: f"{name[:1]}q{i}_{len(name)}" for i, name in enumerate(sorted(defined))}
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    depth = 0
    out = []
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        if tok.type == tokenize.NAME and tok.string in new:
            after_dot = i and tokens[i - 1].string == "."
            keyword_arg = depth and tokens[i + 1].string == "="
            if not after_dot and not keyword_arg:
                tok = tok._replace(string=new[tok.string])
        out.append(tok)
    return tokenize.untokenize(out)


def _chunks(source: str) -> tuple[list[str], list[list[str]]]:
    """The lines before the first top-level ``def``/``class`` and one chunk per definition."""
    lines = source.splitlines(keepends=True)
    starts = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            starts.append(first - 1)
    if not starts:
        return lines, []
    bounds = [*starts, len(lines)]
    return lines[: starts[0]], [lines[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def reordered(source: str) -> str:
    """The top-level functions and classes in reverse order (the same code otherwise)."""
    head, chunks = _chunks(source)
    body = ["".join(chunk).rstrip("\n") + "\n\n\n" for chunk in reversed(chunks)]
    return "".join(head) + "".join(body).rstrip("\n") + "\n"


def recommented(source: str) -> str:
    """Every comment and blank line dropped; a comment of its own before each ``return``
    and a blank line after each ``def``."""
    cut = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            cut[tok.start[0]] = tok.start[1]
    out = []
    for number, line in enumerate(source.splitlines(), 1):
        line = line[: cut[number]].rstrip() if number in cut else line.rstrip()
        if not line.strip():
            continue
        indent = line[: len(line) - len(line.lstrip())]
        if line.lstrip().startswith("return "):
            out.append(f"{indent}# and now hand the answer back to the caller")
        out.append(line)
        if line.lstrip().startswith("def ") and line.endswith(":"):
            out.append("")
    return "\n".join(out) + "\n"


def as_notebook(source: str) -> bytes:
    """The code as a Jupyter notebook: a markdown cell, a magic cell, then one code cell for
    the imports and one per top-level definition."""
    head, chunks = _chunks(source)

    def code(text: str) -> dict:
        return {
            "cell_type": "code",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "source": text.strip("\n").splitlines(keepends=True),
        }

    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# My solution\n"]},
        code("%matplotlib inline\n"),
        code("".join(head)),
        *[code("".join(chunk)) for chunk in chunks],
    ]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(notebook, indent=1).encode()


COPIES = {
    "exact": None,
    "renamed": renamed,
    "reordered": reordered,
    "recommented": recommented,
    "notebook": as_notebook,
}
"""How a planted copy is made from its original, by name."""


def original(family: str, dest: Path) -> Path:
    """The family's original submission in ``dest``: the reference or an independent one."""
    return fixture_edits.stage(None if family == "reference" else family, dest)


def families() -> list[str]:
    return ["reference", *INDEPENDENT]


def copied_files(source: Path, how: str, pattern: str = "ex*") -> dict[str, bytes]:
    """The exercise files of the submission folder ``source`` (those matching ``pattern``)
    made ``how`` (see :data:`COPIES`), by name; its notebooks as they are."""
    make = COPIES[how]
    files = {path.name: path.read_bytes() for path in sorted(source.glob(f"{pattern}.ipynb"))}
    for path in sorted(source.glob(f"{pattern}.py")):
        text = path.read_text()
        if make is as_notebook:
            files[path.stem + ".ipynb"] = as_notebook(text)
        else:
            files[path.name] = (make(text) if make else text).encode()
    return files


def copy_of(source: Path, how: str, dest: Path, *, as_zip: bool = False) -> Path:
    """A planted copy of the submission folder ``source``, made ``how`` (see :data:`COPIES`),
    as a folder ``dest`` or, with ``as_zip``, ``dest`` + ``.zip``; its notebooks are copied
    as they are."""
    files = copied_files(source, how)
    if as_zip:
        dest = dest.with_suffix(".zip")
        with zipfile.ZipFile(dest, "w") as archive:
            for name, data in files.items():
                archive.writestr(f"{dest.stem}/{name}", data)
        return dest
    dest.mkdir(parents=True)
    for name, data in files.items():
        (dest / name).write_bytes(data)
    return dest


def build_class(root: Path) -> dict[str, str]:
    """A class in ``root``: each family's original and one copy made each way (the exact copy
    as a zip). Returns submission id -> family."""
    family_of = {}
    for family in families():
        source = original(family, root / family)
        family_of[family] = family
        for how in COPIES:
            name = f"copied_{how}_from_{family}"
            copy_of(source, how, root / name, as_zip=how == "exact")
            family_of[name] = family
    return family_of


def one_exercise_copied(own: Path, donor: Path, module: str, how: str, dest: Path) -> Path:
    """The submission folder ``own`` in ``dest``, but with the exercise ``module``
    (``ex1_gradients``) copied from the submission folder ``donor``, made ``how``: one
    exercise copied into otherwise independent work."""
    files = {n: d for n, d in copied_files(own, "exact").items() if not n.startswith(module)}
    files.update(copied_files(donor, how, module))
    dest.mkdir(parents=True)
    for name, data in files.items():
        (dest / name).write_bytes(data)
    return dest
