"""Which exercise function each hidden test judges, which others it goes through, and what
stands in for those when they are wrong: one mistake costs points once.

Every hidden test names the function it judges, ``@pytest.mark.tests_function("sse_grads")``
(a method as ``"Net.forward"``). The functions one of them calls are read from the
reference (:func:`graph`, from the AST of ``solutions/``): ``fit_sine`` calls ``predict``,
``sse_loss``, ``sse_grads`` and ``sgd_step``; ``Net.forward`` uses the layers of
``Net.__init__``. A suite runs a function's own tests before those of the functions that call
it (``tests/test_dependencies.py`` checks the order), and :mod:`grader.grading.suite_runner` records
each function whose test did not pass. A later probe call then has the worker put a stand-in
in place of each failed function the judged one goes through (:func:`standins`), so it is
judged on its own:

- a data-valued dependency (``predict``, ``sse_loss``, ``sse_grads``, ``sgd_step``,
  ``train_step``) is answered by an *oracle*: the worker's stand-in sends its arguments over
  the channel, and :data:`ORACLES` computes the reference on them here, after checking them
  (numbers or arrays of at most :data:`MAX_NUMBERS` numbers, the function's own signature);
  the reference never enters the worker;
- a component (``Net.__init__``'s layers) by given code in :mod:`grader.inside.probes.standins`
  (the stub's own layers, no solution).

Where the dependency passed its tests, the student's own composition is judged, as written.
Components that tests always replace by the grader's own (the small models of ex5's
``train_one_epoch`` and ``predict`` tests, the ``ToTensor`` data sets of ``make_loaders``) are
no dependency at all. Two are judged otherwise, and say why in :data:`OWN_COMPOSITION`; the
accuracy gate (:data:`GATE`) trains the student's own pieces together, by design.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re

import numpy as np
import pytest

from grader.course import reference
from grader.gate import rules
from grader.i18n import _
from grader.kit import EXERCISES, SOLUTIONS_DIR

MARKER = "tests_function"
GATE = "the accuracy gate"
"""What ``test_accuracy_gate`` judges: the student's pieces trained together (SPEC)."""
GATE_PIECES = (
    ("ex5", "set_seed"),
    ("ex3", "channel_stats"),
    ("ex3", "build_transform"),
    ("ex3", "make_loaders"),
    ("ex4", "Net.forward"),
    ("ex5", "train_one_epoch"),
)
"""What the gate trains: a mistake in any of them may cost the gate too (its points are
the pipeline's as a whole, which only the student's own pieces can show)."""

FAILED = pytest.StashKey[set]()
"""(exercise, function) of every test so far in this suite that did not pass."""
CURRENT = pytest.StashKey[object]()
"""The test being run (its marker says what the probes it calls judge)."""
USED = pytest.StashKey[list]()
"""On a test item: the stand-ins its probe calls used (named in its feedback)."""

MAX_NUMBERS = 100_000
"""The most numbers in one argument an oracle takes (the tests send 2,000 at most)."""

OWN_COMPOSITION = {
    (("ex5", "load_model"), ("ex4", "Net.__init__")): (
        "ex5's save/load test sends weights made for the shapes of the student's own Net, so "
        "a layer ex4 changed is charged by ex4's tests, not again here"
    ),
}
"""Dependencies judged with the student's own piece, and why that charges nothing twice."""


def _module(exercise: str) -> str:
    return EXERCISES[exercise].module


@functools.cache
def _defined() -> dict[str, dict[str, str]]:
    """Per exercise: each top-level name of the reference -> what it is (function, class,
    method ``Class.name``, or a constant)."""
    found = {}
    for key, exercise in EXERCISES.items():
        tree = ast.parse((SOLUTIONS_DIR / f"{exercise.module}.py").read_text(encoding="utf-8"))
        names = {}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                names[node.name] = "function"
            elif isinstance(node, ast.ClassDef):
                names[node.name] = "class"
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        names[f"{node.name}.{item.name}"] = "method"
            elif isinstance(node, ast.Assign):
                names.update({t.id: "constant" for t in node.targets if isinstance(t, ast.Name)})
        found[key] = names
    return found


def defined_names(exercise: str) -> set[str]:
    """What a ``tests_function`` marker of ``exercise``'s suite may name: the reference's
    top-level names and methods (and, in ex5, the accuracy gate)."""
    return set(_defined()[exercise]) | ({GATE} if exercise == rules.EXERCISE else set())


def _self_attributes(func: ast.FunctionDef, *, stored: bool) -> set[str]:
    context = ast.Store if stored else ast.Load
    return {
        node.attr
        for node in ast.walk(func)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        and isinstance(node.ctx, context)
    }


@functools.cache
def graph() -> dict[tuple[str, str], frozenset[tuple[str, str]]]:
    """(exercise, function) -> the exercise functions it calls directly, read from the
    reference: names of its own module or imported from another exercise (a class called
    means its ``__init__``), and for a method, ``__init__`` where it reads what that sets."""
    by_module = {e.module: key for key, e in EXERCISES.items()}
    edges = {}
    for key, exercise in EXERCISES.items():
        tree = ast.parse((SOLUTIONS_DIR / f"{exercise.module}.py").read_text(encoding="utf-8"))
        own = _defined()[key]
        known = {name: (key, name) for name, kind in own.items() if kind == "function"}
        known.update({name: (key, f"{name}.__init__") for name, kind in own.items()
                      if kind == "class"})  # fmt: skip
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module in by_module:
                other = by_module[node.module]
                for alias in node.names:
                    kind = _defined()[other].get(alias.name)
                    target = f"{alias.name}.__init__" if kind == "class" else alias.name
                    known[alias.asname or alias.name] = (other, target)
        units = []
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                units.append((node.name, node, None))
            elif isinstance(node, ast.ClassDef):
                init = next((m for m in node.body if isinstance(m, ast.FunctionDef)
                             and m.name == "__init__"), None)  # fmt: skip
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        units.append((f"{node.name}.{item.name}", item, (node.name, init)))
        for name, func, owner in units:
            calls = {
                known[n.id]
                for n in ast.walk(func)
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in known
            }
            if owner is not None and owner[1] is not None and func is not owner[1]:
                if _self_attributes(func, stored=False) & _self_attributes(owner[1], stored=True):
                    calls.add((key, f"{owner[0]}.__init__"))
            calls.discard((key, name))
            edges[(key, name)] = frozenset(calls)
    return edges


def through(function: tuple[str, str]) -> set[tuple[str, str]]:
    """Every exercise function ``function`` goes through, directly or not."""
    seen, todo = set(), [function]
    while todo:
        for dep in graph().get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    seen.discard(function)
    return seen


def tested(item) -> tuple[str, ...]:
    """The function(s) a test item judges, from its marker (none: not a graded test)."""
    marker = item.get_closest_marker(MARKER) if item is not None else None
    return tuple(marker.args) if marker is not None else ()


def target(function: tuple[str, str]) -> str:
    """What the worker replaces for ``function``: ``ex1_gradients.predict``."""
    exercise, name = function
    return f"{_module(exercise)}.{name}"


# -- the oracles: the reference, computed here on what a stand-in sends ------------------------


def _numbers(value, what: str):
    """A number, or a plain array of at most MAX_NUMBERS numbers; else TypeError/ValueError."""
    if isinstance(value, bool) or value is None or isinstance(value, str | dict):
        raise TypeError(f"{what} is {type(value).__name__}, not numbers")
    if isinstance(value, int | float):
        return value
    if isinstance(value, list):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        raise TypeError(f"{what} is not numbers")
    if value.size > MAX_NUMBERS:
        raise ValueError(f"{what} holds {value.size} numbers, over the {MAX_NUMBERS} taken")
    return np.array(value)


@functools.cache
def _signature(func) -> inspect.Signature:
    return inspect.signature(func)


def _checked(func, args, kwargs) -> inspect.BoundArguments:
    bound = _signature(func).bind(*args, **kwargs)
    for name, value in bound.arguments.items():
        bound.arguments[name] = _numbers(value, name)
    return bound


def _numpy_oracle(exercise: str, name: str):
    def answer(*args, **kwargs):
        func = getattr(reference.load(_module(exercise)), name)
        bound = _checked(func, args, kwargs)
        return func(*bound.args, **bound.kwargs)

    return answer


def _train_step_oracle(*args, **kwargs):
    """ex2's train_step from the caller's coefficients: the loss and the updated ones."""
    import torch

    func = reference.load("ex2_autograd").train_step
    bound = _checked(func, args, kwargs)
    coeffs, x, y, lr = (bound.arguments[k] for k in ("coeffs", "x", "y", "lr"))
    tensors = [torch.as_tensor(np.asarray(v)) for v in (coeffs, x, y)]
    leaf = tensors[0].clone().requires_grad_(True)
    loss = func(leaf, tensors[1], tensors[2], lr)
    return {"loss": loss, "coeffs": leaf.detach()}


ORACLES = {
    ("ex1", "predict"): _numpy_oracle("ex1", "predict"),
    ("ex1", "sse_loss"): _numpy_oracle("ex1", "sse_loss"),
    ("ex1", "sse_grads"): _numpy_oracle("ex1", "sse_grads"),
    ("ex1", "sgd_step"): _numpy_oracle("ex1", "sgd_step"),
    ("ex2", "train_step"): _train_step_oracle,
}
"""Data-valued dependencies: what answers a stand-in's question, on the trusted side."""
LOCAL = {("ex4", "Net.__init__")}
"""Components the worker has given code for (``grader.inside.probes.standins.LOCAL``)."""


def standins(config, exercise: str) -> tuple[list[str], dict]:
    """For the test being run: the worker's targets to replace, and the oracles that answer
    them (each function it goes through that failed its own test and has a stand-in)."""
    item = config.stash.get(CURRENT, None)
    failed = config.stash.get(FAILED, set())
    needed = set()
    for name in tested(item):
        needed |= through((exercise, name)) & failed
    chosen = sorted(dep for dep in needed if dep in ORACLES or dep in LOCAL)
    if chosen and item is not None:
        used = item.stash.setdefault(USED, [])
        used.extend(name for _, name in chosen if name not in used)
    return [target(dep) for dep in chosen], {target(dep): ORACLES[dep] for dep in chosen
                                             if dep in ORACLES}  # fmt: skip


def feedback(text: str, functions: tuple[str, ...], used=()) -> str:
    """A failing test's feedback, naming the function it judges (prefixed where it does not
    already), and the stand-ins it was judged with."""
    names = [f for f in functions if f != GATE]
    if names and not any(
        re.search(rf"(?<!\w){re.escape(f.rpartition('.')[2])}\b", text) for f in names
    ):
        text = _("{functions}: {feedback}", functions=" / ".join(names), feedback=text)
    if used:
        text = _(
            "{feedback} (judged with the grader's {functions} in place of yours, which failed "
            "its own test, so that mistake is not charged again here)",
            feedback=text,
            functions=", ".join(used),
        )
    return text


def declared() -> dict[str, list[tuple[str, tuple[str, ...], bool]]]:
    """Per exercise, in file order: each hidden test, the functions its marker names and
    whether it carries points, read from the suites' source (for the project's own checks)."""
    from grader.kit import SUITES_DIR

    found = {}
    for key in EXERCISES:
        tree = ast.parse((SUITES_DIR / f"test_{key}.py").read_text(encoding="utf-8"))
        rows = []
        for node in tree.body:
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
                continue
            names, points = (), False
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute):
                    if decorator.func.attr == MARKER:
                        names = tuple(ast.literal_eval(a) for a in decorator.args)
                    elif decorator.func.attr == "points":
                        points = True
            rows.append((node.name, names, points))
        found[key] = rows
    return found
