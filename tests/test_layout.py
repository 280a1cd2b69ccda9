"""The package's shape: imports run one way, and every module says what it is for.

Imports inside functions count: a cycle that only works because one side imports late is
still a cycle to whoever changes either side.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

GRADER = Path(__file__).resolve().parent.parent / "grader"


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``grader/`` (packages by their name)."""
    found = {}
    for path in sorted(GRADER.rglob("*.py")):
        parts = list(path.relative_to(GRADER.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ``grader`` that ``name`` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                child = f"{module}.{alias.name}"
                targets.add(child if child in known else module)
    return {t for t in targets if t in known and t != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str]:
    """One cycle of ``edges`` as a path that ends where it starts, or ``[]``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return []

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_cycle_finder_finds_a_function_level_cycle(tmp_path):
    """Does the check see a cycle made by an import inside a function?"""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(edges) == ["a", "b", "c", "a"]
    source = "def f():\n    from grader import batch\n"
    (tmp_path / "run.py").write_text(source)
    known = {"grader.batch.run": tmp_path / "run.py", "grader.batch": tmp_path / "batch.py"}
    assert imports("grader.batch.run", tmp_path / "run.py", known) == {"grader.batch"}


def test_no_import_cycle_in_the_package():
    """Do the imports of grader/ (top level and inside functions) form no cycle?"""
    cycle = find_cycle(graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


BASICS = {"grader", "grader.errors", "grader.kit", "grader.files", "grader.text", "grader.i18n"}
"""The floor every part may use: the package, the user's errors, the kit's paths and
exercises, atomic files, clean text, the language students read. They import nothing else of
the grader."""
FOLDER_ORDER = [
    "batch",
    "suites",
    "grading",
    "gate",
    "submissions",
    "course",
    "data",
    "sandbox",
    "inside",
]
"""The stages of a graded class, each importing only those after it: a class (``batch``) is
graded a submission at a time (``grading``), which runs the hidden suites through pytest (by
path, never by import: they sit above it and use what it hands them), with the gate's
trusted side, the staged submission, the course's settings and data, through the sandbox to
what runs inside it."""


def folder(name: str) -> str:
    """The top-level folder of a dotted module name (the module itself when it is loose)."""
    return name.split(".")[1] if name.count(".") else name


def test_the_basics_import_nothing_above_them():
    """Do the loose basics (errors, kit, files, text, i18n) import no other part of the
    grader?"""
    edges = graph()
    above = {name: sorted(edges[name] - BASICS) for name in BASICS if edges[name] - BASICS}
    assert not above, above


def test_inside_imports_nothing_outside_it():
    """Does everything that runs inside the sandbox (``grader/inside/``, the one folder the
    worker gets) import only ``grader/inside/`` (a module outside it would be missing there,
    and would fail only under bubblewrap)?"""
    edges = graph()
    outside = {
        name: sorted(t for t in targets if folder(t) != "inside" and t != "grader")
        for name, targets in edges.items()
        if folder(name) == "inside"
    }
    assert not {k: v for k, v in outside.items() if v}, outside


def test_nothing_outside_grader_is_shipped_into_the_worker():
    """Does the worker's private folder hold the package's ``__init__.py`` and ``inside/``
    and nothing else of the grader?"""
    from grader.sandbox import workdir

    box = workdir.WorkerDir(os.getuid(), os.getgid())
    try:
        shipped = sorted(p.relative_to(box.grader).as_posix() for p in box.grader.rglob("*.py"))
    finally:
        box.remove()
    assert "__init__.py" in shipped and "inside/worker.py" in shipped
    assert all(p == "__init__.py" or p.startswith("inside/") for p in shipped), shipped


def test_folders_run_one_way():
    """Does each stage's folder import only the stages after it in :data:`FOLDER_ORDER`
    (results, export, gradebook and similarity sit beside them, and the command line above
    all)?"""
    edges = graph()
    wrong = set()
    for name, targets in edges.items():
        here = folder(name)
        if here not in FOLDER_ORDER:
            continue
        for target in targets:
            there = folder(target)
            if there in FOLDER_ORDER and FOLDER_ORDER.index(there) < FOLDER_ORDER.index(here):
                wrong.add(f"{name} -> {target}")
    assert not wrong, sorted(wrong)


def test_results_and_the_side_tools_do_not_reach_into_grading():
    """Do the result model and its formats, and the tools that read stored results (the
    gradebook, similarity, the exports), stay clear of grading a class?"""
    edges = graph()
    grading = {"batch", "grading", "suites", "gate", "sandbox", "inside"}
    for side in ("results", "gradebook", "similarity", "export"):
        reached = {folder(t) for n in edges if folder(n) == side for t in reachable(edges, n)}
        assert not reached & grading, (side, sorted(reached & grading))


def test_the_cli_is_imported_by_nothing():
    """Is the command line the top: no module of the package imports it?"""
    assert not [name for name, targets in graph().items() if "grader.cli" in targets]


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in edges[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_every_module_says_its_job_first():
    """Does every module open with a docstring whose first line says what it is for?"""
    missing = []
    for name, path in modules().items():
        if path.name == "__init__.py" and not path.read_text().strip():
            continue  # an empty package marker
        docstring = ast.get_docstring(ast.parse(path.read_text()))
        first = (docstring or "").strip().splitlines()[0:1]
        if not first or len(first[0]) < 15:
            missing.append(name)
    assert not missing, f"modules without a first docstring line: {missing}"


def test_hidden_suites_fail_only_through_their_own_words():
    """The suites run with ``--assert=plain`` (no rewriting: it would be redone for every
    submission): is every failure an ``assertions.expect``/``fail`` with a message, never a
    bare ``assert`` whose feedback would be only "the check failed"?"""
    bare = [
        f"{path.name}:{node.lineno}"
        for path in sorted((GRADER / "suites").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Assert)
    ]
    assert bare == []


def test_the_store_needs_no_renderer():
    """Does storing and reading results (the results folder, the gradebook's reading of it)
    use the model's own serialisation, never an output format?"""
    edges = graph()
    stored = sorted(t for t in reachable(edges, "grader.batch.store") if "results" in t)
    assert stored == ["grader.results.model"], stored
    read = reachable(edges, "grader.gradebook")
    assert not [t for t in read if t.startswith("grader.results.formats")]
