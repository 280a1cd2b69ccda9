"""Hidden suite for ex5_train, with the CIFAR-10 accuracy gate."""

import io
import math
from random import Random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from grader.course import reference
from grader.errors import ProbeFailure
from grader.gate import rules
from grader.gate import trial as gate_trial
from grader.gate.diagnosis import accuracy_diagnosis, eval_normalisation, time_feedback
from grader.i18n import N_, _
from grader.inside.probes.ex5 import small_model
from grader.kit import CLASS_NAMES, WORKER_START_TIMEOUT_S
from grader.suites.assertions import (
    as_array,
    as_bool,
    as_dict,
    as_float,
    as_int_lists,
    as_list,
    as_state_dict,
    expect,
    expect_close,
    fail,
)

EXERCISE = "ex5"


def _seeded_draws(seed: int) -> list:
    """What set_seed(seed) must lead to: the draws of generators seeded here with ``seed``."""
    torch_draws = torch.rand(2, generator=torch.Generator().manual_seed(seed)).tolist()
    return [torch_draws, np.random.RandomState(seed).rand(2).tolist(), [Random(seed).random()]]


@pytest.mark.tests_function("set_seed")
@pytest.mark.points(2)
def test_set_seed_repeats(probe):
    """Does set_seed(s) seed torch, numpy and random with s (so that a run repeats)?"""
    seeds = (7, 7, 8)
    draws = as_list(probe("set_seed", seeds=seeds), _("set_seed's draws"), length=3)
    names = ("torch", "numpy", "random")
    for seed, got in zip(seeds, draws, strict=True):
        got = as_list(got, _("the draws after set_seed"), length=3)
        for name, values, want in zip(names, got, _seeded_draws(seed), strict=True):
            values = as_array(
                values, _("{name}'s draws after set_seed({seed})", name=name, seed=seed)
            )
            if values.shape != (len(want),) or not np.array_equal(values, want):
                said = {"seed": seed, "name": name, "call": SEED_CALLS[name]}
                if draws[0] == draws[1]:
                    fail(
                        _(
                            "after set_seed({seed}), {name} did not give the numbers of a "
                            "{name} generator seeded with {seed}: seed it with the seed itself "
                            "({call})",
                            **said,
                        )
                    )
                fail(
                    _(
                        "after set_seed({seed}), {name} did not give the numbers of a {name} "
                        "generator seeded with {seed}: seed {name} too ({call})",
                        **said,
                    )
                )


SEED_CALLS = {
    "torch": "torch.manual_seed(seed)",
    "numpy": "np.random.seed(seed)",
    "random": "random.seed(seed)",
}


@pytest.fixture(scope="module")
def problem(rng):
    features = rng.standard_normal((22, 8)).astype(np.float32)
    labels = rng.integers(0, 3, 22)
    torch.manual_seed(5)
    state = {k: v.numpy() for k, v in small_model().state_dict().items()}
    return state, features, labels


def _train(state, features, labels, mistake=None, lr=0.1):
    """The reference epoch (batch 4, SGD lr 0.1 momentum 0.5), or a known mistaken one."""
    model = small_model(state)
    loader = DataLoader(
        TensorDataset(torch.from_numpy(features), torch.from_numpy(labels)), batch_size=4
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.5)
    criterion = nn.CrossEntropyLoss()
    if mistake is None:
        loss = reference.load("ex5_train").train_one_epoch(
            model, loader, criterion, optimizer, "cpu"
        )
        return loss, model.state_dict()
    for inputs, targets in loader:
        if mistake != "no_zero_grad":
            optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
    return None, model.state_dict()


MISTAKES = {
    "no_zero_grad": N_(
        "the gradients are not zeroed between batches, so they pile up from one "
        "to the next: call optimizer.zero_grad() for every batch"
    ),
}


def _epoch(probe, problem, lr: float) -> dict:
    """The student's train_one_epoch on ``problem`` (batch 4, SGD at ``lr``, momentum 0.5)."""
    state, features, labels = problem
    out = probe(
        "train_one_epoch",
        state_dict=state,
        features=features,
        labels=labels,
        batch_size=4,
        lr=lr,
        momentum=0.5,
    )
    return as_dict(out, _("train_one_epoch's report"), ("loss", "state_dict"))


@pytest.fixture(scope="module")
def epoch(probe, problem):
    out = _epoch(probe, problem, 0.1)
    out["state_dict"] = as_state_dict(out["state_dict"], _("the trained state_dict"))
    return out


def _close_state(got: dict, want: dict) -> bool:
    return set(got) == set(want) and all(
        np.allclose(np.asarray(got[k]), want[k].numpy(), rtol=1e-4, atol=1e-6) for k in want
    )


@pytest.mark.tests_function("train_one_epoch")
@pytest.mark.points(4)
def test_train_one_epoch_updates_weights(epoch, problem):
    """After one epoch, are the weights those of zero_grad, forward, loss, backward, step for
    every batch? (The model has no dropout or batch norm, so its mode does not change them:
    the mode is the next test's.)"""
    state, features, labels = problem
    _loss, want = _train(state, features, labels)
    if _close_state(epoch["state_dict"], want):
        return
    if _close_state(epoch["state_dict"], {k: torch.from_numpy(v) for k, v in state.items()}):
        fail(
            _(
                "the weights did not change during the epoch: call optimizer.step() for every "
                "batch, after loss.backward() (a step before backward() has no gradients to use)"
            )
        )
    for mistake, message in MISTAKES.items():
        if _close_state(epoch["state_dict"], _train(state, features, labels, mistake)[1]):
            fail(_(message))
    fail(
        _(
            "after one epoch the weights differ from the expected training: for each batch "
            "zero the gradients, forward, loss, backward, optimizer.step()"
        )
    )


@pytest.mark.tests_function("train_one_epoch")
@pytest.mark.points(1)
def test_train_one_epoch_sets_train_mode(epoch):
    """Handed the model in eval mode, does train_one_epoch put it in training mode?"""
    expect(
        as_bool(epoch.get("training"), _("the model's training mode")),
        _(
            "after train_one_epoch the network was still in eval mode, as it was handed over: "
            "call net.train() first (dropout and batch norm train only in training mode, and "
            "predict leaves the network in eval mode)"
        ),
    )


@pytest.mark.tests_function("train_one_epoch")
@pytest.mark.points(2)
def test_train_one_epoch_mean_loss(probe, problem):
    """Is the returned loss the mean per sample over the epoch (the last batch is smaller)?

    The optimizer's learning rate is 0 here, so the weights hold still and the losses are
    those of the starting weights whatever the update does (the other test's to judge).
    """
    state, features, labels = problem
    want, _state = _train(state, features, labels, lr=0.0)
    got = as_float(_epoch(probe, problem, 0.0)["loss"], _("train_one_epoch's return value"))
    expect_close(
        got,
        want,
        _("the epoch's mean loss"),
        rtol=1e-4,
        hint=_(
            "weight each batch's loss by its number of samples, divide by the total "
            "(the last batch has 2 samples, not 4)"
        ),
    )


@pytest.mark.tests_function("predict")
@pytest.mark.points(4)
def test_predict_in_eval_mode_without_graph(probe, problem):
    """Does predict return every prediction in order, in eval mode, without building a graph?"""
    _state, features, labels = problem
    torch.manual_seed(6)
    model = small_model(dropout=True)
    with torch.no_grad():
        model[2].running_mean.uniform_(-0.5, 0.5)
        model[2].running_var.uniform_(0.5, 2.0)
        bn_state = {k: v.numpy() for k, v in model.state_dict().items()}
        expected = model.eval()(torch.from_numpy(features)).argmax(1).numpy()
    out = probe("predict", state_dict=bn_state, features=features, labels=labels, batch_size=5)
    out = as_dict(out, _("predict's report"), ("predicted", "labels", "calls"))
    calls = [
        [as_bool(grad, _("grad enabled")), as_bool(training, _("training"))]
        for grad, training in (
            as_list(call, _("a forward call"), length=2) for call in as_list(out["calls"], "calls")
        )
    ]
    expect(
        calls and not any(training for grad, training in calls),
        _(
            "predict ran the network in training mode: call net.eval() first (dropout and batch "
            "norm behave differently)"
        ),
    )
    expect(
        not any(grad for grad, training in calls),
        _("predict built a graph: wrap the loop in `with torch.no_grad():`"),
    )
    predicted = as_array(out["predicted"], _("predict's predictions"))
    last = len(labels) % 5 or 5
    expect(
        predicted.shape != (last,),
        _(
            "predict returned {last} predictions for {samples} samples, as many as the last "
            "batch holds (the loader gives batches of 5): collect every batch, appending each "
            "batch's predictions and labels and joining them at the end (torch.cat)",
            last=last,
            samples=len(labels),
        ),
    )
    expect(
        predicted.shape == (len(labels),),
        _(
            "predict's predictions have shape {shape}; expected ({samples},), one per sample "
            "of the loader",
            shape=predicted.shape,
            samples=len(labels),
        ),
    )
    expect(
        np.array_equal(as_array(out["labels"], _("predict's labels"), shape=(22,)), labels),
        _("the labels predict returned are not the loader's labels in order"),
    )
    expect(
        np.array_equal(predicted, expected),
        _("the predictions are not argmax of the logits, in loader order"),
    )


@pytest.mark.tests_function("overall_accuracy")
@pytest.mark.points(2)
def test_overall_accuracy(probe):
    """Is overall_accuracy the fraction of correct predictions, as a float?"""
    # one miss above its label and one below: a comparison other than == counts one of them
    predicted, labels = np.array([0, 1, 0, 2, 1, 0, 3]), np.array([0, 1, 1, 2, 0, 0, 3])
    got = as_float(
        probe("overall_accuracy", predicted=predicted, labels=labels), "overall_accuracy"
    )
    if math.isclose(got, 500 / 7, rel_tol=1e-6):
        fail(_("overall_accuracy returned a percentage; return a fraction between 0 and 1"))
    hint = (
        _("integer division or counting in the wrong tensor type? use .float()")
        if got in (0, 1)
        else _("count the predictions equal to their label: (predicted == labels)")
    )
    expect_close(got, 5 / 7, "overall_accuracy", rtol=1e-6, hint=hint)


def _first_samples_only(predicted, labels, count: int, classes: int) -> np.ndarray:
    """Per-class accuracy counted over the first ``count`` samples only (the tutorial's
    ``for i in range(4)`` loop, written for batches of 4)."""
    correct, total = np.zeros(classes), np.zeros(classes)
    for p, t in zip(predicted[:count], labels[:count], strict=True):
        total[t] += 1
        correct[t] += p == t
    with np.errstate(invalid="ignore", divide="ignore"):
        return correct / total


@pytest.mark.tests_function("per_class_accuracy")
@pytest.mark.points(4)
def test_per_class_accuracy(probe):
    """Is each class's accuracy correct/samples of that class, NaN for a class with none?"""
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 3, 3, 3])
    predicted = np.array([0, 0, 1, 0, 1, 2, 2, 3, 0, 3])
    try:
        out = probe("per_class_accuracy", predicted=predicted, labels=labels, num_classes=5)
    except ProbeFailure as exc:
        if "ZeroDivisionError" in exc.message:
            exc.message = _(
                "{message}: class 4 has no samples, and its accuracy must be NaN then",
                message=exc.message,
            )
        raise
    got = as_array(out, "per_class_accuracy", shape=(5,), finite=False)
    expected = np.array([3 / 4, 1 / 2, 1.0, 2 / 3, np.nan])
    by_total = np.array([3, 1, 1, 2, 0]) / labels.size
    if np.allclose(got[:4], by_total[:4]):
        fail(
            _(
                "each class's count of correct predictions was divided by the total number of "
                "samples; divide by the number of samples of that class"
            )
        )
    if np.allclose(got[:4], expected[:4] * 100, rtol=1e-6):
        fail(_("per_class_accuracy returned percentages; return fractions between 0 and 1"))
    for count in (4,):
        partial = _first_samples_only(predicted, labels, count, 5)
        if np.allclose(got, partial, equal_nan=True) and not np.allclose(
            partial, expected, equal_nan=True
        ):
            fail(
                _(
                    "only the first {count} samples were counted (the tutorial's `for i in "
                    "range({count})` loop is for batches of {count}): count every sample",
                    count=count,
                )
            )
    expect(
        math.isnan(got[4]),
        _("class 4 has no samples, so its accuracy should be NaN, got {got}", got=got[4]),
    )
    expect_close(
        got[:4],
        expected[:4],
        _("per-class accuracy"),
        rtol=1e-6,
        hint=_("for class k: (predicted == k) & (labels == k) over (labels == k)"),
    )
    default = probe("per_class_accuracy", predicted=predicted, labels=labels, num_classes=None)
    default = as_array(default, _("per_class_accuracy without num_classes"), finite=False)
    expect(
        default.shape == (10,),
        _(
            "per_class_accuracy without num_classes gave {count} classes: keep the default "
            "num_classes=10",
            count=default.size,
        ),
    )


def _net_weights(seed: int) -> dict:
    torch.manual_seed(seed)
    return reference.load("ex4_net").Net().state_dict()


MAX_NET_ELEMENTS = 10_000_000
MAX_NET_ENTRIES = 1000
"""Entries of the student's Net's state_dict weights are made for (the course's has 10): each
costs a tensor here and a record of the file sent back, so a million empty ones cost
minutes and hundreds of MB."""


def _weights_like(shapes: dict, seed: int) -> dict:
    """Weights chosen here for a network whose entries have ``shapes`` (the student's Net, so
    that a layer changed in ex4 is not charged again here)."""
    generator = torch.Generator().manual_seed(seed)
    weights, elements = {}, 0
    shapes = as_dict(shapes, _("the Net's shapes"))
    expect(
        len(shapes) <= MAX_NET_ENTRIES,
        _(
            "the Net's state_dict holds {count:,} entries, more than {most:,}; the course's "
            "Net has 10: keep ex4's __init__",
            count=len(shapes),
            most=MAX_NET_ENTRIES,
        ),
    )
    for name, entry in shapes.items():
        entry = as_dict(entry, _("the shape of {name}", name=name), ("shape", "float"))
        (size,) = as_int_lists([entry["shape"]], _("the shape of {name}", name=name))
        elements += math.prod(size)
        expect(
            elements <= MAX_NET_ELEMENTS,
            _(
                "the Net holds more than {most:,} numbers (up to {name}: {count:,}); the "
                "course's Net has 62,006 parameters: keep ex4's __init__",
                most=MAX_NET_ELEMENTS,
                name=name,
                count=elements,
            ),
        )
        if as_bool(entry["float"], "float"):
            weights[name] = torch.randn(size, generator=generator)
        else:
            weights[name] = torch.randint(0, 100, size, generator=generator)
    return weights


def _saved_state(report) -> tuple[dict, dict]:
    """What save_model wrote, as the worker read it with torch.load(weights_only=True): the
    tensors it holds by name, and what any other entry holds (by type). Only that flat
    mapping crosses to this side: nothing the student built is unpickled or walked here."""
    report = as_dict(report, _("save_model's file"), ("bytes",))
    size = report["bytes"]
    expect(isinstance(size, int) and size > 0, _("save_model wrote nothing at the given path"))
    if "error" in report:
        fail(
            _(
                "save_model did not write a state_dict that torch.load(path, "
                "weights_only=True) reads ({error}); save net.state_dict() with torch.save",
                error=str(report["error"])[:100],
            )
        )
    expect("type" not in report, _("save_model should save net.state_dict(), not the network"))
    report = as_dict(report, _("save_model's file"), ("tensors", "others"))
    others = as_dict(report["others"], _("the saved file's other entries"))
    return as_state_dict(report["tensors"], _("the saved file")), others


@pytest.mark.tests_function("save_model", "load_model")
@pytest.mark.points(3)
def test_save_and_load_round_trip(probe):
    """Does save_model write the network's state_dict, and does load_model give a Net with
    exactly the weights of a saved file?"""
    sent = {k: v.numpy() for k, v in _net_weights(3).items()}
    shapes = probe("net_shapes")
    given = _weights_like(shapes, 4)
    buffer = io.BytesIO()
    torch.save(given, buffer)
    out = as_dict(
        probe(
            "save_and_load", state_dict=sent, file_bytes=np.frombuffer(buffer.getvalue(), np.uint8)
        ),
        _("save_and_load's report"),
        ("saved", "loaded_type", "loaded", "refused"),
    )
    state, others = _saved_state(out["saved"])
    for key, value in sent.items():
        if list(value.shape) != shapes.get(key, {}).get("shape"):
            continue  # a layer ex4 changed: charged there
        expect(
            key in state and np.array_equal(np.asarray(state[key], dtype=np.float32), value),
            _(
                "{key} is not in the saved file as the network held it (it holds a {held} "
                "there): save net.state_dict()",
                key=key,
                held=str(others[key])[:100],
            )
            if key in others
            else _(
                "{key} is not in the saved file as the network held it: save net.state_dict()",
                key=key,
            ),
        )
    expect(
        out["loaded_type"] == "Net",
        _("load_model returned a {type}, not a Net", type=out["loaded_type"]),
    )
    refused = out.get("refused")
    expect(
        isinstance(refused, str) and "Weights only load failed" in refused,
        _(
            "load_model read a file that holds more than tensors (it could run code) without "
            "refusing it: load with torch.load(path, weights_only=True)"
        ),
    )
    loaded = as_state_dict(out["loaded"], _("the loaded state_dict"))
    for key, value in given.items():
        expect(
            key in loaded
            and np.array_equal(np.asarray(loaded[key], dtype=np.float32), value.numpy()),
            _(
                "{key} differs after save_model then load_model: load the file with "
                "net.load_state_dict(torch.load(path, weights_only=True))",
                key=key,
            ),
        )


GATE_POINTS = 8


@pytest.mark.tests_function("the accuracy gate")
@pytest.mark.points(GATE_POINTS)
def test_accuracy_gate(
    probe, worker, plan, seat, device_recipe, gate_labels, gate_spec, record_property
):
    """Trained with your pipeline on CIFAR-10, does the Net reach the course's accuracy in time?"""
    from grader import data
    from grader.course import reference
    from grader.gate import evaluation

    recipe, cost, device = device_recipe, plan.gate.reference, plan.device
    limit, limit_metrics = rules.time_limit(recipe, cost, device)
    record_property("threshold", recipe["threshold"])
    for key, value in limit_metrics.items():
        record_property(key, value)
    probe.ensure_loaded()  # ex5_train imports at all, where the training split is not
    worker.close()  # and nothing that worker started lives on into the gate's run
    trial = gate_trial.run(
        gate_spec, recipe, limit, start_timeout_s=WORKER_START_TIMEOUT_S, ledger=seat.ledger
    )
    if limit.basis == "cpu" and trial.cpu_s is None and not trial.stopped:
        # the kernel's accounting was lost: judge by wall time against the reference's
        wall_s = cost["wall_s"]
        seconds = recipe["time_factor"] * wall_s
        limit = gate_trial.Limit("wall", seconds, limit.wall_cap_s)
        limit_metrics.update(time_basis="wall", reference_s=wall_s, time_limit_s=seconds)
    record_property("train_s", round(trial.wall_s, 2))
    record_property("train_cpu_s", round(trial.cpu_s, 2) if trial.cpu_s is not None else None)
    record_property("phases_cpu_s", trial.phases_cpu_s)
    cost = trial.cost(limit.basis)
    if limit_metrics.get("reference_s") and cost is not None:
        record_property("time_ratio", round(cost / limit_metrics["reference_s"], 3))
    if trial.stopped or cost is None or cost > limit.seconds:
        record_property("accuracy", None)
        fail(time_feedback(trial, limit, limit_metrics, device))
    prepared = as_dict(trial.prepared, _("the gate's preparation"), ("mean", "std", "eval"))
    mean, std, note = eval_normalisation(prepared)
    out = as_dict(trial.weights, _("the gate's training report"), ("state_dict",))
    images, labels = data.load_split(plan.data_root, "test")
    try:
        scores = evaluation.evaluate(
            out["state_dict"],
            mean,
            std,
            images,
            labels,
            device,
            reference.load("ex4_net").Net,
            permutation=gate_labels["permutation"],
            flip=recipe["flip_eval"],
        )
    except ValueError as exc:
        fail(_("the trained network could not be evaluated: {error}", error=exc))
    accuracy = scores["accuracy"]
    record_property("accuracy", round(accuracy, 4))
    record_property("per_class", [round(v, 4) for v in scores["per_class"]])
    record_property("confusion", scores["confusion"])
    if accuracy < recipe["threshold"]:
        per_class = ", ".join(
            f"{c} {v:.0%}" for c, v in zip(CLASS_NAMES, scores["per_class"], strict=True)
        )
        fail(
            _(
                "test accuracy {accuracy:.1%} is below the required {threshold:.0%} (per class: "
                "{per_class}){note}. {diagnosis}",
                accuracy=accuracy,
                threshold=recipe["threshold"],
                per_class=per_class,
                note=note,
                diagnosis=accuracy_diagnosis(scores, prepared, out),
            )
        )


@pytest.fixture(scope="module")
def device_recipe(plan):
    if plan.gate is None:
        pytest.skip(
            _(
                "the CIFAR-10 accuracy gate was left out (--no-gate): its {points} points are "
                "not graded",
                points=GATE_POINTS,
            )
        )
    if plan.data_root is None:
        pytest.skip(_("the CIFAR-10 accuracy gate needs prepared data (grader data prepare)"))
    return plan.gate.recipe
