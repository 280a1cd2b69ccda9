"""The prepared cache under the data root: writing it atomically, verifying it against its
manifest, loading a split, and preparing it on first use."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from grader.data.sources import (
    CLASSES,
    IMAGE_SHAPE,
    SPLITS,
    CifarArrays,
    DataError,
    _say,
    fetch,
    import_source,
)
from grader.files import atomic_write

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
LEVELS = ("none", "size", "sha256")


def repo_dir() -> Path:
    """The parent of the ``grader/`` package directory."""
    return Path(__file__).resolve().parents[2]


def default_root() -> Path:
    """``$GRADER_DATA_DIR`` if set, else ``<repo>/datasets/cifar10``."""
    env = os.environ.get("GRADER_DATA_DIR")
    return Path(env) if env else repo_dir() / "datasets" / "cifar10"


def default_source() -> Path | None:
    """``$CIFAR10_SOURCE`` if set, else the shared JPEG tarball if it exists, else None.

    None means: download with torchvision.
    """
    env = os.environ.get("CIFAR10_SOURCE")
    if env:
        return Path(env)
    shared = repo_dir().parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"
    return shared if shared.exists() else None


def split_dir(root: str | os.PathLike | None, split: str) -> Path:
    """``<root>/<split>``: the folder holding one split's two arrays."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    return Path(root if root is not None else default_root()) / split


def _files(split: str) -> dict[str, str]:
    return {"images": f"{split}/images.npy", "labels": f"{split}/labels.npy"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_arrays(split: str, images: np.ndarray, labels: np.ndarray) -> None:
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{split} images are {images.dtype} {images.shape}, not uint8 (N,32,32,3)")
    if labels.shape != (len(images),):
        raise DataError(f"{split}: {len(images)} images but labels of shape {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise DataError(f"{split} labels fall outside 0..9")


def prepare(
    data: CifarArrays, root: str | os.PathLike | None = None, *, progress: bool = True
) -> Path:
    """Write ``data`` as the cache under ``root`` (default ``default_root()``); return ``root``.

    The old manifest is removed first and the new one written last, each file through a temp
    file and a rename: an interrupted prepare leaves no manifest, so the cache reads as invalid.
    """
    root = Path(root if root is not None else default_root())
    root.mkdir(parents=True, exist_ok=True)
    (root / MANIFEST).unlink(missing_ok=True)
    manifest = {
        "format": FORMAT_VERSION,
        "dataset": "cifar10",
        "classes": list(CLASSES),
        "source": data.description,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "files": {},
        "class_counts": {},
    }
    for split in SPLITS:
        images, labels = data.splits[split]
        images = np.ascontiguousarray(images, dtype=np.uint8)
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        _check_arrays(split, images, labels)
        for kind, array in (("images", images), ("labels", labels)):
            rel = _files(split)[kind]
            atomic_write(root / rel, lambda f, a=array: np.save(f, a, allow_pickle=False))
            manifest["files"][rel] = {
                "bytes": (root / rel).stat().st_size,
                "sha256": _sha256(root / rel),
                "shape": list(array.shape),
                "dtype": str(array.dtype),
            }
        if split == "test":
            os.chmod(root / split, 0o700)  # the test split is the grader's alone
        counts = np.bincount(labels, minlength=len(CLASSES))
        manifest["class_counts"][split] = [int(c) for c in counts]
        _say(f"prepared {split}: {len(labels)} images in {root / split}", progress)
    text = json.dumps(manifest, indent=2).encode()
    atomic_write(root / MANIFEST, lambda f: f.write(text))
    return root


def _read_manifest(root: Path) -> dict:
    path = root / MANIFEST
    if not path.is_file():
        raise DataError(
            f"{path} is missing: the CIFAR-10 cache at {root} is not prepared "
            "(or its preparation was interrupted); run `grader data prepare`"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise DataError(f"{path} is not a format-{FORMAT_VERSION} CIFAR-10 manifest")
    return manifest


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset from a .npy header (no data read)."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = getattr(np.lib.format, f"read_array_header_{version[0]}_0")
            shape, _, dtype = read_header(f)
            return tuple(shape), dtype, f.tell()
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npy file: {exc}") from exc


def _check_file(root: Path, rel: str, expected: dict, level: str) -> None:
    path = root / rel
    if not path.is_file():
        raise DataError(f"{path} is missing from the CIFAR-10 cache")
    size = path.stat().st_size
    if size != expected["bytes"]:
        what = "truncated" if size < expected["bytes"] else "larger than recorded"
        raise DataError(f"{path} is {what}: {size} bytes, the manifest says {expected['bytes']}")
    shape, dtype, offset = _npy_header(path)
    if list(shape) != expected["shape"] or str(dtype) != expected["dtype"]:
        raise DataError(
            f"{path} holds {dtype} {list(shape)}; the manifest says "
            f"{expected['dtype']} {expected['shape']}"
        )
    if offset + int(np.prod(shape)) * dtype.itemsize != size:
        raise DataError(f"{path} is truncated: its header promises more data than it holds")
    if level == "sha256" and _sha256(path) != expected["sha256"]:
        raise DataError(f"{path} fails its checksum: the file changed since it was prepared")


def verify(root: str | os.PathLike | None = None, *, level: str = "sha256", splits=SPLITS) -> dict:
    """Check the cache against its manifest and return the manifest.

    ``level="sha256"`` reads every byte (about a second for all of CIFAR-10); ``"size"`` checks
    presence, byte sizes and the .npy headers only, for hot paths. Raises ``DataError``.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    root = Path(root if root is not None else default_root())
    manifest = _read_manifest(root)
    if level == "none":
        return manifest
    for split in splits:
        for rel in _files(split).values():
            expected = manifest.get("files", {}).get(rel)
            if not isinstance(expected, dict):
                raise DataError(f"{root / MANIFEST} has no entry for {rel}")
            _check_file(root, rel, expected, level)
    return manifest


_verify = verify  # load_split's parameter ``verify`` shadows the function


def load_split(
    root: str | os.PathLike | None,
    split: str,
    *,
    verify: str = "size",
    mmap: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of one split: uint8 (N, 32, 32, 3) and int64 (N,).

    ``verify`` is a ``verify()`` level checked first (``"none"`` skips the manifest, for a
    sandbox that sees only ``<root>/<split>``); ``mmap=True`` maps the images read-only.
    """
    folder = split_dir(root, split)
    if verify != "none":
        _verify(folder.parent, level=verify, splits=(split,))
    try:
        images = np.load(folder / "images.npy", allow_pickle=False, mmap_mode="r" if mmap else None)
        labels = np.load(folder / "labels.npy", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot load the {split} split from {folder}: {exc}") from exc
    try:
        _check_arrays(split, images, labels)
    except DataError as exc:
        raise DataError(f"{folder}: {exc}") from None
    return images, labels


def ensure_prepared(
    root: str | os.PathLike | None = None,
    source: str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Return a valid cache root, importing (or downloading) and preparing only if needed.

    An existing cache passes with the cheap size check; otherwise the data come from ``source``
    (default ``default_source()``; None downloads with torchvision), are prepared, and the new
    cache is checked in full.
    """
    root = Path(root if root is not None else default_root())
    try:
        verify(root, level="size")
        return root
    except DataError as exc:
        _say(f"CIFAR-10 cache not ready ({exc}); preparing it", progress)
    source = source if source is not None else default_source()
    if source is None:
        data = fetch(root / "download", progress=progress)
    else:
        data = import_source(source, progress=progress)
    prepare(data, root, progress=progress)
    verify(root, level="sha256")
    return root


def command(action: str, *, source=None, root=None, progress: bool = True) -> Path:
    """``grader data fetch|import|prepare``: get the data into the cache; return its root.

    ``fetch`` downloads with torchvision; ``import`` reads ``source`` (default
    ``default_source()``); both rebuild the cache. ``prepare`` keeps a valid cache and
    otherwise builds it from ``source``, the shared tarball or the download.
    """
    root = Path(root if root is not None else default_root())
    if action == "fetch":
        prepare(fetch(root / "download", progress=progress), root, progress=progress)
    elif action == "import":
        source = source if source is not None else default_source()
        if source is None:
            raise DataError("nothing to import: give a path or set CIFAR10_SOURCE")
        prepare(import_source(source, progress=progress), root, progress=progress)
    elif action == "prepare":
        ensure_prepared(root, source, progress=progress)
    else:
        raise ValueError(f"unknown data action {action!r}")
    manifest = verify(root, level="sha256")
    counts = {split: sum(manifest["class_counts"][split]) for split in SPLITS}
    _say(f"CIFAR-10 ready in {root}: {counts['train']} train, {counts['test']} test images", True)
    return root
