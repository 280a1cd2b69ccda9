"""Exercise 4: the network.

The small convolutional network of the classic PyTorch CIFAR-10 tutorial. The
layers are defined for you; write ``forward``.
"""

import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    """The CIFAR-10 tutorial's network: two convolutions, then three linear layers.

    Input: a batch of normalised images, shape (N, 3, 32, 32); output: logits, (N, 10).
    Keep ``__init__`` as it is (the grader loads weights into these layers by name; 62,006
    parameters in all).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)  # (N, 3, 32, 32) -> (N, 6, 28, 28)
        self.pool = nn.MaxPool2d(2, 2)  # halves height and width: 28 -> 14, 10 -> 5
        self.conv2 = nn.Conv2d(6, 16, 5)  # (N, 6, 14, 14) -> (N, 16, 10, 10)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)  # (N, 400): the (16, 5, 5) maps, flattened
        self.fc2 = nn.Linear(120, 84)  # (N, 120) -> (N, 84)
        self.fc3 = nn.Linear(84, 10)  # one logit per class

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a batch of images (N, 3, 32, 32) to logits (N, 10).

        conv1 -> ReLU -> pool, conv2 -> ReLU -> pool, flatten each image to 400 values,
        fc1 -> ReLU, fc2 -> ReLU, fc3 (no activation: these are logits).
        """
        raise NotImplementedError("forward is not written yet: replace this line with your code (hint: tutorial 6-3's forward, flattened so that it works for any batch size)")
