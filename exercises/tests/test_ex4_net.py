"""Public tests for ex4."""

import torch

from ex4_net import Net


def test_logits_shape():
    """A batch of 5 images gives logits of shape (5, 10)."""
    assert Net()(torch.zeros(5, 3, 32, 32)).shape == (5, 10)


def test_parameter_count():
    """The tutorial's network has 62,006 parameters."""
    assert sum(p.numel() for p in Net().parameters()) == 62006
