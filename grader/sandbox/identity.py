"""Who a worker runs as: a uid of its own when the grader is root, else the grader's own.

As root, each live worker gets a uid and gid that nothing else on the machine uses (from
``UID_BASE`` up), held exclusively through a lock file in a folder only root can write.
So a worker cannot signal, trace or read the files of the grader or of another student's
worker, and its kernel limits per user (RLIMIT_NPROC) count only its own tasks. Before a
uid is handed out and when it is given back, every process still running under it is
killed: nothing a worker leaves behind meets the next one.
"""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import SandboxError
from grader.sandbox.processes import kill_user

UID_BASE = 1_900_000_000
"""First worker uid: far above the ranges of people, system users and container maps."""
SLOTS = 4096


@dataclass
class Identity:
    uid: int
    gid: int
    own: bool
    """True when the uid is the worker's own (the grader is root), False when it is the grader's."""
    _lock: int | None = field(default=None, repr=False)

    def release(self) -> None:
        if self._lock is None:
            return
        kill_user(self.uid)
        remove_files_of(self.uid)
        os.close(self._lock)
        self._lock = None


SHARED_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue")
"""Where any user may create files (a worker without bubblewrap shares them)."""


def remove_files_of(uid: int) -> list[str]:
    """Remove what ``uid`` left in the folders every user may write to; return the paths."""
    removed = []
    for folder in {*SHARED_FOLDERS, tempfile.gettempdir()}:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
                removed.append(entry.path)
            except OSError:
                continue
    return removed


def _lock_dir() -> Path:
    """A folder for the uid locks that only root can write (checked, never trusted blindly)."""
    candidates = [Path("/run/grader-workers"), Path(tempfile.gettempdir()) / "grader-workers-0"]
    for folder in candidates:
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            info = folder.lstat()
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and not info.st_mode & 0o077:
            return folder
    raise SandboxError(
        "no safe folder for the worker uid locks: "
        + " and ".join(str(c) for c in candidates)
        + " are missing, not writable, or writable by other users"
    )


def acquire() -> Identity:
    """A uid for one worker: its own (exclusive until released) as root, else the grader's."""
    if os.geteuid() != 0:
        return Identity(os.getuid(), os.getgid(), own=False)
    folder = _lock_dir()
    start = random.randrange(SLOTS)
    for step in range(SLOTS):
        slot = (start + step) % SLOTS
        fd = os.open(folder / f"{slot}.lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        uid = UID_BASE + slot
        kill_user(uid)
        return Identity(uid, uid, own=True, _lock=fd)
    raise SandboxError(f"all {SLOTS} worker uids are in use")
