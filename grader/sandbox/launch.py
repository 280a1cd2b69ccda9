"""How a worker process is started: its command line, environment and pre-exec steps.

Under bubblewrap (:mod:`grader.sandbox.bwrap` assembles its arguments) or, where chosen
explicitly, as a plain process below a root-owned keeper; either way joined to its control
group, with its rlimits, pinned to its cores and at its priority before the boot line runs
:mod:`grader.inside.worker`.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grader.inside.contract import (
    DEVICE_ENV,
    FORKSERVER_SANDBOXED_ENV,
    PRELOAD_ENV,
    PRIVATE_FOLDERS_ENV,
    SUBMISSION_ENV,
    TRAIN_DATA_ENV,
    WORKER_GID_ENV,
    WORKER_UID_ENV,
)
from grader.sandbox import bwrap, cgroups, identity, keeper, leftovers, mounts, seccomp
from grader.sandbox.limits import Limits
from grader.sandbox.processes import apply_limits, drop_to, rlimits
from grader.sandbox.workdir import PACKAGE_DIR, WorkerDir

BOOT = "import sys; sys.path.insert(0, {path!r}); from grader.inside.{entry} import main; main()"
CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000


@dataclass
class WorkerSpec:
    submission: Path
    """The staged submission folder (copied into the worker's private folder)."""
    train_images: Path | None = None
    train_labels: object = None
    """For the gate: the training images file and the labels the trusted side chose."""
    device: str = "cpu"
    isolation: str = "bwrap"
    limits: Limits = field(default_factory=Limits)
    env: dict = field(default_factory=dict)
    cores: list[int] | None = None
    """The cores the worker is pinned to, and limited to the CPU time of (None: all)."""
    background: bool = False
    """At the lowest scheduling priority (nice 19)."""
    exercises: tuple[str, ...] = ()
    """For a fork server: the exercises its workers will grade (what it imports first)."""


@functools.cache
def private_network() -> bool:
    """Can a plain worker get a network namespace of its own (root with CAP_SYS_ADMIN)?"""
    if os.geteuid() != 0:
        return False
    pid = os.fork()
    if pid == 0:
        ok = ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET | CLONE_NEWIPC) == 0
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _unshare_network() -> None:
    if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET | CLONE_NEWIPC) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")


def worker_env(spec: WorkerSpec, workdir: WorkerDir, *, sandboxed: bool) -> dict[str, str]:
    """The worker's whole environment: short, and nothing of the grader's."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": bwrap.SANDBOX_HOME if sandboxed else str(workdir.home),
        "LANG": "C.UTF-8",
        "USER": "student",
        "LOGNAME": "student",
        "MPLBACKEND": "Agg",
        SUBMISSION_ENV: bwrap.SANDBOX_SUBMISSION if sandboxed else str(workdir.submission),
        DEVICE_ENV: spec.device,
        "OMP_NUM_THREADS": str(len(spec.cores))
        if spec.cores
        else os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1)),
    }
    if not sandboxed:
        env["TMPDIR"] = str(workdir.tmp)
    if sandboxed:
        env[FORKSERVER_SANDBOXED_ENV] = "1"
    if workdir.train is not None:
        env[TRAIN_DATA_ENV] = bwrap.SANDBOX_TRAIN_DATA if sandboxed else str(workdir.train)
    if spec.device != "cuda":
        env["CUDA_VISIBLE_DEVICES"] = ""
    if spec.exercises:
        env[PRELOAD_ENV] = ",".join(spec.exercises)
    env.update(spec.env)
    return env


@dataclass
class Launch:
    """How to start one sandbox's root process (:func:`command`)."""

    cmd: list[str]
    preexec: object
    """What the child runs between fork and exec."""
    env: dict[str, str]
    cwd: str
    pass_fds: tuple[int, ...] = ()
    """Descriptors the child needs beyond its channel (bwrap's seccomp filter); the caller
    closes them once the child has started."""


def command(
    spec: WorkerSpec,
    ident: identity.Identity,
    workdir: WorkerDir,
    group=None,
    entry: str = "worker",
) -> Launch:
    """The worker's command line, the function its child runs before ``exec``, its
    environment and its folder: under bubblewrap, or as a plain process below a keeper.
    ``entry`` is the module of ``grader.inside`` it runs: ``worker``, or ``zygote`` (workers
    forked from it).
    Either way the seccomp filter (:mod:`grader.sandbox.seccomp`) holds before it runs."""
    limits = rlimits(spec.limits, spec.device, own_uid=ident.own)
    joins = group.procs_files() if group else []
    cores = spec.cores
    niceness = 19 if spec.background else 0
    sandboxed = spec.isolation == "bwrap"
    env = worker_env(spec, workdir, sandboxed=sandboxed)
    boot = [sys.executable, "-I", "-c"]
    if sandboxed:
        launch, why = bwrap.launch_mode()
        if launch is None:
            raise OSError(why)
        filter_fd = seccomp.descriptor()
        cmd = bwrap.command(
            workdir=workdir,
            limits=spec.limits,
            device=spec.device,
            env=env,
            launch=launch,
            uid=ident.uid,
            gid=ident.gid,
            seccomp_fd=filter_fd,
        )
        cmd += ["--", *boot, BOOT.format(path=bwrap.SANDBOX_GRADER, entry=entry)]
        switch = launch == "host" and ident.own
        last = functools.partial(drop_to, ident.uid, ident.gid) if switch else None
        preexec = _preexec(joins, limits, cores, niceness, last)
        path = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        return Launch(cmd, preexec, path, "/", (filter_fd,))
    cmd = [*boot, keeper.BOOT.format(path=str(PACKAGE_DIR.parent))]
    cmd += [*boot, BOOT.format(path=str(workdir.lib), entry=entry)]
    if ident.own:
        env[WORKER_UID_ENV], env[WORKER_GID_ENV] = str(ident.uid), str(ident.gid)
    steps = [_unshare_network] if private_network() else []
    if mounts.possible():
        folders = leftovers.world_writable_folders()
        steps.append(mounts.Covering(folders, _reachable(workdir), spec.limits.tmp_bytes).apply)
        env[PRIVATE_FOLDERS_ENV] = ":".join(folders)
    steps.append(seccomp.installer())  # last: it refuses unshare and mount
    preexec = _preexec(joins, limits, cores, niceness, *steps)
    return Launch(cmd, preexec, env, str(workdir.tmp))


def _reachable(workdir: WorkerDir) -> list[Path]:
    """What a worker without bubblewrap must still reach where it lies below a folder that
    its mount namespace covers: its own folder, the grader's package (which the sandbox's
    keeper imports), the Python environment, the training file."""
    keep = [workdir.root, PACKAGE_DIR, *bwrap.python_roots(), Path(sys.executable)]
    if workdir.train is not None:
        keep.append((workdir.train / "images.npy").resolve())
    return keep


def _preexec(joins, limits, cores, niceness, *last):
    """What the worker's child runs before ``exec``: join its control group, set its rlimits,
    pin it to its cores, lower its priority, then each of ``last`` (drop to the worker's
    uid; or leave the network, then install the seccomp filter)."""

    def preexec():
        cgroups.join(joins)
        apply_limits(limits)
        if cores:
            os.sched_setaffinity(0, cores)
        if niceness:
            os.nice(niceness)
        for step in last:
            if step is not None:
                step()

    return preexec
