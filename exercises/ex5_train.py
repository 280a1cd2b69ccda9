"""Exercise 5: training and evaluation.

Seeding, one training epoch, predictions, overall and per-class accuracy, and
saving the trained weights.
"""

import random

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ex4_net import Net


def set_seed(seed: int) -> None:
    """Seed ``torch``, ``numpy`` and ``random`` with ``seed`` itself, so a run repeats exactly.

    ``torch.manual_seed(seed)``, ``np.random.seed(seed)`` and ``random.seed(seed)``.
    """
    raise NotImplementedError('set_seed is not written yet: replace this line with your code (hint: tutorial 2-5-1 seeds torch; numpy and random each have a seed function of their own)')


def train_one_epoch(net: nn.Module, loader: DataLoader, criterion, optimizer, device) -> float:
    """Train ``net`` for one pass over ``loader``.

    Put ``net`` in training mode, then for each batch: move it to ``device``, zero the
    gradients, forward, loss, backward, optimizer step. Return the mean loss per sample over
    the epoch (each batch's mean loss weighted by its number of samples).
    """
    raise NotImplementedError('train_one_epoch is not written yet: replace this line with your code (hint: the inner loop of tutorial 6-4, batch moved to device; weigh each loss by its batch size)')


def predict(net: nn.Module, loader: DataLoader, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(predicted, labels)`` for every sample of ``loader``, in loader order.

    Put the network in eval mode and build no graph (``torch.no_grad()``). Both
    tensors are 1-D, on the CPU.
    """
    raise NotImplementedError("predict is not written yet: replace this line with your code (hint: tutorial 6-7 under torch.no_grad(), keeping every batch's predictions and labels)")


def overall_accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of predictions equal to the labels, a float in [0, 1]."""
    raise NotImplementedError("overall_accuracy is not written yet: replace this line with your code (hint: tutorial 6-7's correct / total, on the two tensors at once)")


def per_class_accuracy(
    predicted: torch.Tensor, labels: torch.Tensor, num_classes: int = 10
) -> torch.Tensor:
    """Accuracy of each class, a float tensor of shape (num_classes,).

    Entry ``k`` is the fraction of the samples whose label is ``k`` that were predicted
    as ``k``; NaN for a class with no samples.
    """
    raise NotImplementedError('per_class_accuracy is not written yet: replace this line with your code (hint: tutorial 6-8 counts per class, but only right for batches of 4: count over all samples)')


def save_model(net: nn.Module, path) -> None:
    """Save the network's ``state_dict`` to ``path``."""
    raise NotImplementedError('save_model is not written yet: replace this line with your code (hint: tutorial 6-5: save the state_dict, not the whole network)')


def load_model(path) -> Net:
    """Return a new ``Net`` with the weights saved at ``path`` (``weights_only=True``)."""
    raise NotImplementedError('load_model is not written yet: replace this line with your code (hint: tutorial 6-6, loading with weights_only=True)')
