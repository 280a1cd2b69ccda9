"""End a grading child that must stop now, with everything its sandboxes hold.

A child (:mod:`grader.batch.child`) runs each worker in a sandbox of its own (a uid, a
control group, a private folder: :mod:`grader.sandbox.box`) and ends them itself when it ends
normally. A child killed past its deadline, or after Ctrl-C's grace, cannot: so the parent
first stops it (SIGSTOP: it starts nothing more, and the uids it holds stay locked, so that
no other child is handed one of them meanwhile), reads from ``/proc`` what its descendants
hold (their uids, control groups and private folders), kills them all, sweeps those uids
(every process, IPC object and file they left: :mod:`grader.sandbox.leftovers`; a uid that
keeps keys is retired), and only then kills the child and removes its groups and folders.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.sandbox import cgroups, identity, leftovers
from grader.sandbox.identity import SLOTS, UID_BASE
from grader.sandbox.processes import descendants, kill_tree

WORKER_FOLDER = re.compile(
    re.escape(os.path.join(tempfile.gettempdir(), "grader-worker-")) + r"[A-Za-z0-9_]+"
)
"""A worker's private folder (``WorkerDir``, made by ``mkdtemp`` with this prefix) as a
sandbox's command line or working folder names it."""
GROUP_PREFIX = "grader-"
"""The names of workers' and fork servers' control groups (``WorkerGroup``)."""
REMOVE_S = 5.0
"""How long a group's last tasks may take to leave before it is given up on."""


@dataclass
class Held:
    """What a child's sandboxes hold, read from its descendants."""

    pids: list[int] = field(default_factory=list)
    uids: set[int] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    """Names of control groups (the same name in every hierarchy that has one)."""
    folders: set[Path] = field(default_factory=set)


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def held_by(pid: int) -> Held:
    """The uids (a worker's own), control groups and private folders of ``pid``'s descendants.

    Uids and groups are the kernel's word on every descendant. Folders are read only from
    the sandboxes' root processes, ``pid``'s own children (bubblewrap, or the keeper), whose
    command lines the grader wrote: a worker's own command line is its code's to forge, and
    could name another worker's folder."""
    held = Held(pids=descendants(pid))
    for child in held.pids:
        status = _read(f"/proc/{child}/status")
        uid = re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE)
        if uid and UID_BASE <= int(uid.group(1)) < UID_BASE + SLOTS:
            held.uids.add(int(uid.group(1)))
        for line in _read(f"/proc/{child}/cgroup").splitlines():
            name = line.rpartition("/")[2]
            if name.startswith(GROUP_PREFIX) and name != cgroups.LEAF:
                held.groups.add(name)
        if not re.search(rf"^PPid:\s+{pid}$", status, re.MULTILINE):
            continue
        try:
            cwd = os.readlink(f"/proc/{child}/cwd")
        except OSError:
            cwd = ""
        text = _read(f"/proc/{child}/cmdline").replace("\0", " ") + " " + cwd
        held.folders |= {Path(found) for found in WORKER_FOLDER.findall(text)}
    return held


def end(process: subprocess.Popen) -> Held:
    """Stop ``process`` (a grading child), end every sandbox it holds, kill it; return what
    it held. A child that has already exited is only waited for."""
    if process.poll() is not None:
        return Held()
    try:
        os.kill(process.pid, signal.SIGSTOP)
    except ProcessLookupError:
        process.wait()
        return Held()
    held = held_by(process.pid)
    kill_tree(process.pid, root_too=False)
    for uid in held.uids:  # still locked by the stopped child: no other child has it yet
        if leftovers.sweep(uid, identity.shared_folders(deep=True)).kept:
            identity.retire(uid)
    process.kill()
    process.wait()
    for pid in held.pids:  # reaped here where this process adopts orphans, else by init
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    _remove_groups(held.groups)
    for folder in held.folders:
        _remove_folder(folder)
    return held


def _remove_groups(names: set[str]) -> None:
    roots = cgroups.detect().roots.values() if names else ()
    folders = {root / name for root in roots for name in names}
    deadline = time.monotonic() + REMOVE_S
    while folders and time.monotonic() < deadline:
        for folder in list(folders):
            for pid in _read(str(folder / "cgroup.procs")).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, PermissionError, ValueError):
                    pass
            try:
                folder.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                continue  # its last tasks are still leaving
            folders.discard(folder)
        if folders:
            time.sleep(0.02)


def _remove_folder(folder: Path) -> None:
    """Remove a worker's private folder, whose published parts are read-only."""
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            try:
                os.chmod(path, 0o700)
            except OSError:
                pass
    shutil.rmtree(folder, ignore_errors=True)
