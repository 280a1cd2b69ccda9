"""Reading CIFAR-10 from its sources: torchvision's download, a batches folder, an image-folder
tree, or a tarball of either. Everything here returns :class:`CifarArrays`."""

from __future__ import annotations

import os
import pickle
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.errors import DataError

CLASSES = tuple("airplane automobile bird cat deer dog frog horse ship truck".split())
SPLITS = ("train", "test")
IMAGE_SHAPE = (32, 32, 3)
_TARBALL_SUFFIXES = (".tar.gz", ".tgz", ".tar")


@dataclass
class CifarArrays:
    """Both splits in memory: ``splits[name] = (images uint8 NHWC, labels int64)``."""

    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    description: str


# --- where things live -----------------------------------------------------------------------


def _say(message: str, enabled: bool) -> None:
    if enabled:
        print(message, file=sys.stderr, flush=True)


# --- sources ---------------------------------------------------------------------------------


def fetch(download_dir: str | os.PathLike, *, progress: bool = True) -> CifarArrays:
    """Download the original release with ``torchvision.datasets.CIFAR10`` and read it.

    Needs internet access; offline, use ``import_source`` with a local copy.
    """
    from torchvision.datasets import CIFAR10

    download_dir = Path(download_dir)
    _say(f"downloading CIFAR-10 into {download_dir}", progress)
    try:
        for train in (True, False):
            CIFAR10(root=str(download_dir), train=train, download=True)
    except Exception as exc:  # torchvision raises URLError, RuntimeError, OSError...
        raise DataError(
            f"could not download CIFAR-10 into {download_dir}: {exc}. Offline, import a local "
            "copy instead (a cifar-10-batches-py folder, an image-folder tree or a tarball; "
            "see $CIFAR10_SOURCE)"
        ) from exc
    data = _read_batches(download_dir / "cifar-10-batches-py", progress)
    data.description = "torchvision download (cifar-10-python.tar.gz)"
    return data


def import_source(path: str | os.PathLike, *, progress: bool = True) -> CifarArrays:
    """Read CIFAR-10 from a local copy.

    ``path`` is a ``cifar-10-batches-py`` folder (torchvision's format), an image-folder tree
    (``train/<class>/*``, ``test/<class>/*``, the ten torchvision class names), a folder holding
    either, or a ``.tar.gz``/``.tgz``/``.tar`` of any of these (extracted safely to a temp dir).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"CIFAR-10 source {path} does not exist")
    if path.is_file():
        if not path.name.endswith(_TARBALL_SUFFIXES):
            raise DataError(
                f"CIFAR-10 source {path} is a file but not a tarball "
                f"({', '.join(_TARBALL_SUFFIXES)})"
            )
        with tempfile.TemporaryDirectory(prefix="cifar10-import-") as tmp:
            _say(f"extracting {path}", progress)
            _extract_tarball(path, Path(tmp))
            data = _read_folder(Path(tmp), progress)
        data.description = f"{data.description} from tarball {path.name}"
        return data
    data = _read_folder(path, progress)
    data.description = f"{data.description} at {path}"
    return data


def _read_folder(path: Path, progress: bool) -> CifarArrays:
    """Find a batches folder or an image-folder tree at ``path`` or up to two levels below."""
    candidates = [path, *sorted(p for p in path.iterdir() if p.is_dir())]
    candidates += [q for p in candidates[1:] for q in sorted(p.iterdir()) if q.is_dir()]
    for folder in candidates:
        if (folder / "data_batch_1").is_file():
            return _read_batches(folder, progress)
        if (folder / "train").is_dir() and (folder / "test").is_dir():
            return _read_image_folders(folder, progress)
    raise DataError(
        f"no CIFAR-10 found in {path}: expected a cifar-10-batches-py folder (data_batch_1..5, "
        "test_batch) or an image-folder tree (train/<class>/*, test/<class>/*)"
    )


def _extract_tarball(tarball: Path, dest: Path) -> None:
    """Extract regular files and folders only; reject absolute paths, '..', links, devices."""
    try:
        with tarfile.open(tarball) as tar:
            members = tar.getmembers()
            for member in members:
                name = member.name
                parts = Path(name).parts
                if name.startswith(("/", "\\")) or Path(name).is_absolute() or ".." in parts:
                    raise DataError(f"unsafe path {name!r} in {tarball}: refusing to extract")
                if not (member.isfile() or member.isdir()):
                    raise DataError(
                        f"{name!r} in {tarball} is a link or special file: refusing to extract"
                    )
            # Every member was checked above; the "data" filter (Python 3.11.4 and later)
            # also drops permission bits and ownership that a tarball could carry.
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(dest, members=members, **extra)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"could not read tarball {tarball}: {exc}") from exc


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batch dicts (numpy arrays, lists, bytes) and nothing else."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")


def _read_batches(folder: Path, progress: bool) -> CifarArrays:
    """Read torchvision's ``cifar-10-batches-py`` format."""
    names = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    splits = {}
    for split, files in names.items():
        images, labels = [], []
        for name in files:
            file = folder / name
            if not file.is_file():
                raise DataError(f"{file} is missing from the cifar-10-batches-py folder")
            try:
                with open(file, "rb") as f:
                    entry = _ArrayUnpickler(f, encoding="latin1").load()
                data = np.asarray(entry["data"], dtype=np.uint8)
                batch_labels = entry["labels"] if "labels" in entry else entry["fine_labels"]
                images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
                labels.append(np.asarray(batch_labels, dtype=np.int64))
            except (pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError) as exc:
                raise DataError(f"{file} is not a CIFAR-10 batch: {exc}") from exc
            if len(images[-1]) != len(labels[-1]):
                raise DataError(f"{file}: {len(images[-1])} images but {len(labels[-1])} labels")
        splits[split] = (np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels))
        _say(f"read {split}: {len(splits[split][1])} images from {folder.name}", progress)
    return CifarArrays(splits, "cifar-10-batches-py")


def _read_image_folders(folder: Path, progress: bool) -> CifarArrays:
    """Read ``train/<class>/*`` and ``test/<class>/*`` with torchvision's ``ImageFolder``."""
    from PIL import Image
    from torchvision.datasets import ImageFolder

    splits = {}
    for split in SPLITS:
        try:
            tree = ImageFolder(str(folder / split))
        except (FileNotFoundError, OSError) as exc:
            raise DataError(f"cannot read image folder {folder / split}: {exc}") from exc
        if tuple(tree.classes) != CLASSES:
            raise DataError(
                f"{folder / split} has class folders {tree.classes}; expected exactly "
                f"{list(CLASSES)} (torchvision's names, whose sorted order is the label order)"
            )
        count = len(tree.samples)
        images = np.empty((count, *IMAGE_SHAPE), dtype=np.uint8)
        labels = np.empty(count, dtype=np.int64)
        start, quarter = time.perf_counter(), max(1, count // 4)
        for i, (file, label) in enumerate(tree.samples):
            if i % quarter == 0:
                _say(f"importing {split}: {i}/{count}", progress)
            try:
                with Image.open(file) as image:
                    pixels = np.asarray(image.convert("RGB"))
            except OSError as exc:
                raise DataError(f"cannot decode image {file}: {exc}") from exc
            if pixels.shape != IMAGE_SHAPE:
                raise DataError(f"image {file} is {pixels.shape[1]}x{pixels.shape[0]}, not 32x32")
            images[i], labels[i] = pixels, label
        seconds = time.perf_counter() - start
        _say(f"importing {split}: {count}/{count} in {seconds:.1f} s", progress)
        splits[split] = (images, labels)
    return CifarArrays(splits, "image-folder tree")


# --- the cache -------------------------------------------------------------------------------
