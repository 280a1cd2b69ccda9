"""CIFAR-10: getting it, and the prepared cache the grader reads.

Public functions (what ``grader data fetch|import|prepare`` wires to)::

    default_root() -> Path                    # $GRADER_DATA_DIR, else <repo>/datasets/cifar10
    default_source() -> Path | None           # $CIFAR10_SOURCE, else the shared tarball, else None
    fetch(download_dir, *, progress=True) -> CifarArrays      # torchvision download (online)
    import_source(path, *, progress=True) -> CifarArrays      # local folder or tarball (offline)
    prepare(data, root=None, *, progress=True) -> Path         # write the cache atomically
    verify(root=None, *, level="sha256") -> dict               # the manifest, or DataError
    load_split(root, split, *, verify="size", mmap=False) -> (images, labels)
    split_dir(root, split) -> Path            # <root>/train: the one folder a sandbox may see
    ensure_prepared(root=None, source=None, progress=True) -> Path

The cache, under the data root::

    train/images.npy  (50000, 32, 32, 3) uint8     train/labels.npy  (50000,) int64
    test/images.npy   (10000, 32, 32, 3) uint8     test/labels.npy   (10000,) int64
    manifest.json     per file: sha256, bytes, shape, dtype; per split: class counts; the source

Every problem (missing file, truncated file, checksum mismatch, wrong shape, bad source) raises
``DataError`` naming the file and what is wrong. Progress goes to stderr.
"""

from grader.data.cache import (
    command,
    default_root,
    default_source,
    ensure_prepared,
    load_split,
    prepare,
    repo_dir,
    split_dir,
    verify,
)
from grader.data.sources import CLASSES, SPLITS, CifarArrays, DataError, fetch, import_source

__all__ = [
    "command",
    "CLASSES",
    "SPLITS",
    "CifarArrays",
    "DataError",
    "default_root",
    "default_source",
    "ensure_prepared",
    "fetch",
    "import_source",
    "load_split",
    "prepare",
    "repo_dir",
    "split_dir",
    "verify",
]
