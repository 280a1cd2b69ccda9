"""Which isolation a run gets, what it protects, and the record of what held.

``--isolation`` takes:

- ``auto`` (the default): bubblewrap, and a refusal where it cannot start. Reduced
  isolation is never chosen silently.
- ``bwrap``: the same, said explicitly.
- ``process``: reduced isolation, chosen explicitly: student code runs as a plain process,
  as a uid of its own (so the grader must be root), with rlimits, a control group where
  one can be made, and a private network where the kernel allows it. The kit's own
  folders (hidden suites, solutions, the test split, the output) are made readable by
  their owner only (:func:`protect`), since the worker shares the machine's file system.
- ``strongest``: bubblewrap where it starts, else ``process``: for platforms whose
  containers may not allow namespaces (a default Docker container, as on Gradescope).

:func:`record` is what every result carries as ``sandbox``: the isolation and each limit
as it was enforced on this machine.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from grader.errors import GraderError
from grader.sandbox import bwrap, cgroups, mounts, seccomp
from grader.sandbox.limits import Limits

CHOICES = ("auto", "bwrap", "process", "strongest")


def bwrap_works() -> bool:
    """Can bubblewrap start its sandbox here (as this user)?"""
    return bwrap.launch_mode()[0] is not None


def check_choice(requested: str) -> None:
    """Is ``requested`` one of the ``--isolation`` words (checked where it cannot be chosen
    yet, on the side that hands a batch to a cluster)?"""
    if requested not in CHOICES:
        raise GraderError(f"unknown isolation {requested!r}: use {', '.join(CHOICES)}")


def choose(requested: str, *, required: bool = False) -> str:
    """The isolation for ``--isolation requested``: ``"bwrap"`` or ``"process"``."""
    check_choice(requested)
    try:
        seccomp.program()
    except seccomp.Unavailable as exc:
        raise GraderError(
            f"student code runs under a seccomp filter, and {exc}: install libseccomp "
            "(the Debian package libseccomp2)"
        ) from None
    launch, why = bwrap.launch_mode()
    if launch is not None and requested != "process":
        return "bwrap"
    if requested in ("auto", "bwrap") or required:
        hint = (
            "install the Debian package bubblewrap"
            if "not installed" in why
            else "allow user namespaces (or grade outside a locked-down container)"
        )
        raise GraderError(
            f"student code cannot be sandboxed: {why}; {hint}, or choose reduced isolation "
            "explicitly with --isolation process (or strongest)"
            + (" (refused: --require-isolation)" if required else "")
        )
    if os.geteuid() != 0:
        raise GraderError(
            "reduced isolation (--isolation process) runs student code as a user of its own, "
            "which only root can do; run the grader as root, or install bubblewrap"
        )
    hidden = unreadable_python()
    if hidden:
        raise GraderError(
            f"reduced isolation runs student code as a user of its own, who cannot read the "
            f"Python at {hidden}; use a Python that other users can read (the system's, or "
            "one under /usr/local or /opt) for the grader's virtual environment"
        )
    return "process"


def unreadable_python() -> Path | None:
    """The first folder of the running Python that a worker's own uid could not read."""
    from grader.sandbox.identity import UID_BASE
    from grader.sandbox.workdir import readable_by

    for root in [Path(sys.executable), *bwrap.python_roots()]:
        if not readable_by(root, UID_BASE, UID_BASE):
            return root
    return None


def _restrict(path: Path, changed: list[str]) -> None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or not info.st_mode & 0o077:
        return
    os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o077)
    changed.append(str(path))


def protect(kit_root: Path, secrets: list[Path], extra: list[Path], stderr=None) -> list[str]:
    """Make the kit (but its Python environment), ``secrets`` and ``extra`` owner-only.

    Without bubblewrap the worker sees the machine's files; its own uid then reads only
    what others may read. Every entry of ``kit_root`` except the folder holding the
    running Python loses its group and other permissions (``kit_root`` itself keeps
    ``o+x`` so that Python stays reachable), as do ``secrets`` (the hidden suites and the
    solutions, wherever they are installed) and every folder in ``extra`` (the data set,
    the output folder). Returns the paths changed, and says so on ``stderr``.
    """
    changed: list[str] = []
    python = Path(sys.prefix).resolve()
    kit_root = kit_root.resolve()
    inside_python = kit_root == python or python in kit_root.parents
    try:
        for entry in [] if inside_python else sorted(kit_root.iterdir()):
            if entry.resolve() == python or entry.resolve() in python.parents:
                continue
            _restrict(entry, changed)
        for folder in secrets:
            if folder.exists():
                _restrict(folder.resolve(), changed)
        for folder in extra:
            if folder.exists() and not (python == folder or folder.resolve() in python.parents):
                _restrict(folder.resolve(), changed)
        info = kit_root.stat()
        if info.st_mode & 0o044 and not inside_python:
            os.chmod(kit_root, stat.S_IMODE(info.st_mode) & ~0o066)
            changed.append(f"{kit_root} (listing)")
    except OSError as exc:
        raise GraderError(
            f"reduced isolation needs the kit's folders hidden from the worker, and {exc}"
        ) from None
    if changed and stderr is not None:
        print(
            "note: made readable by their owner only, so that student code (running as "
            "another user, without bubblewrap) cannot read them: " + ", ".join(changed),
            file=stderr,
        )
    return changed


def record(isolation: str, limits: Limits, device: str) -> dict:
    """What held for a worker on this machine (``SubmissionResult.sandbox``)."""
    from grader.sandbox.launch import private_network

    support = cgroups.detect()
    root = os.geteuid() == 0
    info = {
        "isolation": isolation,
        "worker_uid": "own" if root else "grader's",
        "capabilities": "none",
        "seccomp": f"{len(seccomp.DENIED)} system calls refused",
        "network": "none" if isolation == "bwrap" or private_network() else "host",
        "cgroup": support.version or "none",
        "limits": {
            "memory_bytes": limits.memory_bytes if "memory" in support.controllers else None,
            "tasks": limits.tasks if "pids" in support.controllers or root else None,
            "processes": limits.processes,
            "cpus": limits.cpus,
            "address_space_bytes": limits.address_space_bytes if device != "cuda" else None,
            "cpu_s": limits.cpu_s,
            "file_size_bytes": limits.file_size_bytes,
            "exercise_budget_s": limits.exercise_budget_s,
        },
    }
    if isolation != "bwrap":
        info["shared_folders"] = "private" if mounts.possible() else "the machine's, swept after"
    if isolation == "bwrap":
        info["bwrap"] = bwrap.launch_mode()[0]
        info["limits"].update(
            tmp_bytes=limits.tmp_bytes, home_bytes=limits.home_bytes, shm_bytes=limits.shm_bytes
        )
    if support.reason:
        info["cgroup_reason"] = support.reason
    return info
