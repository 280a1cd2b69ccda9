"""Private copies of the machine's world-writable folders, for a worker without bubblewrap.

Reduced isolation (``--isolation process``) shares the machine's file system: every folder
any user may write to (/tmp, /dev/shm, /var/tmp, /run/lock and any other, wherever it is)
would be a meeting place for two submissions graded at the same time. Where root may make a
mount namespace, the sandbox's root process (the keeper) gets one in which each such folder
is a fresh, sized tmpfs, with what the worker must still reach below one (its own folder,
the Python environment, the gate's training file) bound back in place. Nothing written there
reaches the machine or another sandbox, and it is gone with the sandbox. Where no mount
namespace can be made (a container without CAP_SYS_ADMIN, as on Gradescope, which grades
one submission per container), the sweep of :mod:`grader.sandbox.leftovers` is what remains.
"""

from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path

CLONE_NEWNS = 0x00020000
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what} failed")


@functools.cache
def possible() -> bool:
    """Can a sandbox without bubblewrap get a mount namespace of its own here (root with
    CAP_SYS_ADMIN, and a kernel that allows it)?"""
    if os.geteuid() != 0:
        return False
    pid = os.fork()
    if pid == 0:
        libc = _libc()
        ok = libc.unshare(CLONE_NEWNS) == 0
        ok = ok and libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) == 0
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _below(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


class Covering:
    """The folders to cover and what to bind back, worked out before the sandbox's fork: the
    child only makes the system calls (:meth:`apply`)."""

    def __init__(self, folders, keep: list[Path], size_bytes: int):
        self.folders = sorted({str(f) for f in folders}, key=lambda f: (f.count("/"), f))
        self.size = size_bytes
        self.keep: list[tuple[str, bool]] = []
        """(path, is a folder) of what lies below a covered folder."""
        for path in keep:
            path = Path(path).resolve()
            if path.exists() and _below(str(path), self.folders):
                self.keep.append((str(path), path.is_dir()))
        self.libc = _libc()

    def apply(self) -> None:
        """In the sandbox's child, as root, before anything else runs: a mount namespace of
        its own, a tmpfs on each folder, then what must stay reachable bound back (from
        descriptors opened in the new namespace before the folders were covered)."""
        libc = self.libc
        _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "making / private")
        held = [(os.open(p, os.O_PATH | os.O_CLOEXEC), p, d) for p, d in self.keep]
        options = f"mode=1777,size={self.size}".encode()
        for folder in self.folders:
            if os.path.isdir(folder):  # a folder below one already covered is gone with it
                _check(
                    libc.mount(b"tmpfs", folder.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options),
                    f"a tmpfs on {folder}",
                )
        for fd, path, is_dir in held:
            if is_dir:
                os.makedirs(path, mode=0o755, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o444))
            source = f"/proc/self/fd/{fd}".encode()
            _check(
                libc.mount(source, path.encode(), None, MS_BIND | MS_REC, None), f"binding {path}"
            )
