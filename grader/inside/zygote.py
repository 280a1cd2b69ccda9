"""The fork server: imports torch once and forks a fresh worker per exercise and restart.

Started by :mod:`grader.sandbox.forkserver` in a submission's sandbox (bubblewrap, or a
plain process of the worker's uid) as ``python -I -c <boot>``, like a worker, and ended with
the submission. It imports the heavy modules every exercise needs (numpy, torch,
torchvision, the probes), but never the submission's: the submission's folder is put on
``sys.path`` only in the forked child. It then waits on a private socket that only the
trusted side holds:

- ``spawn`` with three descriptors (requests, output, replies): fork a child that closes
  the socket, takes the descriptors as its stdin, stdout/stderr and reply channel, and runs
  :func:`grader.inside.worker.serve`, exactly the loop of a worker started on its own;
- ``reap``: the exit status of a child that ended;
- ``reset``: reap every child that ended and empty the writable folders (/tmp, home,
  /dev/shm), after the trusted side has killed every process but this one.

It marks itself non-dumpable first, so that student code, which runs as the same uid in its
children, can neither trace it nor open its memory or its descriptors under /proc. What
student code can still do to it (signal it) only ever stops it: the trusted side then
starts the submission's sandbox afresh.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import shutil
import signal
import socket
import sys
import time

from grader.inside import contract

PR_SET_DUMPABLE = 4
PRELOAD = (
    "numpy",
    "grader.inside.channel",
    "grader.inside.worker",
    "matplotlib",
    "matplotlib.pyplot",
)
"""Imported once here for every submission, before any fork (matplotlib for the notebooks
that plot, with its font list built once); never a module of the submission."""
TORCH = ("torch", "torch.nn", "torch.utils.data")
VISION = (*TORCH, "PIL.Image", "torchvision", "torchvision.transforms", "torchvision.datasets")
PRELOAD_FOR = {
    "ex1": ("grader.inside.probes.ex1",),
    "ex2": (*TORCH, "grader.inside.probes.ex2"),
    "ex3": (*VISION, "grader.inside.probes.ex3"),
    "ex4": (*TORCH, "grader.inside.probes.ex4"),
    "ex5": (*VISION, "grader.inside.probes.ex5"),
}
"""What each exercise's workers need beyond ``PRELOAD``: a submission graded on ex1 alone
(NumPy only) does not pay for torch's import (seconds of CPU)."""
MESSAGE_BYTES = 4096


def _dumpable(value: int) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, value, 0, 0, 0)


def preload(exercises: list[str]) -> None:
    """Import ``PRELOAD`` and what ``exercises`` need (all of them where none is named); a
    module that fails to import is left to the child (where it fails as it would in a worker
    of its own)."""
    names = dict.fromkeys(PRELOAD)
    for key in exercises or PRELOAD_FOR:
        names.update(dict.fromkeys(PRELOAD_FOR.get(key, ())))
    for name in names:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    if "matplotlib.pyplot" in sys.modules:
        with contextlib.suppress(Exception):
            sys.modules["matplotlib.pyplot"].switch_backend("Agg")


def _child(control: socket.socket, fds: list[int], environment: dict) -> None:
    """In the forked child: become a worker on the three descriptors, with the environment
    the fork server was started with (not what its imports added); never returns."""
    code = 0
    try:
        control.close()
        os.environ.clear()
        os.environ.update(environment)
        os.setsid()
        _dumpable(1)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        requests, output, replies = fds
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.dup2(requests, 0)
        for fd in {requests, output}:
            if fd > 2:
                os.close(fd)
        if "numpy" in sys.modules:  # a fresh process would seed it from the OS: so does this one
            sys.modules["numpy"].random.seed()
        from grader.inside import worker

        worker.serve(*worker.open_channels(0, replies))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child must end here, whatever happened
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _status(pid: int, wait_s: float) -> int | None:
    """The exit status of child ``pid`` (negative: killed by that signal), waiting up to
    ``wait_s``; None if it has not ended."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


def _reap_all() -> None:
    while True:
        try:
            done, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not done:
            return


def _mounts_below(folder: str) -> set[str]:
    """The mount points inside ``folder``: the read-only Python environment bound into the
    sandbox's /tmp where it lives under /tmp (a checkout cloned there)."""
    try:
        with open("/proc/self/mountinfo") as handle:
            points = [line.split()[4] for line in handle]
    except (OSError, IndexError):
        return set()
    return {point for point in points if point.startswith(folder.rstrip("/") + "/")}


def _empty(folder: str, keep: set[str] | None = None) -> list[str]:
    """Remove everything in ``folder`` (keeping the folder, and the mount points in it with
    the folders on the way to them); return what could not be removed."""
    keep = _mounts_below(folder) if keep is None else keep
    left = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return left
    for entry in entries:
        if entry.path in keep:
            continue
        if any(point.startswith(entry.path + "/") for point in keep):
            left += _empty(entry.path, keep)
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                for root, dirs, _ in os.walk(entry.path):
                    for name in dirs:  # folders the code made read-only can be emptied again
                        with contextlib.suppress(OSError):
                            os.chmod(os.path.join(root, name), 0o700, follow_symlinks=False)
                os.chmod(entry.path, 0o700)
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            left.append(entry.path)
    return left


def writable_folders() -> list[str]:
    folders = ["/tmp", os.environ.get("HOME", ""), os.environ.get("TMPDIR", ""), "/dev/shm"]
    seen = []
    for folder in folders:
        if folder and folder not in seen and os.path.isdir(folder):
            seen.append(folder)
    return seen


def _owned_folders(sandboxed: bool, private: list[str]) -> list[str]:
    """The writable folders that are the sandbox's own: under bubblewrap all of them, else
    home, TMPDIR and the shared folders its mount namespace covered (``private``); the
    machine's own shared folders are the trusted side's to empty."""
    if sandboxed:
        return writable_folders()
    own = [os.environ.get("HOME", ""), os.environ.get("TMPDIR", "")]
    found = [f for f in writable_folders() if f in own]
    return found + [f for f in private if f and f not in found and os.path.isdir(f)]


def _empty_all(sandboxed: bool, private: list[str]) -> list[str]:
    return [path for folder in _owned_folders(sandboxed, private) for path in _empty(folder)]


def _reply(control: socket.socket, message: dict) -> None:
    control.send(json.dumps(message).encode())


def main() -> None:
    _dumpable(0)
    control = socket.socket(fileno=int(os.environ.pop(contract.CONTROL_FD_ENV)))
    control.set_inheritable(False)
    sandboxed = os.environ.pop(contract.FORKSERVER_SANDBOXED_ENV, "") == "1"
    private = os.environ.pop(contract.PRIVATE_FOLDERS_ENV, "").split(":")
    exercises = [k for k in os.environ.pop(contract.PRELOAD_ENV, "").split(",") if k]
    environment = dict(os.environ)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    preload(exercises)
    # what the imports wrote (matplotlib's font list) is not the worker's
    _empty_all(sandboxed, private)
    sys.stdout.flush()
    sys.stderr.flush()
    _reply(control, {contract.READY: True, contract.READY_PID: os.getpid()})
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, MESSAGE_BYTES, 3)
        except OSError:
            return
        if not data:
            return  # the trusted side closed its end
        try:
            request = json.loads(data)
        except ValueError:
            request = {}
        op = request.get(contract.FORK_OP)
        if op == contract.FORK_SPAWN and len(fds) == 3:
            pid = os.fork()
            if pid == 0:
                _child(control, fds, environment)
            for fd in fds:
                os.close(fd)
            _reply(control, {contract.READY_PID: pid})
            continue
        for fd in fds:
            os.close(fd)
        if op == contract.FORK_REAP:
            pid = request.get(contract.READY_PID)
            status = _status(pid, 1.0) if isinstance(pid, int) and pid > 0 else None
            _reply(control, {contract.FORK_STATUS: status})
        elif op == contract.FORK_RESET:
            _reap_all()
            left = _empty_all(sandboxed, private)
            _reply(control, {contract.FORK_LEFT: left[:20]})
        else:
            _reply(control, {contract.FORK_ERROR: f"unknown request {op!r}"})


if __name__ == "__main__":
    main()
