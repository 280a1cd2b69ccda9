"""Exercise 3: the CIFAR-10 data pipeline.

Per-channel statistics, the transforms that normalise (and augment) an image,
and the two DataLoaders that feed training and evaluation.
"""

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

CIFAR10_CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def channel_stats(images) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Per-channel mean and standard deviation of ``images``.

    ``images`` is a uint8 array or tensor of shape (N, 32, 32, 3), as CIFAR-10 stores it.
    Compute on the [0, 1] scale that ``ToTensor`` produces. Return ``(mean, std)``,
    each a tuple of 3 floats (red, green, blue).
    """
    ### BEGIN SOLUTION
    # hint: tutorial part 5, Normalize: mean and std per channel (各通道), on the 0-1 scale
    pixels = torch.as_tensor(np.asarray(images)).reshape(-1, 3).double() / 255.0
    mean = pixels.mean(dim=0)
    std = pixels.std(dim=0)
    return tuple(mean.tolist()), tuple(std.tolist())
    ### END SOLUTION


def build_transform(mean, std, train: bool = False) -> transforms.Compose:
    """``ToTensor`` then ``Normalize(mean, std)``.

    With ``train=True``, ``RandomCrop(32, padding=4)`` and ``RandomHorizontalFlip()``
    come first, so each epoch sees slightly different images.
    """
    ### BEGIN SOLUTION
    # hint: tutorial 6-1 chains ToTensor and Normalize with Compose; part 5 lists crop and flip
    steps = []
    if train:
        steps += [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()]
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
    return transforms.Compose(steps)
    ### END SOLUTION


def make_loaders(
    train_set: Dataset, test_set: Dataset, batch_size: int, num_workers: int = 0
) -> tuple[DataLoader, DataLoader]:
    """Return ``(train_loader, test_loader)``, both with ``batch_size`` and ``num_workers``.

    Pass ``batch_size`` and ``num_workers`` on to both DataLoaders, whatever values come in
    (the grader's training calls this with its own). The train loader reshuffles every
    epoch (it may drop a last partial batch); the test loader keeps the order and drops
    nothing.
    """
    ### BEGIN SOLUTION
    # hint: tutorial 6-1 builds both DataLoaders; part 4 says what shuffle and drop_last do
    # Worker processes that outlive an epoch save restarting them at every epoch.
    keep = num_workers > 0
    train_loader = DataLoader(
        train_set,
        batch_size=batch_size,
        shuffle=True,
        num_workers=num_workers,
        persistent_workers=keep,
    )
    test_loader = DataLoader(
        test_set, batch_size=batch_size, shuffle=False, num_workers=num_workers
    )
    return train_loader, test_loader
    ### END SOLUTION
