"""Hidden suite for ex5_train, with the CIFAR-10 accuracy gate."""

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from grader import reference
from grader.checks import (
    as_array,
    as_bool,
    as_dict,
    as_float,
    as_list,
    as_state_dict,
    expect,
    expect_close,
    fail,
)
from grader.config import CLASS_NAMES
from grader.probes.ex5 import small_model

EXERCISE = "ex5"
NEEDS_TRAIN_DATA = True


@pytest.mark.points(2)
def test_set_seed_repeats(probe):
    """Does set_seed make torch, numpy and random repeat, and differ for another seed?"""
    same_a, same_b, other = as_list(probe("set_seed", seed=7), "set_seed's draws", length=3)
    names = ("torch", "numpy", "random")
    for name, a, b, c in zip(names, same_a, same_b, other, strict=True):
        expect(a == b, f"after set_seed(7) twice, {name} gave different numbers: seed {name} too")
        expect(a != c, f"set_seed(8) gave the same {name} numbers as set_seed(7): use the seed")


@pytest.fixture(scope="module")
def problem(rng):
    features = rng.standard_normal((22, 8)).astype(np.float32)
    labels = rng.integers(0, 3, 22)
    torch.manual_seed(5)
    state = {k: v.numpy() for k, v in small_model().state_dict().items()}
    return state, features, labels


def _train(state, features, labels, mistake=None):
    """The reference epoch (batch 4, SGD lr 0.1 momentum 0.5), or a known mistaken one."""
    model = small_model(state)
    loader = DataLoader(
        TensorDataset(torch.from_numpy(features), torch.from_numpy(labels)), batch_size=4
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
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
    "no_zero_grad": "the gradients are never zeroed, so they pile up from batch to batch: "
    "call optimizer.zero_grad() for every batch",
}


@pytest.fixture(scope="module")
def epoch(probe, problem):
    state, features, labels = problem
    out = probe(
        "train_one_epoch",
        state_dict=state,
        features=features,
        labels=labels,
        batch_size=4,
        lr=0.1,
        momentum=0.5,
    )
    out = as_dict(out, "train_one_epoch's report", ("loss", "state_dict"))
    out["state_dict"] = as_state_dict(out["state_dict"], "the trained state_dict")
    return out


def _close_state(got: dict, want: dict) -> bool:
    return set(got) == set(want) and all(
        np.allclose(np.asarray(got[k]), want[k].numpy(), rtol=1e-4, atol=1e-6) for k in want
    )


@pytest.mark.points(5)
def test_train_one_epoch_updates_weights(epoch, problem):
    """After one epoch, are the weights those of zero_grad, forward, loss, backward, step?"""
    state, features, labels = problem
    _, want = _train(state, features, labels)
    if _close_state(epoch["state_dict"], want):
        return
    if _close_state(epoch["state_dict"], {k: torch.from_numpy(v) for k, v in state.items()}):
        fail(
            "the weights did not change during the epoch: call optimizer.step() for every "
            "batch, after loss.backward() (a step before backward() has no gradients to use)"
        )
    for mistake, message in MISTAKES.items():
        if _close_state(epoch["state_dict"], _train(state, features, labels, mistake)[1]):
            fail(message)
    fail(
        "after one epoch the weights differ from the expected training: for each batch "
        "zero the gradients, forward, loss, backward, optimizer.step()"
    )


@pytest.mark.points(2)
def test_train_one_epoch_mean_loss(epoch, problem):
    """Is the returned loss the mean per sample over the epoch (the last batch is smaller)?"""
    state, features, labels = problem
    want, _ = _train(state, features, labels)
    got = as_float(epoch["loss"], "train_one_epoch's return value")
    expect_close(
        got,
        want,
        "the epoch's mean loss",
        rtol=1e-4,
        hint="weight each batch's loss by its number of samples, divide by the total "
        "(the last batch has 2 samples, not 4)",
    )


@pytest.mark.points(4)
def test_predict_in_eval_mode_without_graph(probe, problem):
    """Does predict return every prediction in order, in eval mode, without building a graph?"""
    _, features, labels = problem
    torch.manual_seed(6)
    model = small_model(dropout=True)
    with torch.no_grad():
        model[2].running_mean.uniform_(-0.5, 0.5)
        model[2].running_var.uniform_(0.5, 2.0)
        bn_state = {k: v.numpy() for k, v in model.state_dict().items()}
        expected = model.eval()(torch.from_numpy(features)).argmax(1).numpy()
    out = probe("predict", state_dict=bn_state, features=features, labels=labels, batch_size=5)
    out = as_dict(out, "predict's report", ("predicted", "labels", "calls"))
    calls = [
        [as_bool(grad, "grad enabled"), as_bool(training, "training")]
        for grad, training in (
            as_list(call, "a forward call", length=2) for call in as_list(out["calls"], "calls")
        )
    ]
    expect(
        calls and not any(training for _, training in calls),
        "predict ran the network in training mode: call net.eval() first (dropout and batch "
        "norm behave differently)",
    )
    expect(
        not any(grad for grad, _ in calls),
        "predict built a graph: wrap the loop in `with torch.no_grad():`",
    )
    predicted = as_array(out["predicted"], "predict's predictions", shape=(22,))
    expect(
        np.array_equal(as_array(out["labels"], "predict's labels", shape=(22,)), labels),
        "the labels predict returned are not the loader's labels in order",
    )
    expect(
        np.array_equal(predicted, expected),
        "the predictions are not argmax of the logits, in loader order",
    )


@pytest.mark.points(2)
def test_overall_accuracy(probe):
    """Is overall_accuracy the fraction of correct predictions, as a float?"""
    predicted, labels = np.array([0, 1, 2, 2, 1, 0, 3]), np.array([0, 1, 1, 2, 0, 0, 3])
    got = as_float(
        probe("overall_accuracy", predicted=predicted, labels=labels), "overall_accuracy"
    )
    if math.isclose(got, 500 / 7, rel_tol=1e-6):
        fail("overall_accuracy returned a percentage; return a fraction between 0 and 1")
    expect_close(
        got,
        5 / 7,
        "overall_accuracy",
        rtol=1e-6,
        hint="integer division or counting in the wrong tensor type? use .float()",
    )


@pytest.mark.points(4)
def test_per_class_accuracy(probe):
    """Is each class's accuracy correct/samples of that class, NaN for a class with none?"""
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 3, 3, 3])
    predicted = np.array([0, 0, 1, 0, 1, 2, 2, 3, 0, 3])
    out = probe("per_class_accuracy", predicted=predicted, labels=labels, num_classes=5)
    got = as_array(out, "per_class_accuracy", shape=(5,), finite=False)
    expected = np.array([3 / 4, 1 / 2, 1.0, 2 / 3, np.nan])
    by_total = np.array([3, 1, 1, 2, 0]) / labels.size
    if np.allclose(got[:4], by_total[:4]):
        fail(
            "each class's count of correct predictions was divided by the total number of "
            "samples; divide by the number of samples of that class"
        )
    expect(
        math.isnan(got[4]), f"class 4 has no samples, so its accuracy should be NaN, got {got[4]}"
    )
    expect_close(
        got[:4],
        expected[:4],
        "per-class accuracy",
        rtol=1e-6,
        hint="for class k: (predicted == k) & (labels == k) over (labels == k)",
    )


@pytest.mark.points(3)
def test_save_and_load_round_trip(probe):
    """Does load_model(save_model(net)) give a Net with exactly the same weights?"""
    out = as_dict(
        probe("save_and_load", seed=3),
        "save_and_load's report",
        ("file_bytes", "loaded_type", "original", "loaded"),
    )
    expect(
        as_float(out["file_bytes"], "the file size") > 0,
        "save_model wrote nothing at the given path",
    )
    expect(out["loaded_type"] == "Net", f"load_model returned a {out['loaded_type']}, not a Net")
    original = as_state_dict(out["original"], "the saved state_dict")
    loaded = as_state_dict(out["loaded"], "the loaded state_dict")
    expect(set(original) == set(loaded), "the loaded network has other layers than the saved one")
    for key in original:
        expect(
            np.array_equal(np.asarray(original[key]), np.asarray(loaded[key])),
            f"{key} differs after save_model then load_model: save net.state_dict() and "
            "load it with load_state_dict(torch.load(path, weights_only=True))",
        )


GATE_POINTS = 8


@pytest.mark.points(GATE_POINTS)
def test_accuracy_gate(probe, options, device_recipe, record_property):
    """Trained with your pipeline on CIFAR-10, does the Net reach the course's accuracy in time?"""
    from grader import data, gate, reference

    recipe = device_recipe
    limit = recipe["time_limit_s"]
    out = probe("gate", recipe=recipe, timeout_s=limit * 2 + 300)
    expect(isinstance(out, dict), "the gate's training run returned no result")
    train_s = as_float(out.get("train_s"), "the gate's training time")
    record_property("threshold", recipe["threshold"])
    record_property("time_limit_s", limit)
    record_property("train_s", round(train_s, 2))
    if out.get("timed_out") or train_s > limit:
        record_property("accuracy", None)
        fail(
            f"training took longer than the course's limit of {limit:g} s on "
            f"{options['device']} (stopped after {train_s:.0f} s): look for slow Python loops "
            "in train_one_epoch or make_loaders (and keep batch_size and num_workers as given)"
        )
    images, labels = data.load_split(options["data_root"], "test")
    try:
        scores = gate.evaluate(
            out.get("state_dict"),
            out.get("mean"),
            out.get("std"),
            images,
            labels,
            options["device"],
            reference.load("ex4_net").Net,
        )
    except ValueError as exc:
        fail(f"the trained network could not be evaluated: {exc}")
    accuracy = scores["accuracy"]
    record_property("accuracy", round(accuracy, 4))
    record_property("per_class", [round(v, 4) for v in scores["per_class"]])
    record_property("confusion", scores["confusion"])
    if accuracy < recipe["threshold"]:
        per_class = ", ".join(
            f"{c} {v:.0%}" for c, v in zip(CLASS_NAMES, scores["per_class"], strict=True)
        )
        fail(
            f"test accuracy {accuracy:.1%} is below the required {recipe['threshold']:.0%} "
            f"(per class: {per_class}). Likely causes: gradients not zeroed, no normalisation, "
            "an unshuffled training loader, or a wrong forward"
        )


@pytest.fixture(scope="module")
def device_recipe(options):
    if not options["gate"]:
        pytest.skip(
            f"the CIFAR-10 accuracy gate was left out (--no-gate): its {GATE_POINTS} "
            "points are not graded"
        )
    if options["data_root"] is None:
        pytest.skip("the CIFAR-10 accuracy gate needs prepared data (grader data prepare)")
    from grader.config import gate_recipe

    return gate_recipe(options["device"], options["gate_overrides"])
