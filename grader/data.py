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

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLASSES = tuple("airplane automobile bird cat deer dog frog horse ship truck".split())
SPLITS = ("train", "test")
IMAGE_SHAPE = (32, 32, 3)
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
LEVELS = ("none", "size", "sha256")
_TARBALL_SUFFIXES = (".tar.gz", ".tgz", ".tar")


class DataError(Exception):
    """The CIFAR-10 source or cache is missing or not what it should be."""


@dataclass
class CifarArrays:
    """Both splits in memory: ``splits[name] = (images uint8 NHWC, labels int64)``."""

    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    description: str


# --- where things live -----------------------------------------------------------------------


def repo_dir() -> Path:
    """The parent of the ``grader/`` package directory."""
    return Path(__file__).resolve().parent.parent


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
            tar.extractall(dest, members=members, filter="data")
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


def _files(split: str) -> dict[str, str]:
    return {"images": f"{split}/images.npy", "labels": f"{split}/labels.npy"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic_write(path: Path, write) -> None:
    """Write through ``write(file)`` into a temp file beside ``path``, then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
            _atomic_write(root / rel, lambda f, a=array: np.save(f, a, allow_pickle=False))
            manifest["files"][rel] = {
                "bytes": (root / rel).stat().st_size,
                "sha256": _sha256(root / rel),
                "shape": list(array.shape),
                "dtype": str(array.dtype),
            }
        counts = np.bincount(labels, minlength=len(CLASSES))
        manifest["class_counts"][split] = [int(c) for c in counts]
        _say(f"prepared {split}: {len(labels)} images in {root / split}", progress)
    text = json.dumps(manifest, indent=2).encode()
    _atomic_write(root / MANIFEST, lambda f: f.write(text))
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
