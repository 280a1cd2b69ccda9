"""Processes of a worker: resource limits, and finding and killing every process below it.

Used by :mod:`grader.sandbox`; the fallback's keeper (``KEEPER``) runs this module's
``kill_tree`` between the grader and an unsandboxed worker.
"""

from __future__ import annotations

import collections
import os
import resource
import signal
import subprocess
import time
from dataclasses import dataclass

# The fallback's keeper: parent of the worker, adopts its orphans; when the worker ends it
# kills whatever the worker left behind and ends the same way (exit status or signal).
KEEPER = """
import ctypes, os, signal, subprocess, sys
libc = ctypes.CDLL(None)
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans of the worker come here
libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the grader
sys.path.insert(0, {path!r})
from grader.processes import kill_tree
worker = subprocess.Popen(sys.argv[1:], close_fds=False).pid
os.close(int(os.environ["GRADER_RESPONSE_FD"]))
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
while True:
    pid, status = os.wait()
    if pid == worker:
        break
kill_tree(os.getpid(), root_too=False)
code = os.waitstatus_to_exitcode(status)
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
os._exit(code)
"""


GIB = 1024**3


@dataclass
class Limits:
    """Resource limits of every worker.

    ``address_space_bytes`` (RLIMIT_AS, per process) is 12 GiB on CPU: twice the 6 GiB peak
    measured for the reference's CIFAR-10 gate (importing torch alone maps 3.3 GiB). It is not
    set for ``cuda``, whose driver reserves far more address space than memory.
    ``processes``: live processes of one worker at once (threads not counted, the keeper or
    bwrap's own two included), checked twice a second while a probe runs; RLIMIT_NPROC
    backs it up where it holds (not for uid 0, which the kernel exempts).
    """

    cpu_s: int = 3600
    file_size_bytes: int = 512 * 1024 * 1024
    open_files: int = 1024
    address_space_bytes: int | None = 12 * GIB
    processes: int = 64


def rlimits(limits: Limits, device: str) -> dict[int, int]:
    """The rlimits for one worker (computed before the fork: preexec_fn must stay trivial)."""
    values = {
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_CPU: limits.cpu_s,
        resource.RLIMIT_FSIZE: limits.file_size_bytes,
        resource.RLIMIT_NOFILE: limits.open_files,
    }
    if limits.address_space_bytes and device != "cuda":
        values[resource.RLIMIT_AS] = limits.address_space_bytes
    if os.getuid() != 0:
        # RLIMIT_NPROC counts every task (thread) of the user, the grader's own included.
        values[resource.RLIMIT_NPROC] = _user_tasks() + limits.processes * 64
    return values


def apply_limits(values: dict[int, int]) -> None:
    for kind, value in values.items():
        resource.setrlimit(kind, (value, value))


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) for every process, from /proc."""
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    fields = handle.read().rpartition(b")")[2].split()
                table[int(entry.name)] = (int(fields[1]), fields[0].decode())
            except (OSError, IndexError, ValueError):
                continue
    return table


def descendants(root: int, table: dict[int, tuple[int, str]] | None = None) -> list[int]:
    """Every live (not zombie) process below ``root``."""
    table = _proc_table() if table is None else table
    children = collections.defaultdict(list)
    for pid, (ppid, state) in table.items():
        if state not in "ZX":
            children[ppid].append(pid)
    found, todo = [], list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _user_tasks() -> int:
    uid, count = str(os.getuid()), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/status") as handle:
                    status = dict(line.split(":", 1) for line in handle if ":" in line)
                if status["Uid"].split()[0] == uid:
                    count += int(status["Threads"])
            except (OSError, KeyError, ValueError):
                continue
    return count


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_tree(root: int, *, root_too: bool = True) -> None:
    """Freeze every process below ``root`` (so none can fork), then kill them all and root.

    Orphans stay below ``root`` because root (bwrap's init, or the keeper) adopts them.
    """
    for _ in range(200):
        table = _proc_table()
        running = [p for p in descendants(root, table) if table[p][1] not in "Tt"]
        if not running:
            break
        for pid in running:
            _signal(pid, signal.SIGSTOP)
        time.sleep(0.005)
    for pid in descendants(root):
        _signal(pid, signal.SIGKILL)
    if root_too:
        _signal(root, signal.SIGKILL)


def kill_session(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.kill()
    except ProcessLookupError:
        pass
