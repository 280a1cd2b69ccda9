"""Public tests for ex5."""

import math

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ex5_train import overall_accuracy, per_class_accuracy, set_seed, train_one_epoch


def test_set_seed_repeats():
    """Two runs after set_seed(0) draw the same numbers."""
    set_seed(0)
    a = torch.rand(3)
    set_seed(0)
    assert torch.equal(a, torch.rand(3))


def test_overall_accuracy_example():
    """3 of 4 right is 0.75."""
    assert overall_accuracy(torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 2, 0])) == 0.75


def test_per_class_accuracy_example():
    """Class 0: 1 of 2, class 1: 1 of 1, class 2: no samples (NaN)."""
    out = per_class_accuracy(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), num_classes=3)
    assert out[:2].tolist() == [0.5, 1.0] and math.isnan(out[2])


def test_train_one_epoch_returns_the_mean_loss_per_sample():
    """With batches of 4, 4 and 2 samples (and a learning rate of 0, so nothing changes
    mid-epoch), is the returned loss the mean over the 10 samples, not over the 3 batches?"""
    torch.manual_seed(0)
    features, labels = torch.randn(10, 5), torch.tensor([0, 1, 2] * 3 + [0])
    model = nn.Linear(5, 3)
    loader = DataLoader(TensorDataset(features, labels), batch_size=4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loss = train_one_epoch(model, loader, nn.CrossEntropyLoss(), optimizer, "cpu")
    with torch.no_grad():
        expected = nn.CrossEntropyLoss()(model(features), labels).item()
    assert loss is not None, "train_one_epoch returned None: is a `return` missing?"
    assert math.isclose(loss, expected, rel_tol=1e-5), (loss, expected)
