"""A worker's private folder: everything a worker may read, and nothing else.

One folder per worker, made by the grader before the worker starts and removed after it
ends. The worker's uid may enter it (its group owns it, mode 0750) and no other worker's
may. It holds copies of what the worker may see, owned by the grader so that the worker
cannot change them:

    lib/grader/   the grader's ``inside/`` folder, what the worker runs, nothing else
    submission/   the staged exercise files
    train/        for the gate: the training images and the labels the trusted side chose
    home/, tmp/   the worker's own writable folders (used without bubblewrap; bubblewrap
                  mounts fresh sized tmpfs folders there instead)

Under bubblewrap these are bound read-only at fixed paths; without it the worker uses them
in place, and the rest of the machine is kept from it by its uid and file modes.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import numpy as np

PACKAGE_DIR = Path(__file__).resolve().parent.parent
INSIDE = "inside"
"""What of the grader package the worker gets: its (empty) ``__init__.py`` and the
``inside/`` folder, everything that runs inside the sandbox (the channel and the names both
sides agree on, the worker loop and its zygote, the gate's training driver, the probes).
Never the suites or anything trusted; ``tests/test_layout.py`` checks that ``inside/``
imports nothing outside it."""


def readable_by(path: Path, uid: int, gid: int) -> bool:
    """Could ``uid``/``gid`` (no supplementary groups, no capabilities) read ``path``?"""
    path = Path(path).resolve()
    chain = [*reversed(path.parents), path]
    for index, part in enumerate(chain):
        try:
            info = part.stat()
        except OSError:
            return False
        last = index == len(chain) - 1
        need = 0o1 if not last else (0o5 if part.is_dir() else 0o4)  # folders on the way: x
        if info.st_uid == uid:
            bits = (info.st_mode >> 6) & 0o7
        elif info.st_gid == gid:
            bits = (info.st_mode >> 3) & 0o7
        else:
            bits = info.st_mode & 0o7
        if bits & need != need:
            return False
    return True


class WorkerDir:
    """The private folder of one worker (see the module's docstring)."""

    def __init__(self, uid: int, gid: int):
        self.uid, self.gid = uid, gid
        self.root = Path(tempfile.mkdtemp(prefix="grader-worker-"))
        os.chmod(self.root, 0o750)
        if os.geteuid() == 0:
            os.chown(self.root, 0, gid)
        self.lib = self.root / "lib"
        self.grader = self.lib / "grader"
        self.submission = self.root / "submission"
        self.train: Path | None = None
        self.home = self._own_folder("home")
        self.tmp = self._own_folder("tmp")
        self._copy_worker_modules()

    def _own_folder(self, name: str) -> Path:
        folder = self.root / name
        folder.mkdir(mode=0o700)
        if os.geteuid() == 0:
            os.chown(folder, self.uid, self.gid)
        return folder

    def _copy_worker_modules(self) -> None:
        self.grader.mkdir(mode=0o755, parents=True)
        shutil.copyfile(PACKAGE_DIR / "__init__.py", self.grader / "__init__.py")
        shutil.copytree(
            PACKAGE_DIR / INSIDE,
            self.grader / INSIDE,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        _publish(self.lib)

    def add_submission(self, staged: Path) -> None:
        shutil.copytree(staged, self.submission)
        _publish(self.submission)

    def add_train_split(self, images: Path, labels: np.ndarray) -> Path:
        """``train/`` with the training images (a link when the worker may read the file,
        else a copy) and ``labels`` as the trusted side chose them."""
        self.train = self.root / "train"
        self.train.mkdir(mode=0o755)
        if readable_by(images, self.uid, self.gid):
            os.symlink(Path(images).resolve(), self.train / "images.npy")
        else:
            shutil.copyfile(images, self.train / "images.npy")
        np.save(self.train / "labels.npy", np.asarray(labels), allow_pickle=False)
        _publish(self.train)
        return self.train

    def remove(self) -> None:
        for path in [self.root, *self.root.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                try:
                    os.chmod(path, 0o700)  # read-only folders cannot be emptied by a non-root owner
                except OSError:
                    pass
        shutil.rmtree(self.root, ignore_errors=True)


def _publish(folder: Path) -> None:
    """Owned by the grader, readable by all who may enter the worker's folder, writable by none."""
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.lstat().st_mode)
        os.chmod(path, 0o555 if path.is_dir() else (0o555 if mode & 0o111 else 0o444))
