"""The package's shape in figures: modules, folders, import edges and layers.

    .venv/bin/python bench/layout.py [GRADER_DIR]

Reads ``grader/`` (or GRADER_DIR) with the same import reader as ``tests/test_layout.py``
(imports inside functions count) and prints how many modules and folders there are, how many
modules lie loose at the top level, the number of import edges, the number of layers (the
longest import chain) and, for each top-level folder, its modules and the folders it imports.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import test_layout  # noqa: E402


def main() -> None:
    if len(sys.argv) > 1:
        test_layout.GRADER = Path(sys.argv[1]).resolve()
    edges = test_layout.graph()
    known = test_layout.modules()

    @cache
    def depth(name: str) -> int:
        return 1 + max((depth(t) for t in edges[name]), default=0)

    def box(name: str) -> str:
        parts = name.split(".")
        path = known[name]
        if len(parts) == 1 or len(parts) == 2 and path.name != "__init__.py":
            return "(top level)"
        return parts[1]

    folders = sorted({box(n) for n in known} - {"(top level)"})
    loose = [n for n in known if box(n) == "(top level)"]
    print(f"modules {len(known)}, folders {len(folders)}, loose at the top {len(loose)}")
    print(f"import edges {sum(len(t) for t in edges.values())}, layers {max(map(depth, known))}")
    lines = sum(len(p.read_text().splitlines()) for p in known.values())
    loose_lines = sum(len(known[n].read_text().splitlines()) for n in loose)
    print(f"lines {lines}, of which loose at the top {loose_lines}")
    for folder in [*folders, "(top level)"]:
        members = [n for n in known if box(n) == folder]
        targets = sorted({box(t) for n in members for t in edges[n]} - {folder})
        print(f"  {folder:<14} {len(members):>3} modules -> {', '.join(targets) or '-'}")


if __name__ == "__main__":
    main()
