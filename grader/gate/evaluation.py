"""The gate's evaluation on the trusted side: the returned weights scored on the test split.

It never runs student code: the weights and normalisation a worker returns are checked
(:func:`validate_state_dict`, :func:`validate_normalisation`), loaded into the reference
``Net`` and scored on the test split, which the worker never sees, under the permutation of
the classes the training labels were relabelled by.
"""

from __future__ import annotations

import math

import numpy as np
import torch


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
    permutation=None,
    flip: bool = False,
    batch_size: int = 1000,
) -> dict:
    """Accuracy of ``state_dict`` loaded into ``net_cls()`` on the test split.

    Images are uint8 (N, 32, 32, 3), normalised here as ``ToTensor`` + ``Normalize`` would:
    ``(x / 255 - mean) / std``, NCHW. With ``flip``, each image's logits are averaged with
    those of its mirror image (training flips images too). ``permutation`` (10 ints) is the
    relabelling the
    network was trained under (class ``k`` was taught as ``permutation[k]``); its outputs are
    mapped back before scoring. Returns ``accuracy`` (0-1), ``per_class`` (10 floats, NaN for
    a class with no test images) and ``confusion`` (10x10 ints, rows true, columns predicted),
    both by the true classes.
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
            x = (x - mean_t) / std_t
            logits = net(x)
            if flip:
                logits = logits + net(torch.flip(x, dims=[3]))
            predictions.append(logits.argmax(dim=1).cpu())
    predicted = torch.cat(predictions).long() if predictions else torch.zeros(0, dtype=torch.long)
    if permutation is not None:
        inverse = torch.from_numpy(np.argsort(np.asarray(permutation, dtype=np.int64)))
        predicted = inverse[predicted]
    labels = torch.from_numpy(test_labels.astype(np.int64))
    confusion = torch.bincount(labels * 10 + predicted, minlength=100).view(10, 10)
    totals = confusion.sum(dim=1)
    per_class = [
        float(confusion[k, k]) / float(totals[k]) if totals[k] else float("nan") for k in range(10)
    ]
    accuracy = float(confusion.diag().sum()) / max(1, len(labels))
    return {"accuracy": accuracy, "per_class": per_class, "confusion": confusion.tolist()}
