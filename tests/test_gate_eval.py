"""The accuracy gate (grader/inside/gate_training.py): trusted evaluation, its validation, and
train_gate."""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from grader.course import recipes
from grader.gate import evaluation
from grader.inside import gate_training
from grader.sandbox.client import worded

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"


@pytest.fixture(scope="module")
def reference():
    """The reference ex3, ex4, ex5 modules (they import each other by bare name)."""
    sys.path.insert(0, str(SOLUTIONS))
    try:
        return [importlib.import_module(n) for n in ("ex3_data", "ex4_net", "ex5_train")]
    finally:
        sys.path.remove(str(SOLUTIONS))


@pytest.fixture
def weights(reference):
    torch.manual_seed(0)
    net = reference[1].Net()
    return {k: v.numpy().copy() for k, v in net.state_dict().items()}, net


def _test_split(n=50, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    return images, rng.integers(0, 10, size=n).astype(np.int64)


MEAN, STD = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]


def test_evaluate_matches_the_tutorial_pipeline(reference, weights):
    """Does evaluate predict what ToTensor + Normalize + the net would, image by image?"""
    ex3, ex4, _ = reference
    state, net = weights
    images, labels = _test_split()
    result = evaluation.evaluate(state, MEAN, STD, images, labels, "cpu", ex4.Net, batch_size=16)
    transform = ex3.build_transform(MEAN, STD, train=False)
    from PIL import Image

    with torch.no_grad():
        x = torch.stack([transform(Image.fromarray(im)) for im in images])
        expected = net.eval()(x).argmax(dim=1).numpy()
    assert result["accuracy"] == pytest.approx(float((expected == labels).mean()), abs=1e-12)
    confusion = np.array(result["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == len(labels)
    np.testing.assert_array_equal(confusion.sum(axis=1), np.bincount(labels, minlength=10))
    assert len(result["per_class"]) == 10


def test_per_class_is_nan_for_an_absent_class(reference, weights):
    """Is per_class NaN (not 0, not a crash) for a class with no test images?"""
    state, _ = weights
    images, labels = _test_split()
    labels[labels == 3] = 4
    result = evaluation.evaluate(state, MEAN, STD, images, labels, "cpu", reference[1].Net)
    assert np.isnan(result["per_class"][3])
    assert not np.isnan(result["per_class"][4])


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda s: s.pop("fc3.bias"), r"missing \['fc3.bias'\]"),
        (lambda s: s.update(extra=np.zeros(3, np.float32)), r"unexpected \['extra'\]"),
        (lambda s: s.update({"fc1.weight": np.zeros((120, 256), np.float32)}), "shape"),
        (lambda s: s.update({"conv1.bias": np.zeros(6, np.int64)}), "float array"),
        (lambda s: s["fc2.weight"].__setitem__((0, 0), np.nan), "NaN or infinite"),
        (lambda s: s.update({"fc3.bias": [0.0] * 10}), "numpy array"),
    ],
    ids=["missing_key", "extra_key", "wrong_shape", "int_dtype", "nan", "not_array"],
)
def test_bad_state_dict_is_rejected(reference, weights, damage, message):
    """Is a state_dict with wrong keys, shapes, dtype or NaN refused with a clear ValueError?"""
    state, _ = weights
    damage(state)
    images, labels = _test_split()
    with pytest.raises(ValueError, match=message):
        evaluation.evaluate(state, MEAN, STD, images, labels, "cpu", reference[1].Net)


@pytest.mark.parametrize(
    "mean, std, message",
    [
        ([0.5, 0.5], STD, "3 numbers"),
        (MEAN, [0.2, 0.0, 0.2], "std must be > 0"),
        (MEAN, [0.2, -0.1, 0.2], "std must be > 0"),
        ([0.5, float("nan"), 0.5], STD, "finite"),
        (MEAN, [0.2, float("inf"), 0.2], "finite"),
        ("abc", STD, "3 numbers"),
        (None, STD, "3 numbers"),
    ],
)
def test_bad_normalisation_is_rejected(reference, weights, mean, std, message):
    """Are a mean/std that are not 3 finite numbers (std > 0) refused?"""
    state, _ = weights
    images, labels = _test_split()
    with pytest.raises(ValueError, match=message):
        evaluation.evaluate(state, mean, std, images, labels, "cpu", reference[1].Net)


@pytest.fixture
def tiny_train_root(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "train"
    root.mkdir()
    np.save(root / "images.npy", rng.integers(0, 256, size=(300, 32, 32, 3), dtype=np.uint8))
    np.save(root / "labels.npy", rng.integers(0, 10, size=300).astype(np.int64))
    return root


TINY = {
    **recipes.RECIPES["cpu"],
    "batch_size": 32,
    "epochs": 1,
    "num_workers": 0,
    "threads": None,
    "time_limit_s": 120.0,
}


def test_train_gate_returns_plain_data(reference, tiny_train_root):
    """Does train_gate return float32 numpy weights, 3-float mean/std, losses and timings?"""
    result = gate_training.train_gate(*reference, tiny_train_root, TINY, "cpu")
    reference_keys = reference[1].Net().state_dict().keys()
    assert set(result["state_dict"]) == set(reference_keys)
    assert all(
        isinstance(v, np.ndarray) and v.dtype == np.float32 for v in result["state_dict"].values()
    )
    assert len(result["mean"]) == 3 and all(isinstance(m, float) for m in result["mean"])
    assert len(result["std"]) == 3 and all(s > 0 for s in result["std"])
    assert len(result["epoch_losses"]) == 1 and np.isfinite(result["epoch_losses"][0])
    assert result["prepare_s"] > 0 and result["train_s"] > 0 and result["timed_out"] is False
    assert result["steps"] == 10  # ceil(300 / 32) batches, the solution keeps the last one
    images, labels = _test_split()
    evaluation.evaluate(
        result["state_dict"], result["mean"], result["std"], images, labels, "cpu",
        reference[1].Net,
    )  # fmt: skip


def test_train_gate_is_repeatable(reference, tiny_train_root):
    """Does the same seed give the same weights twice?"""
    first = gate_training.train_gate(*reference, tiny_train_root, TINY, "cpu")
    second = gate_training.train_gate(*reference, tiny_train_root, TINY, "cpu")
    for name, value in first["state_dict"].items():
        np.testing.assert_array_equal(value, second["state_dict"][name])


def test_eval_normalisation_is_measured_from_the_transform():
    """Is the normalisation a transform applies read back from it (the tutorial's 0.5/0.5
    too), and a transform that is not ToTensor then Normalize reported, not guessed?"""
    from torchvision import transforms

    tutorial = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]
    )
    measured = gate_training.measured_normalisation(tutorial)
    assert measured["mean"] == pytest.approx([0.5] * 3) and measured["std"] == pytest.approx(
        [0.5] * 3
    )
    course = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    measured = gate_training.measured_normalisation(course)
    assert measured["mean"] == pytest.approx(MEAN, abs=1e-6)
    assert measured["std"] == pytest.approx(STD, abs=1e-6)
    squared = transforms.Compose([transforms.ToTensor(), transforms.Lambda(lambda t: t**2)])
    error = gate_training.measured_normalisation(squared)["error"]
    assert "not ToTensor then a per-channel Normalize" in worded(error)


def test_onecycle_schedule_warms_up_then_decays_to_zero():
    """Does the onecycle factor rise linearly to 1 and fall linearly to 0?"""
    factor = gate_training._lr_factor({"schedule": "onecycle", "warmup": 0.25}, 100)
    assert factor(0) == pytest.approx(1 / 25)
    assert factor(24) == pytest.approx(1.0)
    assert factor(62) == pytest.approx(0.5, abs=0.02)
    assert factor(100) == 0.0
