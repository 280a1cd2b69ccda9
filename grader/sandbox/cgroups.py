"""A control group per worker: total memory, tasks and CPU, and a kill that misses nothing.

Both layouts are supported: cgroup v2 (one unified tree: ``memory.max``, ``pids.max``,
``cpu.max``, ``cgroup.kill``) and v1 (a tree per controller: ``memory``, ``pids``, ``cpu``,
``freezer``). The worker's group is created below the grader's own group in each tree and
the worker joins it before it runs any code (``join`` runs in the child between fork and
exec), so everything it starts is counted and killed with it. Where no group can be made
(not root, a read-only ``/sys/fs/cgroup`` as in a default Docker container), ``detect``
says why and the grader falls back to rlimits, recording that in the result.

On v2 the grader's group may be given only some of the controllers (a service or a runner's
group whose parent delegates ``memory`` alone, say). Groups are made all the same: freezing,
killing, listing and CPU accounting (``cpu.stat``) belong to every v2 group, whatever its
controllers; each limit whose controller is missing falls back to its rlimit, and ``reason``
says which. Where the grader shares its group with other processes (a container's shell, the
job that started it), enabling controllers for children needs the group to hold no process
("no internal processes", EBUSY): they are then moved into a leaf, ``grader-trusted``, below
the same group, under every limit they were under. The hierarchy's root is exempt and is
never emptied.
"""

from __future__ import annotations

import errno
import functools
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox.limits import Limits

V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "freezer")
V2_CONTROLLERS = ("memory", "pids", "cpu")
CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class Support:
    version: str | None
    """``"v1"``, ``"v2"`` or None (no groups: ``reason`` says why)."""
    roots: dict[str, Path]
    """Controller (v1) or ``"unified"`` (v2) -> the grader's own group folder, where workers'
    groups are made."""
    reason: str = ""
    """Why there are no groups, or (v2) which controllers are missing and why."""
    controllers: frozenset[str] = frozenset()
    """The controllers workers' groups have: v1 every one of ``V1_CONTROLLERS``; v2 those of
    ``V2_CONTROLLERS`` the grader's group enables for its children."""


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, file system type, super options) of every cgroup mount."""
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        fstype, _, options = (right.split() + ["", "", ""])[:3]
        if fstype in ("cgroup", "cgroup2"):
            found.append((left.split()[4], fstype, set(options.split(","))))
    return found


def _own_groups() -> dict[str, str]:
    """Controller (or ``""`` for v2) -> this process's group path, from /proc/self/cgroup."""
    groups = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            groups[controller] = path
    return groups


LEAF = "grader-trusted"


def _v2(mount: str, own: str, wanted: tuple[str, ...] = V2_CONTROLLERS) -> Support:
    base = Path(mount) / own.lstrip("/")
    if base.name == LEAF:  # moved there by an earlier grader (this one's shell was, say)
        base = base.parent
    available = set((base / "cgroup.controllers").read_text().split())
    notes = []
    absent = [c for c in wanted if c not in available]
    if absent:
        notes.append(f"the grader's group {base} is not given the {', '.join(absent)} controller")
    to_enable = [c for c in wanted if c in available]
    enabled = set((base / "cgroup.subtree_control").read_text().split())
    if not set(to_enable) <= enabled:
        try:
            _enable(base, [c for c in to_enable if c not in enabled])
        except OSError as exc:
            notes.append(f"cannot enable {', '.join(to_enable)} in {base}: {exc}")
    enabled = set((base / "cgroup.subtree_control").read_text().split())
    return Support("v2", {"unified": base}, "; ".join(notes), frozenset(enabled & set(wanted)))


def _enable(base: Path, controllers: list[str]) -> None:
    """Enable ``controllers`` for ``base``'s children. A group that holds processes cannot
    hand domain controllers down (the hierarchy's root can): where the kernel says so
    (EBUSY), every process in ``base`` is moved into its leaf ``grader-trusted``, which sits
    under every limit ``base`` is under, and the write is made again."""
    control = base / "cgroup.subtree_control"
    line = " ".join(f"+{c}" for c in controllers)
    try:
        control.write_text(line)
        return
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
    leaf = base / LEAF
    leaf.mkdir(exist_ok=True)
    for _ in range(20):  # processes may fork while they are moved
        pids = (base / "cgroup.procs").read_text().split()
        if not pids:
            break
        for pid in pids:
            try:
                (leaf / "cgroup.procs").write_text(pid)
            except ProcessLookupError:
                pass  # gone meanwhile
    control.write_text(line)


def _v1(mounts, own: dict[str, str]) -> Support:
    roots = {}
    for controller in V1_CONTROLLERS:
        mount = next((m for m, t, o in mounts if t == "cgroup" and controller in o), None)
        if mount is None:
            return Support(None, {}, f"no cgroup v1 hierarchy for {controller}")
        roots[controller] = Path(mount) / own.get(controller, "/").lstrip("/")
    return Support("v1", roots, controllers=frozenset(V1_CONTROLLERS))


@functools.cache
def detect() -> Support:
    """Can this process make worker groups, and in which layout?"""
    if os.geteuid() != 0:
        return Support(None, {}, "the grader is not root")
    try:
        mounts, own = _mounts(), _own_groups()
        unified = next((m for m, t, _ in mounts if t == "cgroup2"), None)
        v1_memory = any(t == "cgroup" and "memory" in o for _, t, o in mounts)
        if unified and not v1_memory:
            support = _v2(unified, own.get("", "/"))
        else:
            support = _v1(mounts, own)
        if support.version:
            probe = WorkerGroup(support, Limits(), "probe")
            probe.remove()
        return support
    except OSError as exc:
        return Support(None, {}, f"control groups are not writable here ({exc})")


class WorkerGroup:
    """One worker's group in every tree that applies; removed (after a kill) when done."""

    def __init__(self, support: Support, limits: Limits, tag: str = ""):
        self.support = support
        name = f"grader-{tag + '-' if tag else ''}{secrets.token_hex(4)}"
        self.dirs = {key: root / name for key, root in support.roots.items()}
        for folder in set(self.dirs.values()):  # co-mounted controllers share a folder
            folder.mkdir()
        try:
            self._limit(limits)
        except OSError:
            self.remove()
            raise

    def _write(self, key: str, name: str, value) -> None:
        (self.dirs[key] / name).write_text(str(value))

    def _limit(self, limits: Limits) -> None:
        cpu_quota = int(limits.cpus * CPU_PERIOD_US) if limits.cpus else None
        if self.support.version == "v2":
            controllers = self.support.controllers
            if "memory" in controllers:
                self._write("unified", "memory.max", limits.memory_bytes)
                if (self.dirs["unified"] / "memory.swap.max").exists():
                    self._write("unified", "memory.swap.max", 0)
            if "pids" in controllers:
                self._write("unified", "pids.max", limits.tasks)
            if cpu_quota and "cpu" in controllers:
                self._write("unified", "cpu.max", f"{cpu_quota} {CPU_PERIOD_US}")
            return
        self._write("memory", "memory.limit_in_bytes", limits.memory_bytes)
        if (self.dirs["memory"] / "memory.memsw.limit_in_bytes").exists():
            self._write("memory", "memory.memsw.limit_in_bytes", limits.memory_bytes)
        self._write("pids", "pids.max", limits.tasks)
        if cpu_quota:
            self._write("cpu", "cpu.cfs_period_us", CPU_PERIOD_US)
            self._write("cpu", "cpu.cfs_quota_us", cpu_quota)

    def procs_files(self) -> list[str]:
        """The files a child writes its pid into to join (read before the fork)."""
        return sorted({str(folder / "cgroup.procs") for folder in self.dirs.values()})

    def cpu_seconds(self) -> float | None:
        """CPU time (user and system) used by every process that was ever in the group."""
        try:
            if self.support.version == "v2":
                stat = (self.dirs["unified"] / "cpu.stat").read_text().split()
                return int(stat[stat.index("usage_usec") + 1]) / 1e6
            return int((self.dirs["cpuacct"] / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError, IndexError, KeyError):
            return None

    def pids(self) -> list[int]:
        key = "unified" if self.support.version == "v2" else "pids"
        try:
            text = (self.dirs[key] / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(line) for line in text.split()]

    def tasks(self) -> int:
        """Processes and threads in the group now."""
        try:
            if self.support.version == "v2" and "pids" not in self.support.controllers:
                return len((self.dirs["unified"] / "cgroup.threads").read_text().split())
            key = "unified" if self.support.version == "v2" else "pids"
            return int((self.dirs[key] / "pids.current").read_text())
        except (OSError, ValueError):
            return 0

    def memory_peak(self) -> int | None:
        """The most memory the group has held at once, in bytes (tmpfs files included)."""
        try:
            if self.support.version == "v2":
                return int((self.dirs["unified"] / "memory.peak").read_text())
            return int((self.dirs["memory"] / "memory.max_usage_in_bytes").read_text())
        except (OSError, ValueError, KeyError):
            return None

    def out_of_memory(self) -> bool:
        """Did the kernel kill a process of this group for going over its memory limit?"""
        try:
            if self.support.version == "v2":
                events = (self.dirs["unified"] / "memory.events").read_text()
            else:
                events = (self.dirs["memory"] / "memory.oom_control").read_text()
        except OSError:
            return False
        counts = dict(line.split() for line in events.splitlines() if len(line.split()) == 2)
        return int(counts.get("oom_kill", "0")) > 0

    def _freeze(self, frozen: bool) -> None:
        try:
            if self.support.version == "v2":
                self._write("unified", "cgroup.freeze", int(frozen))
            else:
                self._write("freezer", "freezer.state", "FROZEN" if frozen else "THAWED")
        except OSError:
            pass

    def kill(self) -> None:
        """Kill every process in the group, including ones that fork while it happens."""
        if self.support.version == "v2" and (self.dirs["unified"] / "cgroup.kill").exists():
            self._write("unified", "cgroup.kill", 1)
        else:
            self._freeze(True)
            for _ in range(100):
                pids = self.pids()
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                self._freeze(False)  # frozen tasks die only once thawed
                time.sleep(0.01)
                self._freeze(True)
            self._freeze(False)
        deadline = time.monotonic() + 5
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.01)

    def remove(self) -> None:
        for folder in set(self.dirs.values()):
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)  # the last tasks are still leaving


def join(procs_files: list[str]) -> None:
    """In the child between fork and exec: move this process into the worker's group."""
    move(procs_files, os.getpid())


def move(procs_files: list[str], pid: int) -> None:
    """Move process ``pid`` into a worker's group (a worker forked elsewhere, before it runs
    anything)."""
    for path in procs_files:
        with open(path, "w") as handle:
            handle.write(str(pid))
