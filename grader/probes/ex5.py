"""Probes for ex5_train (and the accuracy gate, which drives the student's ex3/ex4/ex5)."""

import os
import random
import tempfile

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from grader.probes import as_tensor, probe, student


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
def set_seed(seed):
    draws = []
    for s in (seed, seed, seed + 1):
        _ex5().set_seed(s)
        draws.append([torch.rand(2).tolist(), np.random.rand(2).tolist(), [random.random()]])
    return draws


@probe
def train_one_epoch(state_dict, features, labels, batch_size, lr, momentum):
    model = small_model(state_dict)
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
    return _ex5().per_class_accuracy(as_tensor(predicted), as_tensor(labels), num_classes)


@probe
def save_and_load(seed):
    torch.manual_seed(seed)
    net = student("ex4_net").Net()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.pt")
        _ex5().save_model(net, path)
        saved = os.path.getsize(path) if os.path.exists(path) else 0
        loaded = _ex5().load_model(path)
    return {
        "original": net.state_dict(),
        "loaded": loaded.state_dict(),
        "loaded_type": type(loaded).__name__,
        "file_bytes": saved,
    }


@probe
def gate(recipe):
    from grader import gate as gate_driver

    return gate_driver.train_gate(
        student("ex3_data"),
        student("ex4_net"),
        _ex5(),
        os.environ["GRADER_TRAIN_DATA"],
        recipe,
        os.environ.get("GRADER_DEVICE", "cpu"),
    )
