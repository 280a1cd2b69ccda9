"""Probes for ex3_data."""

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from grader.inside.probes import as_tensor, probe, student


def _ex3():
    return student("ex3_data")


@probe
def classes():
    return list(_ex3().CIFAR10_CLASSES)


@probe
def channel_stats(images, as_torch):
    images = as_tensor(images) if as_torch else np.array(images)
    return _ex3().channel_stats(images)


@probe
def transform(images, mean, std, train, seed):
    """Apply ``build_transform(mean, std, train)`` to each HWC uint8 image (``train=None``:
    called without it, as its default has it)."""
    torch.manual_seed(seed)
    if train is None:
        tf = _ex3().build_transform(mean, std)
    else:
        tf = _ex3().build_transform(mean, std, train=train)
    return [tf(Image.fromarray(np.asarray(img, dtype=np.uint8))) for img in images]


class IndexedImages(Dataset):
    """Items ``(PIL image, label)`` like torchvision's CIFAR10; pixel (0, 0) holds the index."""

    def __init__(self, size: int, transform=None):
        self.size = size
        self.transform = transform

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        pixels = np.zeros((32, 32, 3), dtype=np.uint8)
        pixels[0, 0, 0], pixels[0, 0, 1] = index % 256, index // 256
        image = Image.fromarray(pixels)
        if self.transform is not None:
            image = self.transform(image)
        return image, index % 10


def _indices(batch) -> list[int]:
    images = batch[0]
    return (
        (images[:, 0, 0, 0] * 255)
        .round()
        .long()
        .add((images[:, 1, 0, 0] * 255).round().long() * 256)
        .tolist()
    )


@probe
def loaders(n_train, n_test, batch_size, epochs):
    """The order and batch sizes the two loaders produce (indices read from the images), and
    the labels of the test batches."""
    from torchvision.transforms import ToTensor

    torch.manual_seed(0)
    train_loader, test_loader = _ex3().make_loaders(
        IndexedImages(n_train, ToTensor()), IndexedImages(n_test, ToTensor()), batch_size
    )
    train_epochs = [[_indices(batch) for batch in train_loader] for _ in range(epochs)]
    test_batches, test_labels = [], []
    for batch in test_loader:
        test_batches.append(_indices(batch))
        test_labels.append([int(label) for label in batch[1]])
    given = _ex3().make_loaders(
        IndexedImages(n_train, ToTensor()), IndexedImages(n_test, ToTensor()), 5, 1
    )
    settings = [
        {"batch_size": loader.batch_size, "num_workers": loader.num_workers}
        for loader in (train_loader, test_loader, *given)
    ]
    return {
        "train": train_epochs,
        "test": test_batches,
        "test_labels": test_labels,
        "settings": settings,
    }
