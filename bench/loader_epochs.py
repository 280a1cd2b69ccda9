"""Seconds per epoch of the gate's input pipeline alone: loader workers restarted every epoch
against workers kept for the whole training (``persistent_workers``).

    python bench/loader_epochs.py [--workers N] [--batch-size 128] [--epochs 4] [--repeat 3]
                                  [--images 50000]

Both loaders read the prepared train split through the reference ``build_transform(train=True)``
(PIL crop and flip, ``ToTensor``, ``Normalize``) with
``grader.inside.gate_training.ArrayCIFAR10``, exactly as the gate feeds a submission; no model
runs. Each repeat times one training-length run of each
loader, alternating which goes first, and reports per run: seconds to the first batch of each
epoch, seconds per epoch, and the median over repeats with the ratio restarted / persistent.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import torch  # noqa: E402
from gate_recipe import reference_modules  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from grader import data  # noqa: E402
from grader.inside import gate_training  # noqa: E402


def time_epochs(loader, epochs: int) -> dict:
    """Wall seconds per epoch and to each epoch's first batch, for ``epochs`` passes."""
    per_epoch, first_batch = [], []
    for _ in range(epochs):
        start = time.perf_counter()
        for i, (images, _labels) in enumerate(loader):
            if i == 0:
                first_batch.append(time.perf_counter() - start)
            images.sum()
        per_epoch.append(time.perf_counter() - start)
    return {"epoch_s": per_epoch, "first_batch_s": first_batch, "total_s": sum(per_epoch)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--images", type=int, default=50_000, help="first N training images")
    parser.add_argument("--root", type=Path, help="prepared data root (default: ensure_prepared)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1 (persistence needs worker processes)")

    root = args.root or data.ensure_prepared()
    images, labels = gate_training._load_train(data.split_dir(root, "train"))
    images, labels = images[: args.images], labels[: args.images]
    ex3, _ex4, _ex5 = reference_modules()
    mean, std = ex3.channel_stats(images)
    dataset = gate_training.ArrayCIFAR10(images, labels, ex3.build_transform(mean, std, train=True))
    print(
        f"{len(dataset)} images, batch {args.batch_size}, {args.workers} workers, "
        f"{args.epochs} epochs x {args.repeat} repeats, {os.cpu_count()} cpus, "
        f"torch {torch.__version__}",
        flush=True,
    )

    def loader(persistent: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=args.batch_size,
            shuffle=True,
            num_workers=args.workers,
            persistent_workers=persistent,
        )

    totals: dict[str, list[float]] = {"restarted": [], "persistent": []}
    for rep in range(args.repeat):
        order = ["restarted", "persistent"] if rep % 2 == 0 else ["persistent", "restarted"]
        for name in order:
            measured = time_epochs(loader(name == "persistent"), args.epochs)
            totals[name].append(measured["total_s"])
            epochs = " ".join(f"{s:.2f}" for s in measured["epoch_s"])
            firsts = " ".join(f"{s:.2f}" for s in measured["first_batch_s"])
            print(
                f"repeat {rep} {name:10s}: {measured['total_s']:6.2f} s "
                f"(epochs {epochs}; first batch {firsts})",
                flush=True,
            )
    restarted = statistics.median(totals["restarted"])
    persistent = statistics.median(totals["persistent"])
    print(
        f"median over repeats: restarted {restarted:.2f} s "
        f"({restarted / args.epochs:.2f} s/epoch), persistent {persistent:.2f} s "
        f"({persistent / args.epochs:.2f} s/epoch), ratio {restarted / persistent:.2f}"
    )


if __name__ == "__main__":
    main()
