"""The CIFAR-10 accuracy gate: training in the sandbox, evaluation on the trusted side.

Public API::

    RECIPES: dict[str, dict]                     # "cpu" / "cuda": the course-fixed recipe
    train_gate(ex3, ex4, ex5, train_root, recipe, device) -> dict      # UNTRUSTED side (worker)
    evaluate(state_dict, mean, std, test_images, test_labels, device, net_cls) -> dict  # TRUSTED
    validate_state_dict(state_dict, net_cls) -> None   # raises ValueError
    validate_normalisation(mean, std) -> (mean, std)   # raises ValueError

``train_gate`` runs inside the sandboxed worker with the student's own modules and sees only
``<root>/train``. It returns plain data (numpy arrays, floats, lists). ``evaluate`` never runs
student code: it loads the returned weights into the reference ``Net`` and scores the test split.

The learning-rate schedule is applied per optimizer step by a hook on the optimizer, so the
student's ``train_one_epoch`` (which only calls ``optimizer.step()``) drives it unknowingly.
The same hook enforces ``time_limit_s``: past it, the next step ends training early.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.datasets import VisionDataset

# The course-fixed recipe per device, calibrated with bench/calibrate_gate.py (raw figures in
# bench/results/calibration-<device>.json). ``optimizer``: "adam" or "sgd" (``momentum``,
# ``nesterov`` apply to sgd). ``schedule``: "constant", or "onecycle" (linear warm-up over the
# first ``warmup`` fraction of the steps, then linear decay to zero), stepped after every
# optimizer step. ``threads``: torch.set_num_threads in the worker (None leaves it); on 2 cores
# one thread plus one loader worker beats two threads (which oversubscribe with the worker).
# ``threshold``: minimum test accuracy; ``time_limit_s``: training stops (timed_out) past it.
RECIPES: dict[str, dict] = {
    "cpu": {
        "optimizer": "adam",
        "lr": 0.003,
        "momentum": 0.0,
        "nesterov": False,
        "weight_decay": 5e-4,
        "schedule": "onecycle",
        "warmup": 0.2,
        "batch_size": 64,
        "epochs": 7,
        "num_workers": 1,
        "threads": 1,
        "seed": 0,
        "threshold": 0.57,
        "time_limit_s": 180.0,
    },
    "cuda": {
        "optimizer": "adam",
        "lr": 0.003,
        "momentum": 0.0,
        "nesterov": False,
        "weight_decay": 5e-4,
        "schedule": "onecycle",
        "warmup": 0.2,
        "batch_size": 128,
        "epochs": 8,
        "num_workers": max(1, (os.cpu_count() or 2) - 1),
        "threads": None,
        "seed": 0,
        "threshold": 0.60,
        "time_limit_s": 30.0,
    },
}

EVAL_SUBSET = 512  # training images the worker passes to make_loaders as its small "test" set


class _TimeUp(BaseException):
    """Raised from the optimizer hook when training passes its time limit (a BaseException, so
    that a submission's ``except Exception`` cannot swallow it)."""


# --- the untrusted side: runs in the worker ----------------------------------------------


class ArrayCIFAR10(VisionDataset):
    """CIFAR-10 over uint8 arrays; items are ``(PIL image, int label)`` through the transform,
    as in ``torchvision.datasets.CIFAR10``."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform=None) -> None:
        super().__init__(root=None, transform=transform)
        self.data, self.targets = images, [int(label) for label in labels]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        image = Image.fromarray(self.data[index])
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[index]


def _load_train(train_root) -> tuple[np.ndarray, np.ndarray]:
    """The train split from ``<root>/train`` (no manifest there: shape checks only)."""
    folder = Path(train_root)
    images = np.load(folder / "images.npy", allow_pickle=False)
    labels = np.load(folder / "labels.npy", allow_pickle=False)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise ValueError(f"{folder}/images.npy is {images.dtype} {images.shape}")
    if labels.shape != (len(images),):
        raise ValueError(f"{folder}/labels.npy has shape {labels.shape}, not ({len(images)},)")
    return images, labels.astype(np.int64)


def make_optimizer(params, recipe: dict) -> torch.optim.Optimizer:
    """The course-fixed optimizer named by ``recipe["optimizer"]`` ("sgd" or "adam")."""
    kind = recipe["optimizer"]
    if kind == "sgd":
        return torch.optim.SGD(
            params,
            lr=recipe["lr"],
            momentum=recipe.get("momentum", 0.0),
            nesterov=recipe.get("nesterov", False),
            weight_decay=recipe.get("weight_decay", 0.0),
        )
    if kind == "adam":
        return torch.optim.Adam(
            params, lr=recipe["lr"], weight_decay=recipe.get("weight_decay", 0.0)
        )
    raise ValueError(f"unknown optimizer {kind!r} in the gate recipe")


def _lr_factor(recipe: dict, total_steps: int):
    """Multiplier of the base lr after ``step`` optimizer steps."""
    schedule = recipe.get("schedule", "constant")
    if schedule == "constant":
        return lambda step: 1.0
    if schedule == "onecycle":
        warm = max(1, int(recipe.get("warmup", 0.2) * total_steps))

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return max(0.0, (total_steps - step) / max(1, total_steps - warm))

        return factor
    raise ValueError(f"unknown schedule {schedule!r} in the gate recipe")


def train_gate(ex3, ex4, ex5, train_root, recipe: dict, device: str) -> dict:
    """Train the student's ``Net`` with the student's own pipeline; return plain data.

    Order: ``ex5.set_seed``, ``ex3.channel_stats`` on the train images,
    ``ex3.build_transform(train=True)``, ``ex3.make_loaders``, ``ex4.Net()``, then
    ``ex5.train_one_epoch`` for ``recipe["epochs"]`` epochs with the recipe's optimizer.
    Returns ``state_dict`` (name -> numpy float32), ``mean``, ``std``, ``train_s`` (training
    loop only), ``epoch_losses``, ``epochs_done`` and ``timed_out`` (True when training passed
    ``recipe["time_limit_s"]`` and was stopped early).
    """
    if recipe.get("threads"):
        torch.set_num_threads(int(recipe["threads"]))
    ex5.set_seed(recipe["seed"])
    images, labels = _load_train(train_root)
    mean, std = ex3.channel_stats(images)
    mean, std = [float(m) for m in mean], [float(s) for s in std]
    train_set = ArrayCIFAR10(images, labels, ex3.build_transform(mean, std, train=True))
    eval_set = ArrayCIFAR10(
        images[:EVAL_SUBSET], labels[:EVAL_SUBSET], ex3.build_transform(mean, std, train=False)
    )
    train_loader, _ = ex3.make_loaders(
        train_set, eval_set, recipe["batch_size"], recipe["num_workers"]
    )
    net = ex4.Net().to(device)
    optimizer = make_optimizer(net.parameters(), recipe)
    try:
        steps_per_epoch = len(train_loader)
    except TypeError:
        steps_per_epoch = math.ceil(len(train_set) / recipe["batch_size"])
    factor = _lr_factor(recipe, steps_per_epoch * recipe["epochs"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    limit = float(recipe["time_limit_s"])
    criterion = nn.CrossEntropyLoss()

    start = time.perf_counter()
    steps = 0

    def after_step(opt, args, kwargs) -> None:
        nonlocal steps
        steps += 1
        if steps < steps_per_epoch * recipe["epochs"]:
            scheduler.step()
        if time.perf_counter() - start > limit:
            raise _TimeUp

    hook = optimizer.register_step_post_hook(after_step)
    epoch_losses: list[float] = []
    timed_out = False
    try:
        for _ in range(recipe["epochs"]):
            epoch_losses.append(
                float(ex5.train_one_epoch(net, train_loader, criterion, optimizer, device))
            )
            if time.perf_counter() - start > limit:
                timed_out = True
                break
    except _TimeUp:
        timed_out = True
    finally:
        hook.remove()
    train_s = time.perf_counter() - start

    state = {}
    for name, value in net.state_dict().items():
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()
        state[name] = value.numpy().copy()
    return {
        "state_dict": state,
        "mean": mean,
        "std": std,
        "train_s": train_s,
        "epoch_losses": epoch_losses,
        "epochs_done": len(epoch_losses),
        "steps": steps,
        "timed_out": timed_out,
    }


# --- the trusted side: never runs student code -------------------------------------------


def validate_normalisation(mean, std) -> tuple[list[float], list[float]]:
    """Return ``(mean, std)`` as lists of 3 floats; ValueError unless finite and std > 0."""
    checked = []
    for name, values in (("mean", mean), ("std", std)):
        try:
            floats = [float(v) for v in values]
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be 3 numbers (R, G, B), got {values!r}") from None
        if len(floats) != 3:
            raise ValueError(f"{name} must hold 3 numbers (R, G, B), got {len(floats)}")
        if not all(math.isfinite(v) for v in floats):
            raise ValueError(f"{name} must be finite, got {floats}")
        checked.append(floats)
    if any(s <= 0 for s in checked[1]):
        raise ValueError(f"std must be > 0 in every channel, got {checked[1]}")
    return checked[0], checked[1]


def validate_state_dict(state_dict, net_cls) -> None:
    """ValueError unless ``state_dict`` has exactly the reference keys, shapes, float dtype
    and finite values."""
    if not isinstance(state_dict, dict):
        raise ValueError(f"the trained weights must be a dict, got {type(state_dict).__name__}")
    reference = net_cls().state_dict()
    missing = sorted(set(reference) - set(state_dict))
    extra = sorted(set(state_dict) - set(reference))
    if missing or extra:
        raise ValueError(
            f"the trained state_dict does not match the course Net: missing {missing}, "
            f"unexpected {extra} (were Net's layers renamed or added?)"
        )
    for name, expected in reference.items():
        value = state_dict[name]
        if not isinstance(value, np.ndarray):
            raise ValueError(f"{name} must be a numpy array, got {type(value).__name__}")
        if value.dtype.kind != "f":
            raise ValueError(f"{name} has dtype {value.dtype}, expected a float array")
        if tuple(value.shape) != tuple(expected.shape):
            raise ValueError(
                f"{name} has shape {tuple(value.shape)}, expected {tuple(expected.shape)}"
            )
        if not np.isfinite(value).all():
            raise ValueError(f"{name} holds NaN or infinite values (training diverged?)")


def evaluate(
    state_dict,
    mean,
    std,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    device: str,
    net_cls,
    *,
    batch_size: int = 1000,
) -> dict:
    """Accuracy of ``state_dict`` loaded into ``net_cls()`` on the test split.

    Images are uint8 (N, 32, 32, 3), normalised here as ``ToTensor`` + ``Normalize`` would:
    ``(x / 255 - mean) / std``, NCHW. Returns ``accuracy`` (0-1), ``per_class`` (10 floats, NaN
    for a class with no test images) and ``confusion`` (10x10 ints, rows true, columns predicted).
    """
    mean, std = validate_normalisation(mean, std)
    validate_state_dict(state_dict, net_cls)
    test_images = np.asarray(test_images)
    test_labels = np.asarray(test_labels)
    if test_images.dtype != np.uint8 or test_images.shape[1:] != (32, 32, 3):
        raise ValueError(f"test images are {test_images.dtype} {test_images.shape}")
    if test_labels.shape != (len(test_images),):
        raise ValueError(f"{len(test_images)} test images but labels of shape {test_labels.shape}")

    net = net_cls()
    net.load_state_dict(
        {
            k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
            for k, v in state_dict.items()
        }
    )
    net.to(device).eval()
    mean_t = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=device).view(1, 3, 1, 1)
    predictions = []
    with torch.no_grad():
        for i in range(0, len(test_images), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(test_images[i : i + batch_size]))
            x = batch.to(device).permute(0, 3, 1, 2).float().div_(255)
            predictions.append(net((x - mean_t) / std_t).argmax(dim=1).cpu())
    predicted = torch.cat(predictions).long() if predictions else torch.zeros(0, dtype=torch.long)
    labels = torch.from_numpy(test_labels.astype(np.int64))
    confusion = torch.bincount(labels * 10 + predicted, minlength=100).view(10, 10)
    totals = confusion.sum(dim=1)
    per_class = [
        float(confusion[k, k]) / float(totals[k]) if totals[k] else float("nan") for k in range(10)
    ]
    accuracy = float(confusion.diag().sum()) / max(1, len(labels))
    return {"accuracy": accuracy, "per_class": per_class, "confusion": confusion.tolist()}
