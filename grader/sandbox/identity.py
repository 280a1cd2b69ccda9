"""Who a sandbox runs as: a uid of its own when the grader is root, else the grader's own.

As root, each live sandbox gets a uid and gid that nothing else on the machine uses (from
``UID_BASE`` up), held exclusively through a lock file in a folder only root can write.
So student code cannot signal, trace or read the files of the grader or of another
submission's sandbox, and its kernel limits per user (RLIMIT_NPROC) count only its own tasks.
Before a uid is handed out, every process still running under it is killed; when it is given
back, everything it left is looked for and removed (:mod:`grader.sandbox.leftovers`), and a
uid that keeps something (keys) is retired: nothing a sandbox leaves behind meets the next.
"""

from __future__ import annotations

import fcntl
import os
import random
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import SandboxError
from grader.sandbox import leftovers
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

    def release(self, folders=leftovers.SHARED_FOLDERS) -> leftovers.Sweep | None:
        """Give the uid back: kill what still runs as it, remove what it left in ``folders``
        and the kernel, and say what that was (None where the uid is not the sandbox's own).
        A uid that keeps anything is retired."""
        if self._lock is None:
            return None
        swept = leftovers.sweep(self.uid, folders)
        if swept.kept:
            retire(self.uid)
        os.close(self._lock)
        self._lock = None
        return swept


def shared_folders(deep: bool) -> tuple[str, ...]:
    """The folders where a sandbox's uid may have made files: every folder any user may
    write to (``deep``: found on the whole machine, for workers that share its file system),
    or the usual ones (under bubblewrap, which writes nowhere on the machine)."""
    usual = (*leftovers.SHARED_FOLDERS, tempfile.gettempdir())
    if not deep:
        return tuple(dict.fromkeys(usual))
    return tuple(dict.fromkeys((*usual, *leftovers.world_writable_folders())))


def retire(uid: int) -> None:
    """Never hand out ``uid`` again (until the lock folder goes, at the next boot for /run):
    the kernel still holds something of it."""
    try:
        (_lock_dir() / f"{uid - UID_BASE}.retired").touch()
    except (OSError, SandboxError):
        pass


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
        if (folder / f"{slot}.retired").exists():
            continue
        fd = os.open(folder / f"{slot}.lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        uid = UID_BASE + slot
        if leftovers.key_count(uid):  # keys of a sandbox before the sweep, or of another tool
            retire(uid)
            os.close(fd)
            continue
        kill_user(uid)
        return Identity(uid, uid, own=True, _lock=fd)
    raise SandboxError(f"all {SLOTS} worker uids are in use")
