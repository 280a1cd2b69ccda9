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
    raise NotImplementedError('channel_stats is not written yet: replace this line with your code (hint: tutorial part 5, Normalize: mean and std per channel (各通道), on the 0-1 scale)')


def build_transform(mean, std, train: bool = False) -> transforms.Compose:
    """``ToTensor`` then ``Normalize(mean, std)``.

    With ``train=True``, ``RandomCrop(32, padding=4)`` and ``RandomHorizontalFlip()``
    come first, so each epoch sees slightly different images.
    """
    raise NotImplementedError('build_transform is not written yet: replace this line with your code (hint: tutorial 6-1 chains ToTensor and Normalize with Compose; part 5 lists crop and flip)')


def make_loaders(
    train_set: Dataset, test_set: Dataset, batch_size: int, num_workers: int = 0
) -> tuple[DataLoader, DataLoader]:
    """Return ``(train_loader, test_loader)``, both with ``batch_size`` and ``num_workers``.

    Pass ``batch_size`` and ``num_workers`` on to both DataLoaders, whatever values come in
    (the grader's training calls this with its own). The train loader reshuffles every
    epoch (it may drop a last partial batch); the test loader keeps the order and drops
    nothing.
    """
    raise NotImplementedError('make_loaders is not written yet: replace this line with your code (hint: tutorial 6-1 builds both DataLoaders; part 4 says what shuffle and drop_last do)')
