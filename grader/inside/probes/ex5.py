"""Probes for ex5_train (and the accuracy gate, which drives the student's ex3/ex4/ex5)."""

import itertools
import os
import random
import tempfile

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from grader.inside import contract
from grader.inside.contract import DEVICE_ENV, TRAIN_DATA_ENV
from grader.inside.probes import as_tensor, probe, student


def _ex5():
    return student("ex5_train")


def small_model(state_dict=None, *, dropout: bool = False) -> nn.Module:
    """A small classifier (8 features, 3 classes) that is cheap to train exactly."""
    layers = [nn.Linear(8, 16), nn.ReLU()]
    if dropout:
        layers += [nn.BatchNorm1d(16), nn.Dropout(0.5)]
    layers += [nn.Linear(16, 3)]
    model = nn.Sequential(*layers)
    if state_dict is not None:
        model.load_state_dict({k: as_tensor(v) for k, v in state_dict.items()})
    return model


@probe
def set_seed(seeds):
    """After each ``set_seed(s)``: two torch, two numpy and one random draw."""
    draws = []
    for s in seeds:
        _ex5().set_seed(s)
        draws.append([torch.rand(2).tolist(), np.random.rand(2).tolist(), [random.random()]])
    return draws


@probe
def train_one_epoch(state_dict, features, labels, batch_size, lr, momentum):
    """One epoch from the given weights (the model handed over in eval mode); the loss
    returned, the weights after, and whether the model was in training mode afterwards."""
    model = small_model(state_dict, dropout=False)
    model.eval()
    loader = DataLoader(
        TensorDataset(as_tensor(features), as_tensor(labels)), batch_size=batch_size
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss = _ex5().train_one_epoch(model, loader, nn.CrossEntropyLoss(), optimizer, "cpu")
    return {"loss": loss, "state_dict": model.state_dict(), "training": model.training}


@probe
def predict(state_dict, features, labels, batch_size):
    model = small_model(state_dict, dropout=True)
    model.train()
    seen = []
    model.register_forward_hook(lambda m, i, o: seen.append([torch.is_grad_enabled(), m.training]))
    loader = DataLoader(
        TensorDataset(as_tensor(features), as_tensor(labels)), batch_size=batch_size
    )
    predicted, true = _ex5().predict(model, loader, "cpu")
    return {"predicted": predicted, "labels": true, "calls": seen}


@probe
def overall_accuracy(predicted, labels):
    return _ex5().overall_accuracy(as_tensor(predicted), as_tensor(labels))


@probe
def per_class_accuracy(predicted, labels, num_classes):
    """``num_classes=None``: called without it, as its default has it."""
    if num_classes is None:
        return _ex5().per_class_accuracy(as_tensor(predicted), as_tensor(labels))
    return _ex5().per_class_accuracy(as_tensor(predicted), as_tensor(labels), num_classes)


MAX_SAVED_BYTES = 16 * 1024 * 1024
"""The largest file save_model may write (the course's Net is about 250 kB)."""
MAX_SAVED_ENTRIES = 1000
"""The most entries of the saved mapping that are looked at (the Net has 10)."""
PLAIN_DTYPES = frozenset(
    "float16 bfloat16 float32 float64 int8 int16 int32 int64 uint8 bool".split()
)
"""Tensors of these dtypes are sent back as they are; others are named by type only."""


def _tensor_bytes(value) -> int | None:
    """The bytes of a plain dense tensor as it would be sent; None for anything else."""
    if not isinstance(value, torch.Tensor) or value.layout != torch.strided:
        return None
    if str(value.dtype).removeprefix("torch.") not in PLAIN_DTYPES:
        return None
    return value.numel() * value.element_size()


def saved_file(path: str) -> dict:
    """What save_model wrote at ``path``, read here (in the worker) with
    ``torch.load(weights_only=True)``, as data the trusted side checks without walking
    anything the student built: ``bytes`` (the file's size; 0: none), and either ``error``
    (why torch.load refused it), ``type`` (what it held, when not a mapping) or ``tensors``
    (name -> plain dense tensor, ``MAX_SAVED_BYTES`` of them in all) with ``others`` (name ->
    what any other entry holds, by type only) and ``entries`` (how many the mapping holds)."""
    if not os.path.isfile(path):
        return {"bytes": 0}
    size = os.path.getsize(path)
    if size > MAX_SAVED_BYTES:
        return {
            "bytes": size,
            "error": contract.words("file_too_large", mib=MAX_SAVED_BYTES // 2**20),
        }
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - a file that is not a state_dict, however broken
        return {"bytes": size, "error": type(exc).__name__}
    if not isinstance(state, dict):
        return {"bytes": size, "type": type(state).__name__}
    tensors, others, budget = {}, {}, MAX_SAVED_BYTES
    for key, value in itertools.islice(state.items(), MAX_SAVED_ENTRIES):
        name = key[:200] if isinstance(key, str) else f"<a {type(key).__name__} key>"
        nbytes = _tensor_bytes(value)
        if nbytes is not None and nbytes <= budget and isinstance(key, str):
            tensors[name], budget = value.detach().contiguous(), budget - nbytes
        else:
            what = "tensor" if isinstance(value, torch.Tensor) else type(value).__name__
            others[name] = (
                what if nbytes is None else contract.words("too_large_to_compare", what=what)
            )
    return {"bytes": size, "tensors": tensors, "others": others, "entries": len(state)}


def _refusal(folder: str) -> str:
    """What load_model says to a file holding more than tensors (a ``fractions.Fraction``,
    an object torch.load with weights_only=True will not build): it refuses the file before
    anything in it runs."""
    import fractions

    path = os.path.join(folder, "unsafe.pt")
    torch.save({"fc3.bias": torch.zeros(10), "note": fractions.Fraction(1, 3)}, path)
    try:
        _ex5().load_model(path)
    except Exception as exc:  # noqa: BLE001 - the refusal is what is reported
        return f"{type(exc).__name__}: {exc}"[:500]
    return ""


@probe
def net_shapes():
    """The shape of every entry of the student's ``Net().state_dict()``, and whether it holds
    floating-point numbers (``num_batches_tracked`` of a batch norm, say, does not)."""
    state = student("ex4_net").Net().state_dict()
    return {k: {"shape": list(v.shape), "float": v.is_floating_point()} for k, v in state.items()}


@probe
def save_and_load(state_dict, file_bytes):
    """``save_model`` of the student's Net holding the given weights (what the file holds
    comes back, as :func:`saved_file` reads it), and ``load_model`` of a file the trusted side
    wrote (its weights come back)."""
    from grader.inside.probes.ex4 import load_weights

    net = student("ex4_net").Net()
    load_weights(net, state_dict)
    with tempfile.TemporaryDirectory() as folder:
        saved_path, given_path = os.path.join(folder, "saved.pt"), os.path.join(folder, "given.pt")
        _ex5().save_model(net, saved_path)
        saved = saved_file(saved_path)
        with open(given_path, "wb") as handle:
            handle.write(np.asarray(file_bytes, dtype=np.uint8).tobytes())
        loaded = _ex5().load_model(given_path)
        refused = _refusal(folder)
    return {
        "refused": refused,
        "saved": saved,
        "loaded": loaded.state_dict(),
        "loaded_type": type(loaded).__name__,
    }


@probe
def gate_ready():
    """Before the gate's clock starts, in its fresh worker: the modules a forked worker starts
    with and the gate's own, imported (no code of the submission runs), so that the time
    counted from then on is the submission's."""
    from grader.inside import (
        gate_training,  # noqa: F401 - imported for their cost, here
        zygote,
    )

    zygote.preload(["ex5"])
    return True


@probe
def gate_prepare(recipe):
    """The gate's first half, timed: the student's pipeline built on the (relabelled) train
    split."""
    from grader.inside import gate_training

    return gate_training.prepare(
        student("ex3_data"),
        student("ex4_net"),
        _ex5(),
        os.environ[TRAIN_DATA_ENV],
        recipe,
        os.environ.get(DEVICE_ENV, "cpu"),
    )


@probe
def gate_train():
    """The gate's second half, timed: train, return the weights."""
    from grader.inside import gate_training

    return gate_training.train()
