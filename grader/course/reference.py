"""The reference solutions, loaded in the trusted process as answer keys.

Each is loaded from its file in ``solutions/`` under a private name
(``grader._reference.ex4_net``), never by its bare module name: the trusted process must not
find a submission's ``ex4_net.py`` first, whatever the current folder or ``sys.path`` hold.
A reference module that imports another exercise (``from ex4_net import Net``) gets the
reference one, lent under the bare name only while it loads.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import sys
import threading
from types import ModuleType

from grader.kit import EXERCISES, SOLUTIONS_DIR

PREFIX = "grader._reference."
_MODULES = {e.module for e in EXERCISES.values()}
_LOCK = threading.RLock()
_ANSWERS: dict[tuple, object] = {}


def _siblings(source: str) -> set[str]:
    """The exercise modules that ``source`` imports."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module in _MODULES and not node.level:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in _MODULES)
    return found


def load(module: str) -> ModuleType:
    """``solutions/<module>.py`` (trusted code), loaded once by its path."""
    if module not in _MODULES:
        raise ImportError(f"{module} is not an exercise module")
    name = PREFIX + module
    with _LOCK:
        if name in sys.modules:
            return sys.modules[name]
        path = SOLUTIONS_DIR / f"{module}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load the reference solution {path}")
        loaded = importlib.util.module_from_spec(spec)
        lent = {m: load(m) for m in _siblings(path.read_text(encoding="utf-8"))}
        saved = {m: sys.modules.get(m) for m in lent}
        sys.modules.update(lent)
        sys.modules[name] = loaded
        try:
            spec.loader.exec_module(loaded)
        except BaseException:
            del sys.modules[name]
            raise
        finally:
            for m, previous in saved.items():
                if previous is None:
                    sys.modules.pop(m, None)
                else:
                    sys.modules[m] = previous
        return loaded


def once(func, *args):
    """``func(*args)`` for an answer key that depends on nothing but its arguments (a
    reference trajectory, say), computed once per grading process and handed out as a copy:
    the suites need the same ones for every submission."""
    key = (func.__module__, func.__qualname__, args)
    with _LOCK:
        if key not in _ANSWERS:
            _ANSWERS[key] = func(*args)
        return copy.deepcopy(_ANSWERS[key])
