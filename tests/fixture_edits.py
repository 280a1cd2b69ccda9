"""Fixture submissions as small edits of the reference solutions.

A bug or correct-variant fixture says only what it changes: ``<module>.edits`` beside the
other fixture files holds blocks in merge-conflict style, each the reference's lines and what
the submission has instead::

    # sse_loss averages instead of summing
    <<<<<<< reference
        return float(np.sum((y_pred - y) ** 2))
    =======
        return float(np.mean((y_pred - y) ** 2))
    >>>>>>> submission

Lines outside blocks are comments. Each block's reference lines must occur exactly once in
the reference file (with its ``### BEGIN/END SOLUTION`` lines removed, as a student's copy
has none), so a change to the solutions that an edit depends on fails loudly, and any other
change to the solutions reaches every fixture by itself. Whole files (``.py``, ``.ipynb``)
are used as they are: submissions written anew, notebooks. Nothing else in a fixture's
folder is staged: its ``expected.toml`` (``tests/fixture_expectations.py``) is the tests' own.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
FIXTURES = REPO / "tests" / "fixtures" / "submissions"
MODULES = ("ex1_gradients", "ex2_autograd", "ex3_data", "ex4_net", "ex5_train")
_BLOCK = re.compile(
    r"^<<<<<<< reference\n(?P<old>.*?)^=======\n(?P<new>.*?)^>>>>>>> submission\n?",
    re.DOTALL | re.MULTILINE,
)
_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.MULTILINE)


class EditError(ValueError):
    """An edit that does not apply to the reference (it changed, or the edit is wrong)."""


def reference_source(module: str) -> str:
    """``solutions/<module>.py`` as a student's copy would hold it: no solution markers."""
    return _MARKER.sub("", (SOLUTIONS / f"{module}.py").read_text())


def parse(text: str, where: str = "edits") -> list[tuple[str, str]]:
    blocks = [(m["old"], m["new"]) for m in _BLOCK.finditer(text)]
    if not blocks:
        raise EditError(f"{where} holds no <<<<<<< reference ... >>>>>>> submission block")
    return blocks


def apply(source: str, edits: list[tuple[str, str]], where: str = "edits") -> str:
    for old, new in edits:
        count = source.count(old)
        if count != 1:
            raise EditError(
                f"{where}: the reference lines of an edit occur {count} times (not once) in the "
                f"reference; has the solution changed?\n{old}"
            )
        source = source.replace(old, new)
    return source


def fixture_files(name: str, root: Path = FIXTURES) -> dict[str, Path]:
    """Module -> the fixture file that stands for it (``.edits``, ``.py`` or ``.ipynb``)."""
    found = {}
    for module in MODULES:
        for suffix in (".edits", ".py", ".ipynb"):
            path = root / name / f"{module}{suffix}"
            if path.exists():
                found[module] = path
    return found


def stage(name: str | None, dest: Path, root: Path = FIXTURES) -> Path:
    """A whole submission in ``dest``: the reference with the fixture ``name``'s edits and
    files (a notebook replaces the ``.py`` of its name); ``None``: the reference alone."""
    dest.mkdir(parents=True)
    files = fixture_files(name, root) if name else {}
    for module in MODULES:
        path = files.get(module)
        if path is None:
            (dest / f"{module}.py").write_text(reference_source(module))
        elif path.suffix == ".edits":
            edits = parse(path.read_text(), str(path))
            (dest / f"{module}.py").write_text(apply(reference_source(module), edits, str(path)))
        else:
            shutil.copyfile(path, dest / path.name)
    return dest
