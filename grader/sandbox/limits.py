"""The resource limits of every worker, their defaults, and the record of what was in force.

Each limit is enforced by the strongest means the machine offers, and the result of every
submission records which (``SubmissionResult.sandbox``): a control group (v1 or v2) for
the total memory, tasks and CPU of a worker and everything it started; rlimits per process;
sized tmpfs mounts under bubblewrap; and a wall-clock budget per exercise on the trusted side.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MIB = 1024**2
GIB = 1024**3


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * GIB


def default_memory_bytes() -> int:
    """6 GiB (twice the 3.1 GiB the reference gate peaks at), at most 3/4 of this machine."""
    return min(6 * GIB, _physical_memory() * 3 // 4)


def default_tasks() -> int:
    """Processes and threads of one worker: torch starts a thread per core, loaders more."""
    return max(512, 16 * (os.cpu_count() or 1))


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker.

    ``memory_bytes``, ``tasks`` and ``cpus`` are totals over the worker and every process
    it started (its files in the sandbox's tmpfs included), enforced by a control group where
    the grader may create one (as root); ``tasks`` also by RLIMIT_NPROC where the worker runs
    as a user of its own. ``processes`` is checked by the grader twice a second as a last line
    where neither holds. ``address_space_bytes`` (RLIMIT_AS, per process) is not set for
    ``cuda``, whose driver maps far more address space than it uses. ``tmp_bytes``,
    ``home_bytes`` and ``shm_bytes`` size the sandbox's private tmpfs mounts.
    ``exercise_budget_s`` is the wall-clock time one exercise's calls may take together,
    restarts included (the gate's training adds its own limit on top).
    """

    cpu_s: int = 3600
    file_size_bytes: int = 512 * MIB
    open_files: int = 1024
    address_space_bytes: int | None = 12 * GIB
    processes: int = 64
    tasks: int = 0
    memory_bytes: int = 0
    cpus: float | None = None
    tmp_bytes: int = 1 * GIB
    home_bytes: int = 256 * MIB
    shm_bytes: int = 1 * GIB
    output_bytes: int = 64 * 1024
    exercise_budget_s: float = 300.0

    def __post_init__(self):
        if not self.tasks:
            object.__setattr__(self, "tasks", default_tasks())
        if not self.memory_bytes:
            object.__setattr__(self, "memory_bytes", default_memory_bytes())
