"""Which cores a gate trains on: machine-wide slots, so that concurrent gates never share one.

An exercise with the accuracy gate holds as many cores as the gate's recipe was calibrated
with (its torch threads plus its loader workers). Slots are lock files in a folder shared by
every grader on the machine (root's, or this user's), so two TAs' batches and the children of
one ``--jobs`` run all take turns. A gate that waits for its cores stops later ones from
jumping ahead (a turnstile), so it is never starved. The gate's worker is pinned to the cores
it holds and, where a control group is made, limited to that many cores' worth of CPU time.
Every other worker holds no slot and runs at the lowest scheduling priority, on any core: it
keeps idle cores busy and takes next to nothing from a gate that trains, whose speed is the
one the time limit was calibrated at.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

POLL_S = 0.05


def available() -> list[int]:
    """The cores this process may run on (its affinity), in order."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def quota() -> float | None:
    """The CPU time this process's control group may use, in cores (a container's
    ``--cpus``), or None where it is not limited."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controllers == "":
                text = Path(f"/sys/fs/cgroup{path}/cpu.max").read_text().split()
                if text[0] != "max":
                    return int(text[0]) / int(text[1])
            elif "cpu" in controllers.split(","):
                base = Path("/sys/fs/cgroup") / controllers / path.lstrip("/")
                if not base.exists():
                    base = Path("/sys/fs/cgroup/cpu") / path.lstrip("/")
                limit = int((base / "cpu.cfs_quota_us").read_text())
                if limit > 0:
                    return limit / int((base / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError, IndexError):
        pass
    return None


def _folder() -> Path:
    if os.geteuid() == 0:
        from grader.sandbox.identity import _lock_dir

        return _lock_dir()
    folder = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    folder = folder / f"grader-cpus-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


class Slots:
    """The machine's cores as lock files (see the module's docstring)."""

    def __init__(self, folder: Path | None = None, cores: list[int] | None = None):
        self.folder = folder or _folder()
        self.cores = cores or available()

    def _open(self, name: str) -> int:
        return os.open(self.folder / name, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)

    @contextlib.contextmanager
    def hold(self, count: int) -> Iterator[list[int]]:
        """Hold ``count`` cores (all of them, if there are fewer; none for 0); yield them."""
        if count <= 0:
            yield []
            return
        count = min(count, len(self.cores))
        held: dict[int, int] = {}
        turnstile = self._open("turnstile.lock")
        try:
            fcntl.flock(turnstile, fcntl.LOCK_EX)
            try:
                while len(held) < count:
                    for core in self.cores:
                        if core in held:
                            continue
                        fd = self._open(f"core-{core}.lock")
                        try:
                            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        except BlockingIOError:
                            os.close(fd)
                            continue
                        held[core] = fd
                        if len(held) == count:
                            break
                    else:
                        time.sleep(POLL_S)
            finally:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
            yield sorted(held)
        finally:
            os.close(turnstile)
            for fd in held.values():
                os.close(fd)
