"""The CIFAR-10 accuracy gate's training, which runs in the worker.

Public API::

    prepare(ex3, ex4, ex5, train_root, recipe, device) -> dict   # UNTRUSTED side (worker)
    train() -> dict                                              # UNTRUSTED side (worker)
    train_gate(ex3, ex4, ex5, train_root, recipe, device) -> dict  # both, timed (benchmarks)

The recipe it trains with is :mod:`grader.course.recipes`'s; the trusted side's evaluation
of what comes back is :mod:`grader.gate.evaluation`.

``prepare`` and ``train`` run inside the gate's own sandboxed worker with the student's own
modules and see only the training split, with labels the trusted side relabelled by a secret
permutation of the classes. They return plain data (numpy arrays, floats, lists). The trusted
side times both, with the import of the student's modules before them, as one window, and
stops it at the time limit (:mod:`grader.gate.trial`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.datasets import VisionDataset

from grader.inside import contract

EVAL_SUBSET = 512  # training images the worker passes to make_loaders as its small "test" set


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


_PREPARED: dict = {}
"""What ``prepare`` built in this worker, for ``train`` (one gate per worker process)."""


def _number(value) -> float | None:
    """``value`` as a float where it is a finite number (a missing return is not the gate's
    concern: ex5's own tests charge it)."""
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        return None
    return number if math.isfinite(number) else None


def measured_normalisation(transform, *, augmented: bool = False) -> dict:
    """The per-channel ``(x - mean) / std`` that ``transform`` applies to a [0, 1] image.

    Three constant images (black, grey, white) go through it; the output of each channel
    must be constant and affine in the input. An ``augmented`` (training) transform may pad
    and crop, so there each channel's median pixel counts. Returns ``{"mean", "std"}`` or
    ``{"error"}``.
    """
    outputs = []
    for value in (0, 128, 255):
        image = Image.fromarray(np.full((32, 32, 3), value, dtype=np.uint8))
        out = transform(image)
        array = out.detach().cpu().double().numpy() if hasattr(out, "detach") else np.asarray(out)
        if array.shape != (3, 32, 32):
            return {"error": contract.words("transform_shape", shape=str(tuple(array.shape)))}
        array = array.reshape(3, -1)
        outputs.append(np.median(array, axis=1, keepdims=True) if augmented else array)
    if not all(np.ptp(o, axis=1).max() < 1e-5 for o in outputs):
        return {"error": contract.words("transform_uneven")}
    black, grey, white = (o[:, 0] for o in outputs)
    slope = white - black  # 1 / std
    if not np.all(np.abs(slope) > 1e-9):
        return {"error": contract.words("transform_flat")}
    if not np.allclose(black + slope * 128 / 255, grey, rtol=1e-4, atol=1e-4):
        return {"error": contract.words("transform_not_affine")}
    std = 1 / slope
    return {"mean": [float(v) for v in -black * std], "std": [float(v) for v in std]}


def prepare(ex3, ex4, ex5, train_root, recipe: dict, device: str) -> dict:
    """Build the student's pipeline on the training split, ready for :func:`train`.

    Order: ``ex5.set_seed``, ``ex3.channel_stats`` on the train images,
    ``ex3.build_transform(train=True)`` and ``(train=False)``, ``ex3.make_loaders``,
    ``ex4.Net()``, the recipe's optimizer. Returns the channel statistics and the
    normalisation the eval transform applies (what the trusted side evaluates with).
    """
    _PREPARED.clear()
    if recipe.get("threads"):
        torch.set_num_threads(int(recipe["threads"]))
    ex5.set_seed(recipe["seed"])
    images, labels = _load_train(train_root)
    mean, std = ex3.channel_stats(images)
    mean, std = [float(m) for m in mean], [float(s) for s in std]
    train_set = ArrayCIFAR10(images, labels, ex3.build_transform(mean, std, train=True))
    eval_transform = ex3.build_transform(mean, std, train=False)
    eval_set = ArrayCIFAR10(images[:EVAL_SUBSET], labels[:EVAL_SUBSET], eval_transform)
    train_loader, _ = ex3.make_loaders(
        train_set, eval_set, recipe["batch_size"], recipe["num_workers"]
    )
    net = ex4.Net().to(device)
    optimizer = make_optimizer(net.parameters(), recipe)
    try:
        steps_per_epoch = len(train_loader)
    except TypeError:
        steps_per_epoch = math.ceil(len(train_set) / recipe["batch_size"])
    try:
        normalisation = measured_normalisation(eval_transform)
    except Exception as exc:  # noqa: BLE001 - the student's transform may raise anything
        failure = f"{type(exc).__name__}: {exc}"[:500]
        normalisation = {"error": contract.words("eval_transform_failed", error=failure)}
    try:
        train_normalisation = measured_normalisation(train_set.transform, augmented=True)
    except Exception as exc:  # noqa: BLE001
        failure = type(exc).__name__
        train_normalisation = {"error": contract.words("train_transform_failed", error=failure)}
    _PREPARED.update(
        ex5=ex5,
        net=net,
        optimizer=optimizer,
        loader=train_loader,
        steps_per_epoch=steps_per_epoch,
        recipe=recipe,
        device=device,
    )
    return {
        "mean": mean,
        "std": std,
        "eval": normalisation,
        "train": train_normalisation,
        "steps_per_epoch": steps_per_epoch,
    }


def train() -> dict:
    """Train what :func:`prepare` built for the recipe's epochs; return the weights.

    The learning-rate schedule is stepped by a hook after every optimizer step, so the
    student's ``train_one_epoch`` drives it unknowingly; the same hook keeps an exponential
    moving average of the weights when the recipe asks for one (``ema``: its decay), and
    those are the weights returned. How long this takes is measured by the trusted side,
    with the import and :func:`prepare` before it; nothing timed here is evidence.
    """
    state = _PREPARED
    recipe, optimizer, net = state["recipe"], state["optimizer"], state["net"]
    total = state["steps_per_epoch"] * recipe["epochs"]
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(recipe, total))
    decay = float(recipe.get("ema") or 0.0)
    average = {k: v.detach().clone() for k, v in net.state_dict().items()} if decay else None
    steps = 0

    def after_step(opt, args, kwargs) -> None:
        nonlocal steps
        steps += 1
        if steps < total:
            scheduler.step()
        if average is not None:
            with torch.no_grad():
                for name, value in net.state_dict().items():
                    if value.is_floating_point():
                        average[name].mul_(decay).add_(value, alpha=1 - decay)
                    else:
                        average[name].copy_(value)

    hook = optimizer.register_step_post_hook(after_step)
    criterion = nn.CrossEntropyLoss(label_smoothing=float(recipe.get("label_smoothing") or 0.0))
    epoch_losses = []
    try:
        for _ in range(recipe["epochs"]):
            loss = state["ex5"].train_one_epoch(
                net, state["loader"], criterion, optimizer, state["device"]
            )
            epoch_losses.append(_number(loss))
    finally:
        hook.remove()
    weights = {}
    for name, value in (average if average is not None else net.state_dict()).items():
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()
        weights[name] = value.numpy().copy()
    return {"state_dict": weights, "epoch_losses": epoch_losses, "steps": steps}


def train_gate(ex3, ex4, ex5, train_root, recipe: dict, device: str) -> dict:
    """:func:`prepare` then :func:`train` in this process, timed here: for the benchmarks and
    calibration, which run the trusted reference. Adds ``mean``/``std`` (the eval
    transform's), ``prepare_s``, ``train_s`` and ``timed_out`` (preparation and training took
    over ``time_limit_s``)."""
    start = time.perf_counter()
    prepared = prepare(ex3, ex4, ex5, train_root, recipe, device)
    prepare_s = time.perf_counter() - start
    start = time.perf_counter()
    trained = train()
    train_s = time.perf_counter() - start
    normalisation = prepared["eval"] if "mean" in prepared["eval"] else prepared
    return {
        **trained,
        "mean": normalisation["mean"],
        "std": normalisation["std"],
        "prepare_s": prepare_s,
        "train_s": train_s,
        "epochs_done": len(trained["epoch_losses"]),
        "timed_out": prepare_s + train_s > float(recipe.get("time_limit_s") or math.inf),
    }
