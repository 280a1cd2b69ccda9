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
    ### BEGIN SOLUTION
    # hint: tutorial 2-5-1 seeds torch; numpy and random each have a seed function of their own
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    ### END SOLUTION


def train_one_epoch(net: nn.Module, loader: DataLoader, criterion, optimizer, device) -> float:
    """Train ``net`` for one pass over ``loader``.

    Put ``net`` in training mode, then for each batch: move it to ``device``, zero the
    gradients, forward, loss, backward, optimizer step. Return the mean loss per sample over
    the epoch (each batch's mean loss weighted by its number of samples).
    """
    ### BEGIN SOLUTION
    # hint: the inner loop of tutorial 6-4, batch moved to device; weigh each loss by its batch size
    net.train()
    total_loss = 0.0
    total_samples = 0
    for inputs, labels in loader:
        inputs, labels = inputs.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = criterion(net(inputs), labels)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * labels.size(0)
        total_samples += labels.size(0)
    return total_loss / total_samples
    ### END SOLUTION


def predict(net: nn.Module, loader: DataLoader, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(predicted, labels)`` for every sample of ``loader``, in loader order.

    Put the network in eval mode and build no graph (``torch.no_grad()``). Both
    tensors are 1-D, on the CPU.
    """
    ### BEGIN SOLUTION
    # hint: tutorial 6-7 under torch.no_grad(), keeping every batch's predictions and labels
    net.eval()
    all_predicted, all_labels = [], []
    with torch.no_grad():
        for inputs, labels in loader:
            logits = net(inputs.to(device))
            all_predicted.append(logits.argmax(dim=1).cpu())
            all_labels.append(labels.cpu())
    return torch.cat(all_predicted), torch.cat(all_labels)
    ### END SOLUTION


def overall_accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of predictions equal to the labels, a float in [0, 1]."""
    ### BEGIN SOLUTION
    # hint: tutorial 6-7's correct / total, on the two tensors at once
    return (predicted == labels).float().mean().item()
    ### END SOLUTION


def per_class_accuracy(
    predicted: torch.Tensor, labels: torch.Tensor, num_classes: int = 10
) -> torch.Tensor:
    """Accuracy of each class, a float tensor of shape (num_classes,).

    Entry ``k`` is the fraction of the samples whose label is ``k`` that were predicted
    as ``k``; NaN for a class with no samples.
    """
    ### BEGIN SOLUTION
    # hint: tutorial 6-8 counts per class, but only right for batches of 4: count over all samples
    correct = torch.bincount(labels[predicted == labels], minlength=num_classes).float()
    total = torch.bincount(labels, minlength=num_classes).float()
    return correct / total
    ### END SOLUTION


def save_model(net: nn.Module, path) -> None:
    """Save the network's ``state_dict`` to ``path``."""
    ### BEGIN SOLUTION
    # hint: tutorial 6-5: save the state_dict, not the whole network
    torch.save(net.state_dict(), path)
    ### END SOLUTION


def load_model(path) -> Net:
    """Return a new ``Net`` with the weights saved at ``path`` (``weights_only=True``)."""
    ### BEGIN SOLUTION
    # hint: tutorial 6-6, loading with weights_only=True
    net = Net()
    net.load_state_dict(torch.load(path, weights_only=True))
    return net
    ### END SOLUTION
