"""The package's shape: imports run one way, and every module says what it is for.

Imports inside functions count: a cycle that only works because one side imports late is
still a cycle to whoever changes either side.
"""

from __future__ import annotations

import ast
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
    known = {"grader.run": tmp_path / "run.py", "grader.batch": tmp_path / "batch.py"}
    assert imports("grader.run", tmp_path / "run.py", known) == {"grader.batch"}


def test_no_import_cycle_in_the_package():
    """Do the imports of grader/ (top level and inside functions) form no cycle?"""
    cycle = find_cycle(graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_layers_run_one_way():
    """Does each layer import only the ones below it (cli -> run -> batch -> grading ->
    suite_runner -> sandbox)?"""
    edges = graph()
    order = ["grader.cli", "grader.run", "grader.batch", "grader.grading", "grader.suite_runner"]
    for higher_index, higher in enumerate(order):
        for lower in order[higher_index + 1 :]:
            assert higher not in reachable(edges, lower), f"{lower} reaches up to {higher}"
    assert "grader.run" not in reachable(edges, "grader.export")


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
