"""Processes of a worker: rlimits, and finding and killing every process it started.

``kill_tree`` freezes then kills everything below a process (bwrap's init or the keeper
adopts orphans, so they stay below it); ``kill_user`` does the same for every process of a
worker's own uid, which catches anything that left the tree. The fallback's keeper
(:mod:`grader.sandbox.keeper`) runs this module's ``kill_tree`` between the grader and an
unsandboxed worker.
"""

from __future__ import annotations

import collections
import os
import resource
import signal
import subprocess
import time

from grader.sandbox.limits import Limits

PR_SET_PDEATHSIG = 1


def rlimits(limits: Limits, device: str, *, own_uid: bool) -> dict[int, int]:
    """The rlimits of one worker (computed before the fork: preexec_fn must stay trivial).

    RLIMIT_NPROC counts every task of a uid; it is set only where the worker runs as a uid of
    its own (``own_uid``), where it counts exactly the worker's tasks (uid 0 is exempt anyway).
    """
    values = {
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_CPU: limits.cpu_s,
        resource.RLIMIT_FSIZE: limits.file_size_bytes,
        resource.RLIMIT_NOFILE: limits.open_files,
    }
    if limits.address_space_bytes and device != "cuda":
        values[resource.RLIMIT_AS] = limits.address_space_bytes
    if own_uid:
        values[resource.RLIMIT_NPROC] = limits.tasks
    return values


def apply_limits(values: dict[int, int]) -> None:
    for kind, value in values.items():
        resource.setrlimit(kind, (value, value))


def drop_to(uid: int, gid: int) -> None:
    """In a child about to exec: become ``uid``/``gid`` for good, no supplementary groups,
    and die with the parent (set after the change, which clears it)."""
    import ctypes

    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


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


def state_of(pid: int) -> str | None:
    """A process's state letter (``R``, ``S``, ``T``, ``Z`` ...), None if there is none."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rpartition(b")")[2].split()[0].decode()
    except (OSError, IndexError):
        return None


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


def ns_pid_of(host_pid: int) -> int | None:
    """The pid a process has in its own (innermost) pid namespace."""
    try:
        with open(f"/proc/{host_pid}/status") as handle:
            for line in handle:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def host_pid_of(ns_pid: int, below: int) -> int | None:
    """The host pid of the process below ``below`` whose own namespace calls it ``ns_pid``."""
    for pid in descendants(below):
        if ns_pid_of(pid) == ns_pid:
            return pid
    return None


def ancestors(pid: int, up_to: int) -> set[int]:
    """``pid`` and its parents up to and including ``up_to``."""
    chain = {pid}
    while pid not in (up_to, 0, 1):
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                pid = int(handle.read().rpartition(b")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            break
        chain.add(pid)
    return chain


def task_count(pids: list[int]) -> int:
    """Processes and their threads among ``pids``."""
    count = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                count += int(handle.read().rpartition(b")")[2].split()[17])
        except (OSError, IndexError, ValueError):
            continue
    return count


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of ``pids``, with that of their children they waited for."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                fields = handle.read().rpartition(b")")[2].split()
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def processes_of(uid: int) -> list[int]:
    """Every live process whose real uid is ``uid``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as handle:
                status = dict(line.split(":", 1) for line in handle if ":" in line)
            if int(status["Uid"].split()[0]) == uid and status["State"].split()[0] not in "ZX":
                found.append(int(entry.name))
        except (OSError, KeyError, ValueError, IndexError):
            continue
    return found


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def freeze_and_kill(find) -> None:
    """Stop every process ``find()`` lists until none runs (so none can fork), then kill them."""
    for _ in range(200):
        table = _proc_table()
        running = [p for p in find() if p in table and table[p][1] not in "Tt"]
        if not running:
            break
        for pid in running:
            _signal(pid, signal.SIGSTOP)
        time.sleep(0.005)
    for pid in find():
        _signal(pid, signal.SIGKILL)


def kill_tree(root: int, *, root_too: bool = True) -> None:
    """Freeze every process below ``root`` (so none can fork), then kill them all and root.

    Orphans stay below ``root`` because root (bwrap's init, or the keeper) adopts them.
    """
    freeze_and_kill(lambda: descendants(root))
    if root_too:
        _signal(root, signal.SIGKILL)


def kill_user(uid: int) -> None:
    """Freeze and kill every process of ``uid`` (a worker's own uid: none of them may live on)."""
    if uid == 0 or uid == os.getuid():
        raise ValueError(f"refusing to kill every process of uid {uid}")
    freeze_and_kill(lambda: processes_of(uid))


def kill_session(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.kill()
    except ProcessLookupError:
        pass
