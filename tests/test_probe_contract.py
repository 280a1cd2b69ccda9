"""The suite <-> probe contract, checked without starting a worker.

A suite calls ``probe("name", **args)``; the worker runs ``grader.inside.probes.<exercise>.name``,
which must be marked ``@probe`` and take those arguments. (The worker gets only
``grader/inside/``: ``tests/test_layout.py`` keeps it from importing anything else.) A failure
on the grader's side of a call is reported as the grader's, not the student's.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from grader.inside import worker
from grader.inside.contract import KIND_GRADER, KIND_STUDENT, REPLY_KIND, REPLY_OK, SUBMISSION_ENV

GRADER = Path(__file__).resolve().parent.parent / "grader"
CALL_OPTIONS = {"timeout_s", "outside_budget", "watch"}
"""Keywords of the suites' ``probe`` fixture itself, not passed to the probe."""


def registered(module: Path) -> dict[str, ast.FunctionDef]:
    """The functions of a probes module marked ``@probe``."""
    tree = ast.parse(module.read_text())
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(isinstance(d, ast.Name) and d.id == "probe" for d in node.decorator_list)
    }


def probe_calls(path: Path):
    """``(line, probe name, keyword names)`` of each ``probe("name", ...)`` call in ``path``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "probe":
            first = node.args[0] if node.args else None
            name = first.value if isinstance(first, ast.Constant) else None
            keywords = {k.arg for k in node.keywords if k.arg} - CALL_OPTIONS
            yield node.lineno, name, keywords


def suite_calls():
    """Every probe call of the hidden suites (and of the gate's trial, an ex5 helper)."""
    files = {f"ex{n}": [GRADER / "suites" / f"test_ex{n}.py"] for n in range(1, 6)}
    files["ex5"].append(GRADER / "gate" / "trial.py")
    for exercise, paths in files.items():
        for path in paths:
            for line, name, keywords in probe_calls(path):
                yield exercise, f"{path.name}:{line}", name, keywords


def accepts(func: ast.FunctionDef, keywords: set[str]) -> set[str]:
    """The keywords ``func`` would refuse."""
    if func.args.kwarg is not None:
        return set()
    names = {a.arg for a in [*func.args.args, *func.args.kwonlyargs]}
    return keywords - names


def test_every_probe_a_suite_calls_is_registered_and_takes_its_arguments():
    """Does each probe("name", ...) of a suite name a @probe of its exercise that takes
    the arguments the suite passes?"""
    problems = []
    calls = list(suite_calls())
    assert {call[0] for call in calls} == {f"ex{n}" for n in range(1, 6)}, "calls not found"
    for exercise, where, name, keywords in calls:
        if name is None:
            problems.append(f"{where}: the probe's name is not a plain string")
            continue
        probes = registered(GRADER / "inside" / "probes" / f"{exercise}.py")
        if name not in probes:
            problems.append(f"{where}: no @probe {exercise}.{name}")
        elif refused := accepts(probes[name], keywords):
            problems.append(f"{where}: {exercise}.{name} takes no {sorted(refused)}")
    assert not problems, "\n".join(problems)


def test_the_contract_check_sees_a_missing_probe(tmp_path):
    """Would a call to a probe that does not exist be found?"""
    suite = tmp_path / "test_exX.py"
    suite.write_text('def test_x(probe):\n    probe("no_such_probe", x=1)\n')
    assert list(probe_calls(suite)) == [(2, "no_such_probe", {"x"})]
    assert "no_such_probe" not in registered(GRADER / "inside" / "probes" / "ex1.py")


def test_a_probe_call_the_probe_does_not_take_is_the_graders_fault(tmp_path, monkeypatch):
    """Is a request with arguments the probe does not take (or an unknown probe) reported
    as the grader's failure, while a student's missing file stays the student's?"""
    monkeypatch.setenv(SUBMISSION_ENV, str(tmp_path))
    wrong_args = worker.handle({"probe": "load", "args": {"modul": "ex1_gradients"}})
    assert (wrong_args[REPLY_OK], wrong_args[REPLY_KIND]) == (False, KIND_GRADER)
    unknown = worker.handle({"probe": "ex1.no_such_probe", "args": {}})
    assert unknown[REPLY_KIND] == KIND_GRADER
    missing = worker.handle({"probe": "load", "args": {"module": "ex1_gradients"}})
    assert (missing[REPLY_KIND], missing["type"]) == (KIND_STUDENT, "MissingFile")


@pytest.mark.parametrize("kind, status", [(KIND_GRADER, "error"), (KIND_STUDENT, "failed")])
def test_the_reply_kind_decides_the_status(kind, status):
    """Does the trusted side turn the grader's kind into ``error`` and the student's into
    ``failed``?"""
    from grader.errors import ProbeError, ProbeFailure

    raised = ProbeError("x") if kind == KIND_GRADER else ProbeFailure("x")
    assert raised.status == status
