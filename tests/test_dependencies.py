"""One mistake costs once: the markers, the dependency graph, its stand-ins and the oracles."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from grader.course import reference
from grader.errors import ProbeFailure, ProbeTimeout
from grader.grading import dependencies
from grader.inside import channel, contract
from grader.inside.probes import standins
from grader.kit import SOLUTIONS_DIR
from grader.sandbox.client import WorkerClient, WorkerSpec, _answer


def test_every_hidden_test_names_the_function_it_judges():
    """Does every hidden test carry one tests_function marker, naming what its exercise
    defines (or the accuracy gate)?"""
    problems = []
    for exercise, rows in dependencies.declared().items():
        for name, functions, _ in rows:
            unknown = set(functions) - dependencies.defined_names(exercise)
            if not functions or unknown:
                problems.append(f"{exercise}::{name} judges {functions or 'nothing'}")
    assert not problems, problems


def test_a_functions_own_tests_run_before_those_of_its_callers():
    """In each suite, does every test of a function come before the tests of the functions
    that go through it (so that its failure is known when they run)?"""
    for exercise, rows in dependencies.declared().items():
        for i, (name, functions, _) in enumerate(rows):
            needs = set().union(*(dependencies.through((exercise, f)) for f in functions))
            later = [
                (other, judged)
                for other, judged, _ in rows[i + 1 :]
                if {(exercise, f) for f in judged} & needs
            ]
            assert not later, f"{exercise}::{name} runs before the tests of {later}"


def test_the_graph_is_read_from_the_reference():
    """Does the graph find what the reference's functions call: fit_sine its four helpers,
    sse_grads predict, fit_sine_autograd train_step, forward the layers, load_model Net?"""
    graph = dependencies.graph()
    assert graph["ex1", "fit_sine"] == {
        ("ex1", name) for name in ("predict", "sse_loss", "sse_grads", "sgd_step")
    }
    assert graph["ex1", "sse_grads"] == {("ex1", "predict")}
    assert graph["ex2", "fit_sine_autograd"] == {("ex2", "train_step")}
    assert graph["ex4", "Net.forward"] == {("ex4", "Net.__init__")}
    assert graph["ex5", "load_model"] == {("ex4", "Net.__init__")}
    assert not graph["ex1", "predict"] and not graph["ex3", "make_loaders"]


def test_every_dependency_has_a_stand_in_or_a_stated_reason():
    """Does each function a judged function goes through have a stand-in (an oracle or given
    code), or a reason why the student's own is used without charging twice?"""
    missing = [
        (function, dep)
        for function, deps in dependencies.graph().items()
        for dep in deps
        if dep not in dependencies.ORACLES
        and dep not in dependencies.LOCAL
        and (function, dep) not in dependencies.OWN_COMPOSITION
    ]
    assert not missing, missing
    local = {dependencies.target(dep) for dep in dependencies.LOCAL}
    assert local == set(standins.LOCAL)


def test_the_given_layers_are_the_stubs():
    """Does the stand-in for ex4's __init__ build exactly the layers of the stub (the
    reference's, keys and shapes), and no forward?"""

    class Bare(torch.nn.Module):
        pass

    net = Bare.__new__(Bare)
    standins.LOCAL["ex4_net.Net.__init__"](None)(net)
    want = reference.load("ex4_net").Net().state_dict()
    assert {k: v.shape for k, v in net.state_dict().items()} == {
        k: v.shape for k, v in want.items()
    }
    with pytest.raises(NotImplementedError):
        net(torch.zeros(1, 3, 32, 32))


def test_oracles_answer_as_the_reference_and_refuse_what_it_does_not_take():
    """Do the oracles give the reference's values, and refuse a wrong call, non-numbers and
    arrays over their bound with the error the caller will see?"""
    x, coeffs = np.linspace(-1, 1, 7), np.array([1.0, -2.0, 0.5, 3.0])
    predict = dependencies.ORACLES["ex1", "predict"]
    np.testing.assert_array_equal(
        predict(coeffs, x), reference.load("ex1_gradients").predict(coeffs, x)
    )
    with pytest.raises(TypeError):
        predict(coeffs)
    with pytest.raises(TypeError):
        predict(coeffs, "x")
    with pytest.raises(ValueError):
        predict(coeffs, np.zeros(dependencies.MAX_NUMBERS + 1))
    step = dependencies.ORACLES["ex2", "train_step"]
    tensor = channel.Tensor(np.array([0.1, -0.3, 0.2, 0.05], np.float32), "float32")
    xs = channel.Tensor(np.linspace(-1, 1, 9, dtype=np.float32), "float32")
    answer = step(tensor, xs, np.sin(xs), 1e-3)
    leaf = torch.tensor(tensor).requires_grad_(True)
    loss = reference.load("ex2_autograd").train_step(
        leaf, torch.tensor(xs), torch.sin(torch.tensor(xs)), 1e-3
    )
    assert answer["loss"] == pytest.approx(loss, rel=1e-6)
    np.testing.assert_allclose(answer["coeffs"].numpy(), leaf.detach().numpy(), rtol=1e-6)


def test_a_question_is_answered_only_for_its_call_and_its_slots_are_kept():
    """Is a stand-in's question answered only for the call it belongs to and for what the
    call stands in for, with arrays sent once by slot and reused?"""
    oracles = {"ex1_gradients.predict": dependencies.ORACLES["ex1", "predict"]}
    x, coeffs, slots = np.linspace(-1, 1, 5), np.ones(4), {}

    def ask(args, target="ex1_gradients.predict", request="r1"):
        question = {contract.REPLY_ID: request, contract.ORACLE: target, contract.ORACLE_ARGS: args}
        return _answer(channel.loads(channel.dumps(question)), "r1", oracles, slots)

    sent = {contract.ORACLE_SLOT: "x", contract.ORACLE_VALUE: x}
    first = ask([[coeffs, sent], {}])[contract.ORACLE_REPLY]
    again = ask([[coeffs, {contract.ORACLE_SLOT: "x"}], {}])[contract.ORACLE_REPLY]
    np.testing.assert_array_equal(first, again)
    assert contract.ORACLE_ERROR in ask([[coeffs, {contract.ORACLE_SLOT: "y"}], {}])
    assert contract.ORACLE_ERROR in ask([[coeffs, x], {}], target="ex1_gradients.sse_grads")
    assert ask([[coeffs, x], {}], request="r0") is None


def test_feedback_names_the_judged_function_and_the_stand_ins():
    """Does a failing test's feedback name the function it judges (added where it does not),
    and say which of the student's functions the grader's stood in for?"""
    assert dependencies.feedback("grad for a is 1", ("sse_grads",)).startswith("sse_grads: ")
    named = "sse_grads returned shape (3,)"
    assert dependencies.feedback(named, ("sse_grads",)) == named
    assert dependencies.feedback("x", ("Net.forward",)).startswith("Net.forward: ")
    text = dependencies.feedback("coefficients differ", ("fit_sine",), ["sse_grads"])
    assert "fit_sine" in text and "grader's sse_grads in place of yours" in text


def test_a_dependent_is_judged_with_the_stand_in_in_a_worker(make_submission, isolation):
    """In a real worker: is sse_grads, given the grader's predict in place of a wrong one,
    judged on its own; and does a stand-in nobody answers fail the call in the student's
    code, with the names put back after?"""
    wrong = (
        (SOLUTIONS_DIR / "ex1_gradients.py")
        .read_text()
        .replace("a, b, c, d = coeffs", "d, c, b, a = coeffs")
    )
    folder = make_submission("s", {"ex1_gradients.py": wrong}, keep={"ex1_gradients"})
    x, coeffs = np.linspace(-np.pi, np.pi, 50), np.array([0.3, -0.2, 0.1, 0.05])
    y, target = np.sin(x), "ex1_gradients.predict"
    want = reference.load("ex1_gradients").sse_grads(coeffs, x, y)
    spec = WorkerSpec(submission=folder, isolation=isolation)
    with WorkerClient(spec, start_timeout_s=120) as worker:
        worker.call("load", timeout_s=60, module="ex1_gradients")
        args = dict(coeffs=coeffs, x=x, y=y)
        own = worker.call("ex1.sse_grads", timeout_s=30, **args)
        assert not np.allclose(own, want)
        oracles = {target: dependencies.ORACLES["ex1", "predict"]}
        judged = worker.call(
            "ex1.sse_grads", timeout_s=30, standins=[target], oracles=oracles, **args
        )
        np.testing.assert_allclose(judged, want, rtol=1e-12)
        with pytest.raises(ProbeFailure, match="could not take these arguments"):
            worker.call("ex1.sse_grads", timeout_s=30, standins=[target], **args)
        np.testing.assert_array_equal(worker.call("ex1.sse_grads", timeout_s=30, **args), own)


def test_the_stand_ins_round_trips_are_not_the_students_time(make_submission, isolation):
    """Is the time the trusted side spends answering a stand-in's questions given back to the
    call, up to the call's limit again (a fit_sine whose 300 steps each wait 3 ms for the
    grader's predict passes a 1 s limit), while a loop of questions still ends (20,000 steps
    in a 0.05 s limit are stopped)?"""
    wrong = (
        (SOLUTIONS_DIR / "ex1_gradients.py")
        .read_text()
        .replace("a, b, c, d = coeffs", "d, c, b, a = coeffs")
    )
    folder = make_submission("s", {"ex1_gradients.py": wrong}, keep={"ex1_gradients"})
    target, answer = "ex1_gradients.predict", dependencies.ORACLES["ex1", "predict"]

    def slow_predict(*args, **kwargs):
        time.sleep(0.003)
        return answer(*args, **kwargs)

    spec = WorkerSpec(submission=folder, isolation=isolation)
    args = dict(steps=300, lr=1e-6, seed=0)
    with WorkerClient(spec, start_timeout_s=120) as worker:
        worker.call("load", timeout_s=60, module="ex1_gradients")
        out = worker.call(
            "ex1.fit_sine", timeout_s=1, standins=[target], oracles={target: slow_predict}, **args
        )
        assert len(out["losses"]) == 3
        with pytest.raises(ProbeTimeout):
            worker.call(
                "ex1.fit_sine",
                timeout_s=0.05,
                standins=[target],
                oracles={target: answer},
                steps=20000,
                lr=1e-6,
                seed=0,
            )
