"""The CIFAR-10 sources and the prepared cache (grader/data.py), on tiny synthetic data."""

import io
import json
import pickle
import tarfile

import numpy as np
import pytest
from PIL import Image

from grader import data
from grader.data import CLASSES, DataError

TRAIN_PER_CLASS, TEST_PER_CLASS = 2, 1


def _image(label: int, index: int) -> np.ndarray:
    rng = np.random.default_rng(1000 * label + index)
    return rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)


def make_image_tree(folder, fmt="png"):
    """train/<class>/*, test/<class>/*; PNG is lossless, so pixels can be compared exactly."""
    for split, per_class in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        for label, name in enumerate(CLASSES):
            (folder / split / name).mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(_image(label, i)).save(folder / split / name / f"{i:04d}.{fmt}")
    return folder


def make_batches(folder):
    """A fake cifar-10-batches-py in torchvision's format: rows of 1024 R, 1024 G, 1024 B."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    expected = {}
    layout = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    for split, names in layout.items():
        images, labels = [], []
        for name in names:
            batch = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
            batch_labels = rng.integers(0, 10, size=4).tolist()
            rows = batch.transpose(0, 3, 1, 2).reshape(4, 3072)
            with open(folder / name, "wb") as f:
                pickle.dump({"data": rows, "labels": batch_labels, "batch_label": name}, f)
            images.append(batch)
            labels += batch_labels
        expected[split] = (np.concatenate(images), np.array(labels))
    return folder, expected


def make_tarball(source_dir, tarball, arcname):
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(source_dir, arcname=arcname)
    return tarball


def test_image_tree_is_read_with_sorted_class_labels(tmp_path):
    """Does an image-folder tree import with each class folder's torchvision label?"""
    tree = make_image_tree(tmp_path / "tree")
    arrays = data.import_source(tree, progress=False)
    images, labels = arrays.splits["train"]
    assert images.shape == (10 * TRAIN_PER_CLASS, 32, 32, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert np.bincount(labels).tolist() == [TRAIN_PER_CLASS] * 10
    for image, label in zip(images, labels, strict=True):
        assert any(np.array_equal(image, _image(label, i)) for i in range(TRAIN_PER_CLASS))
    assert len(arrays.splits["test"][1]) == 10 * TEST_PER_CLASS


def test_batches_folder_is_read_channel_last(tmp_path):
    """Does a cifar-10-batches-py folder import as NHWC uint8 with its labels?"""
    folder, expected = make_batches(tmp_path / "cifar-10-batches-py")
    arrays = data.import_source(folder, progress=False)
    for split in ("train", "test"):
        np.testing.assert_array_equal(arrays.splits[split][0], expected[split][0])
        np.testing.assert_array_equal(arrays.splits[split][1], expected[split][1])


@pytest.mark.parametrize("kind", ["tree", "batches"])
def test_tarball_of_either_layout_imports(tmp_path, kind):
    """Does a .tar.gz holding a tree or a batches folder (one level down) import?"""
    if kind == "tree":
        src = make_image_tree(tmp_path / "tree")
        arcname = "cifar10-images"
    else:
        src, _ = make_batches(tmp_path / "cifar-10-batches-py")
        arcname = "cifar-10-batches-py"
    tarball = make_tarball(src, tmp_path / "cifar.tgz", arcname)
    direct = data.import_source(src, progress=False)
    packed = data.import_source(tarball, progress=False)
    for split in ("train", "test"):
        np.testing.assert_array_equal(packed.splits[split][0], direct.splits[split][0])
        np.testing.assert_array_equal(packed.splits[split][1], direct.splits[split][1])
    assert "tarball" in packed.description


def _tar_with(tmp_path, member: tarfile.TarInfo, payload: bytes = b""):
    tarball = tmp_path / "bad.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.addfile(member, io.BytesIO(payload) if member.isfile() else None)
    return tarball


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "train/../../evil.txt"])
def test_tarball_with_escaping_path_is_rejected(tmp_path, name):
    """Is a member with an absolute path or '..' refused, and nothing written outside?"""
    member = tarfile.TarInfo(name)
    member.size = 4
    with pytest.raises(DataError, match="unsafe path"):
        data.import_source(_tar_with(tmp_path, member, b"evil"), progress=False)
    assert not (tmp_path.parent / "evil.txt").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE])
def test_tarball_with_link_or_device_is_rejected(tmp_path, kind):
    """Are symlinks, hard links and device files refused?"""
    member = tarfile.TarInfo("train/link")
    member.type = kind
    member.linkname = "/etc/passwd"
    with pytest.raises(DataError, match="link or special file"):
        data.import_source(_tar_with(tmp_path, member), progress=False)


def test_batch_pickle_cannot_run_code(tmp_path):
    """Is a batch file whose pickle names a function (os.system) refused, not executed?"""
    folder, _ = make_batches(tmp_path / "cifar-10-batches-py")

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({"data": Evil(), "labels": []}, f)
    with pytest.raises(DataError, match="data_batch_3"):
        data.import_source(folder, progress=False)
    assert not (tmp_path / "pwned").exists()


def test_wrong_class_folders_are_refused(tmp_path):
    """Would tutorial class names (plane, car, ...) be refused rather than mislabelled?"""
    tree = make_image_tree(tmp_path / "tree")
    (tree / "train" / "airplane").rename(tree / "train" / "plane")
    with pytest.raises(DataError, match="class folders"):
        data.import_source(tree, progress=False)


def test_image_of_wrong_size_is_refused(tmp_path):
    """Is an image that is not 32x32 named in the error?"""
    tree = make_image_tree(tmp_path / "tree")
    Image.new("RGB", (16, 16)).save(tree / "test" / "cat" / "0000.png")
    with pytest.raises(DataError, match=r"0000\.png is 16x16"):
        data.import_source(tree, progress=False)


def test_missing_source_and_unknown_layout_are_refused(tmp_path):
    """Do a missing path and a folder with no CIFAR-10 in it raise DataError?"""
    with pytest.raises(DataError, match="does not exist"):
        data.import_source(tmp_path / "nowhere", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no CIFAR-10 found"):
        data.import_source(tmp_path / "empty", progress=False)


@pytest.fixture
def prepared(tmp_path):
    folder, expected = make_batches(tmp_path / "src" / "cifar-10-batches-py")
    root = data.prepare(data.import_source(folder, progress=False), tmp_path / "cache",
                        progress=False)  # fmt: skip
    return root, expected


def test_prepare_writes_split_folders_and_manifest(prepared):
    """Does prepare write train/ and test/ arrays and a manifest that verify accepts?"""
    root, expected = prepared
    manifest = data.verify(root)
    assert set(manifest["files"]) == {
        "train/images.npy",
        "train/labels.npy",
        "test/images.npy",
        "test/labels.npy",
    }
    assert manifest["files"]["train/images.npy"]["shape"] == [20, 32, 32, 3]
    assert sum(manifest["class_counts"]["test"]) == 4
    images, labels = data.load_split(root, "train", verify="sha256")
    np.testing.assert_array_equal(images, expected["train"][0])
    np.testing.assert_array_equal(labels, expected["train"][1])
    mapped, _ = data.load_split(root, "test", mmap=True)
    assert isinstance(mapped, np.memmap)
    assert not list(root.rglob("*.tmp"))


def test_split_folder_alone_loads_without_manifest(prepared, tmp_path):
    """Can a sandbox that sees only <root>/train load it with verify='none'?"""
    root, expected = prepared
    only_train = tmp_path / "sandbox"
    only_train.mkdir()
    (root / "train").rename(only_train / "train")
    images, _ = data.load_split(only_train, "train", verify="none")
    np.testing.assert_array_equal(images, expected["train"][0])


def test_missing_manifest_means_not_prepared(prepared):
    """Does a cache without its manifest (an interrupted prepare) read as not prepared?"""
    root, _ = prepared
    (root / "manifest.json").unlink()
    with pytest.raises(DataError, match="manifest.json is missing"):
        data.load_split(root, "train")


def test_truncated_file_is_named(prepared):
    """Is a truncated images.npy reported as truncated, by name?"""
    root, _ = prepared
    path = root / "train" / "images.npy"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"train/images\.npy is truncated"):
        data.verify(root, level="size")


def test_changed_bytes_fail_the_checksum_only(prepared):
    """Does a same-size edit pass the cheap check but fail the sha256 check?"""
    root, _ = prepared
    path = root / "test" / "labels.npy"
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    data.verify(root, level="size")
    with pytest.raises(DataError, match=r"test/labels\.npy fails its checksum"):
        data.verify(root, level="sha256")


def test_shape_mismatch_with_manifest_is_reported(prepared):
    """Does a file whose shape differs from the manifest's raise, naming both shapes?"""
    root, _ = prepared
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"]["train/labels.npy"]["shape"] = [50000]
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"labels\.npy holds int64 \[20\].*\[50000\]"):
        data.verify(root, level="size")


def test_missing_file_is_named(prepared):
    """Is a deleted array named in the error?"""
    root, _ = prepared
    (root / "test" / "images.npy").unlink()
    with pytest.raises(DataError, match=r"test/images\.npy is missing"):
        data.load_split(root, "test")


def test_ensure_prepared_imports_once(tmp_path, monkeypatch):
    """Does ensure_prepared import when the cache is missing, and not again when it is valid?"""
    src, _ = make_batches(tmp_path / "cifar-10-batches-py")
    root = tmp_path / "cache"
    assert data.ensure_prepared(root, source=src, progress=False) == root
    data.verify(root)

    def refuse(*args, **kwargs):
        raise AssertionError("imported again")

    monkeypatch.setattr(data, "import_source", refuse)
    assert data.ensure_prepared(root, source=src, progress=False) == root


def test_defaults_follow_the_environment(tmp_path, monkeypatch):
    """Do $GRADER_DATA_DIR and $CIFAR10_SOURCE override the default root and source?"""
    monkeypatch.setenv("GRADER_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("CIFAR10_SOURCE", str(tmp_path / "s.tgz"))
    assert data.default_root() == tmp_path / "d"
    assert data.default_source() == tmp_path / "s.tgz"
    monkeypatch.delenv("GRADER_DATA_DIR")
    assert data.default_root() == data.repo_dir() / "datasets" / "cifar10"


def test_data_command_line_imports_and_reports_errors(tmp_path):
    """Does `grader data import` build the cache, and a bad source exit 2 with the reason?"""
    from conftest import grader

    tree = make_image_tree(tmp_path / "tree")
    root = tmp_path / "cache"
    completed = grader("data", "import", tree, "--root", root)
    assert completed.returncode == 0, completed.stderr
    assert "CIFAR-10 ready" in completed.stderr and (root / "manifest.json").exists()
    assert grader("data", "prepare", "--root", root).returncode == 0
    bad = grader("data", "import", tmp_path / "nowhere", "--root", tmp_path / "other")
    assert bad.returncode == 2 and "does not exist" in bad.stderr
