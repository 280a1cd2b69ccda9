"""Public tests for ex3."""

import numpy as np
import torch
from PIL import Image
from torch.utils.data import TensorDataset

from ex3_data import build_transform, channel_stats, make_loaders


def test_channel_stats_of_constant_images():
    """Images of one colour have that colour as mean (0-1 scale) and std 0."""
    images = np.zeros((4, 32, 32, 3), dtype=np.uint8)
    images[..., 0] = 255
    mean, std = channel_stats(images)
    np.testing.assert_allclose(mean, (1.0, 0.0, 0.0), atol=1e-6)
    np.testing.assert_allclose(std, (0.0, 0.0, 0.0), atol=1e-6)


def test_eval_transform_shape_and_values():
    """ToTensor then Normalize: a grey image maps to (0.5 - mean) / std."""
    image = Image.fromarray(np.full((32, 32, 3), 128, dtype=np.uint8))
    out = build_transform((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))(image)
    assert out.shape == (3, 32, 32)
    torch.testing.assert_close(out, torch.full((3, 32, 32), (128 / 255 - 0.5) / 0.25))


def test_test_loader_keeps_order():
    """The test loader gives the samples in order, the last partial batch too."""
    data = TensorDataset(torch.arange(10).float(), torch.arange(10))
    _, test_loader = make_loaders(data, data, batch_size=4)
    assert torch.cat([labels for _, labels in test_loader]).tolist() == list(range(10))
