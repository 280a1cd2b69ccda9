import numpy as np
from torch.utils.data import DataLoader
from torchvision import transforms

CIFAR10_CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def channel_stats(images):
    pixels = np.asarray(images, dtype=np.float64).reshape(-1, 3) / 255.0
    return tuple(pixels.mean(axis=0)), tuple(pixels.std(axis=0))


def build_transform(mean, std, train=False):
    steps = [transforms.ToTensor(), transforms.Normalize(mean, std)]
    if train:
        steps = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()] + steps
    return transforms.Compose(steps)


def make_loaders(train_set, test_set, batch_size, num_workers=0):
    train_loader = DataLoader(train_set, batch_size, shuffle=True, num_workers=num_workers)
    test_loader = DataLoader(test_set, batch_size, shuffle=False, num_workers=num_workers)
    return train_loader, test_loader
