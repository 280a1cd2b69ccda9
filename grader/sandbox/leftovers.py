"""What a sandbox's uid may leave on the machine when it ends: found, removed, and recorded.

When a sandbox ends, every process in it has been killed; what its uid could still have
made that outlives processes is looked for and removed here, as root: processes of the uid
that escaped the tree, System V shared memory, message queues and semaphores (those of the
grader's IPC namespace: a sandbox's own namespace ends with it), keys in the kernel's
keyrings, and files in every folder any user may write to, wherever it is (the uid can make
files nowhere else, and everything it made below them goes with them). Keys cannot be
removed for another user; a uid that still holds some is retired (never handed out again
until the machine restarts, when keys go too).

The seccomp filter (:mod:`grader.sandbox.seccomp`) keeps student code from making IPC
objects and keys at all, and bubblewrap from writing anywhere but its own tmpfs mounts:
this is the check that nothing got through, whatever the isolation.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import stat
from dataclasses import dataclass, field

from grader.sandbox.processes import kill_user, processes_of

SHARED_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue", "/run/lock")
"""Where any user may make files on most machines (the search starts from these)."""
PSEUDO = ("/proc", "/sys")
"""File systems that hold no files a user made."""
IPC_RMID = 0
IPC_ID = {"shm": "shmid", "msg": "msqid", "sem": "semid"}
"""The column of ``/proc/sysvipc/<kind>`` that holds an object's id."""


@dataclass
class Sweep:
    """What one uid had left, and what could not be removed."""

    uid: int
    found: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """What is still there after removal (a uid with some must not be used again)."""

    def merge(self, other: Sweep) -> None:
        self.found += other.found
        self.kept += other.kept


def _entries(folder: str):
    """``(path, lstat)`` of each entry of ``folder`` (none where it cannot be listed)."""
    try:
        entries = os.scandir(folder)
    except OSError:
        return
    with entries:
        for entry in entries:
            try:
                yield entry.path, entry.stat(follow_symlinks=False)
            except OSError:
                continue


@functools.cache
def world_writable_folders() -> tuple[str, ...]:
    """Every folder of the machine that any user may create files in and reach (every
    folder above it may be passed through by others), found once per process."""
    found: list[str] = []
    todo = ["/"]
    while todo:
        for path, info in _entries(todo.pop()):
            if path in PSEUDO or not stat.S_ISDIR(info.st_mode):
                continue
            if info.st_mode & stat.S_IWOTH and info.st_mode & stat.S_IXOTH:
                found.append(path)
            if info.st_mode & stat.S_IXOTH:
                todo.append(path)
    return tuple(sorted(found))


def sweep(uid: int, folders: tuple[str, ...] | list[str] = SHARED_FOLDERS) -> Sweep:
    """Kill what runs as ``uid``, remove its IPC objects and its entries in ``folders``, and
    say what was found and what is still there (keys cannot be removed)."""
    result = Sweep(uid)
    running = processes_of(uid)
    if running:
        result.found.append(f"{len(running)} process(es)")
        kill_user(uid)
        if processes_of(uid):
            result.kept.append("processes that would not die")
    for name in ipc_objects(uid):
        result.found.append(name)
        if not _remove_ipc(name):
            result.kept.append(name)
    keys = key_count(uid)
    if keys:
        result.found.append(f"{keys} key(s)")
        result.kept.append(f"{keys} key(s)")
    for path in files_of(uid, folders):
        result.found.append(path)
        if not _remove(path):
            result.kept.append(path)
    return result


def ipc_objects(uid: int) -> list[str]:
    """System V objects of this IPC namespace that ``uid`` made or owns (``shm 123``)."""
    found = []
    for kind in ("shm", "msg", "sem"):
        try:
            with open(f"/proc/sysvipc/{kind}") as handle:
                header, *rows = handle.read().splitlines()
        except OSError:
            continue
        names = header.split()
        for row in rows:
            values = dict(zip(names, row.split(), strict=False))
            try:
                if uid in (int(values["uid"]), int(values["cuid"])):
                    found.append(f"{kind} {int(values[IPC_ID[kind]])}")
            except (KeyError, ValueError):
                continue
    return found


def _remove_ipc(name: str) -> bool:
    kind, ident = name.split()
    libc = ctypes.CDLL(None, use_errno=True)
    remove = {
        "shm": lambda i: libc.shmctl(i, IPC_RMID, None),
        "msg": lambda i: libc.msgctl(i, IPC_RMID, None),
        "sem": lambda i: libc.semctl(i, 0, IPC_RMID),
    }[kind]
    return remove(int(ident)) == 0


def key_count(uid: int) -> int:
    """How many keys ``uid`` owns in the kernel's keyrings (``/proc/key-users``)."""
    try:
        with open("/proc/key-users") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return 0
    for line in lines:
        owner, _, rest = line.partition(":")
        if owner.strip() == str(uid):
            try:
                return int(rest.split()[1].split("/")[0])
            except (IndexError, ValueError):
                return 0
    return 0


def files_of(uid: int, folders) -> list[str]:
    """Entries of ``folders`` that ``uid`` owns (each stands for everything below it)."""
    return [path for folder in folders for path, info in _entries(folder) if info.st_uid == uid]


def _remove(path: str) -> bool:
    """Remove ``path`` and everything below it, as root (whatever its modes), never following
    a link (``shutil.rmtree`` walks by descriptors)."""
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError:
        pass
    return not os.path.lexists(path)


def remove_files(uid: int, folders) -> list[str]:
    """Remove ``uid``'s entries in ``folders``; return those that could not be removed."""
    return [path for path in files_of(uid, folders) if not _remove(path)]


class Ledger:
    """The sweeps of every sandbox one submission used, for its result's record."""

    SHOWN = 20

    def __init__(self) -> None:
        self.sweeps: list[Sweep] = []

    def add(self, swept: Sweep | None) -> None:
        if swept is not None:
            self.sweeps.append(swept)

    def record(self) -> dict:
        """``{"checked": sandboxes swept, "found": [...], "kept": [...]}`` (at most
        ``SHOWN`` entries each), what ``SubmissionResult.sandbox["leftovers"]`` holds."""
        found = [item for s in self.sweeps for item in s.found]
        kept = [item for s in self.sweeps for item in s.kept]
        return {
            "checked": len(self.sweeps),
            "found": found[: self.SHOWN],
            "kept": kept[: self.SHOWN],
        }
