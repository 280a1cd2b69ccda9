"""The trusted side's handle on one sandboxed worker: start it, call probes, kill it.

A :class:`WorkerClient` starts the worker (:mod:`grader.worker`) in its private folder
(:mod:`grader.sandbox.workdir`), as its own uid (:mod:`grader.sandbox.identity`), in its
own control group (:mod:`grader.sandbox.cgroups`), under bubblewrap
(:mod:`grader.sandbox.bwrap`) or, where chosen explicitly, as a plain process below a
root-owned keeper. Every write to and read from the worker has a deadline; every exercise
has a wall-clock budget; replies are untrusted data, cleaned of unsafe text here and
validated by the suites (:mod:`grader.checks`). When it closes, every process the worker
started is frozen and killed, whatever it did to escape (setsid, double forks, threads).
"""

from __future__ import annotations

import collections
import ctypes
import dataclasses
import functools
import os
import secrets
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader import channel
from grader.errors import ProbeError, ProbeFailure, ProbeTimeout, SandboxError, WorkerDied
from grader.sandbox import bwrap, cgroups, identity
from grader.sandbox.limits import Limits
from grader.sandbox.processes import (
    KEEPER,
    apply_limits,
    cpu_seconds,
    descendants,
    drop_to,
    kill_session,
    kill_tree,
    rlimits,
    task_count,
)
from grader.sandbox.workdir import PACKAGE_DIR, WorkerDir
from grader.text import clean, clean_data

BOOT = "import sys; sys.path.insert(0, {path!r}); from grader.worker import main; main()"
TEXT_LIMIT = 2000
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
        "GRADER_SUBMISSION": bwrap.SANDBOX_SUBMISSION if sandboxed else str(workdir.submission),
        "GRADER_DEVICE": spec.device,
        "OMP_NUM_THREADS": str(len(spec.cores))
        if spec.cores
        else os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1)),
    }
    if not sandboxed:
        env["TMPDIR"] = str(workdir.tmp)
    if workdir.train is not None:
        env["GRADER_TRAIN_DATA"] = bwrap.SANDBOX_TRAIN_DATA if sandboxed else str(workdir.train)
    if spec.device != "cuda":
        env["CUDA_VISIBLE_DEVICES"] = ""
    env.update(spec.env)
    return env


class _OutputTail(threading.Thread):
    """Drains the worker's stdout/stderr, keeping only the last ``limit`` bytes."""

    def __init__(self, stream, limit: int):
        super().__init__(daemon=True)
        self.stream, self.limit = stream, limit
        self.chunks: collections.deque[bytes] = collections.deque()
        self.size = 0

    def run(self) -> None:
        for chunk in iter(lambda: self.stream.read1(65536), b""):
            self.chunks.append(chunk)
            self.size += len(chunk)
            while self.size > self.limit and len(self.chunks) > 1:
                self.size -= len(self.chunks.popleft())

    def text(self) -> str:
        return clean(b"".join(self.chunks)[-self.limit :].decode("utf-8", "replace"))


class WorkerClient:
    """One sandboxed worker, restarted after it dies or times out, within a time budget."""

    def __init__(
        self,
        spec: WorkerSpec,
        *,
        start_timeout_s: float = 60.0,
        budget_s: float | None = None,
    ):
        self.spec = spec
        self.start_timeout_s = start_timeout_s
        self.budget_s = budget_s
        self._deadline: float | None = None
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self._responses = None
        self._buffer = b""
        self._output: _OutputTail | None = None
        self._identity: identity.Identity | None = None
        self._dir: WorkerDir | None = None
        self._group: cgroups.WorkerGroup | None = None

    # life cycle -------------------------------------------------------------
    def start(self) -> None:
        try:
            self._prepare()
            cmd, preexec, env, cwd = self._command()
        except OSError as exc:
            self.close()
            raise SandboxError(f"could not prepare the worker: {exc}") from exc
        read_fd, write_fd = os.pipe()
        os.set_inheritable(write_fd, True)
        env["GRADER_RESPONSE_FD"] = str(write_fd)
        if self.spec.isolation == "bwrap":
            at = cmd.index("--")
            cmd[at:at] = ["--setenv", "GRADER_RESPONSE_FD", str(write_fd)]
        try:
            self.process = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=preexec,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            os.close(read_fd)
            self.close()
            raise SandboxError(f"could not start the worker: {exc}") from exc
        finally:
            os.close(write_fd)
        self.starts += 1
        os.set_blocking(self.process.stdin.fileno(), False)
        self._responses = os.fdopen(read_fd, "rb", buffering=0)
        os.set_blocking(read_fd, False)
        self._buffer = b""
        self._output = _OutputTail(self.process.stdout, self.spec.limits.output_bytes)
        self._output.start()
        ready = self._read_message(self.start_timeout_s, what="start")
        if not ready.get("ready"):
            raise SandboxError(f"worker sent {ready!r} instead of its ready message")

    def _prepare(self) -> None:
        self._identity = identity.acquire()
        self._dir = WorkerDir(self._identity.uid, self._identity.gid)
        self._dir.add_submission(self.spec.submission)
        if self.spec.train_images is not None:
            self._dir.add_train_split(self.spec.train_images, self.spec.train_labels)
        support = cgroups.detect()
        if support.version:
            limits = self.spec.limits
            if self.spec.cores:
                limits = dataclasses.replace(limits, cpus=float(len(self.spec.cores)))
            self._group = cgroups.WorkerGroup(support, limits, "worker")

    def _command(self):
        spec, ident, workdir = self.spec, self._identity, self._dir
        limits = rlimits(spec.limits, spec.device, own_uid=ident.own)
        joins = self._group.procs_files() if self._group else []
        cores = spec.cores
        niceness = 19 if spec.background else 0
        sandboxed = spec.isolation == "bwrap"
        env = worker_env(spec, workdir, sandboxed=sandboxed)
        boot = [sys.executable, "-I", "-c"]
        if sandboxed:
            launch, why = bwrap.launch_mode()
            if launch is None:
                raise OSError(why)
            cmd = bwrap.command(
                workdir=workdir,
                limits=spec.limits,
                device=spec.device,
                env=env,
                launch=launch,
                uid=ident.uid,
                gid=ident.gid,
            )
            cmd += ["--", *boot, BOOT.format(path=bwrap.SANDBOX_GRADER)]
            switch = launch == "host" and ident.own

            def preexec():
                cgroups.join(joins)
                apply_limits(limits)
                if cores:
                    os.sched_setaffinity(0, cores)
                if niceness:
                    os.nice(niceness)
                if switch:
                    drop_to(ident.uid, ident.gid)

            return cmd, preexec, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, "/"
        cmd = [*boot, KEEPER.format(path=str(PACKAGE_DIR.parent))]
        cmd += [*boot, BOOT.format(path=str(workdir.lib))]
        if ident.own:
            env["GRADER_WORKER_UID"], env["GRADER_WORKER_GID"] = str(ident.uid), str(ident.gid)
        network = private_network()

        def preexec():
            cgroups.join(joins)
            apply_limits(limits)
            if cores:
                os.sched_setaffinity(0, cores)
            if niceness:
                os.nice(niceness)
            if network:
                _unshare_network()

        return cmd, preexec, env, str(workdir.tmp)

    def close(self) -> None:
        if self._group is not None:
            self._group.kill()
        if self.process is not None:
            kill_tree(self.process.pid)
            kill_session(self.process)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self._identity is not None:
            self._identity.release()  # every process still running as the worker's uid dies
            self._identity = None
        if self._responses is not None:
            self._responses.close()
            self._responses = None
        if self._output is not None:
            self._output.join(timeout=2)
        if self._group is not None:
            self._group.remove()
            self._group = None
        if self._dir is not None:
            self._dir.remove()
            self._dir = None
        self.process = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # measurements -------------------------------------------------------------
    def cpu_seconds(self) -> float | None:
        """CPU time the worker and everything it started have used so far, read from the
        kernel (its control group, else /proc): what the gate's time limit counts on CPU."""
        if self.process is None:
            return None
        if self._group is not None:
            used = self._group.cpu_seconds()
            if used is not None:
                return used
        return cpu_seconds([self.process.pid, *descendants(self.process.pid)])

    def memory_peak(self) -> int | None:
        """The most memory the worker's processes have held at once (where a group counts)."""
        return self._group.memory_peak() if self._group is not None else None

    # calls ------------------------------------------------------------------
    def output(self) -> str:
        return self._output.text() if self._output else ""

    def _remaining(self) -> float | None:
        if self.budget_s is None:
            return None
        if self._deadline is None:
            self._deadline = time.monotonic() + self.budget_s
        return self._deadline - time.monotonic()

    def call(
        self,
        probe: str,
        /,
        *,
        timeout_s: float,
        outside_budget: bool = False,
        watch=None,
        **args,
    ):
        """Run one probe; return its data (strings cleaned) or raise :class:`ProbeFailure`.

        ``watch``, if given, is called about twice a second while the answer is awaited; a
        string it returns stops the worker and becomes the :class:`ProbeTimeout`'s message.
        """
        remaining = None if outside_budget else self._remaining()
        if remaining is not None and remaining <= 0:
            raise ProbeTimeout(
                f"this exercise used up its time budget of {self.budget_s:g} s (earlier calls "
                "hung or were far too slow), so this check was not run"
            )
        budgeted = remaining is not None and remaining < timeout_s
        limit_s = timeout_s
        timeout_s = min(timeout_s, remaining) if budgeted else timeout_s
        started = time.monotonic()
        if self._stray_data():
            self.close()  # an extra reply (forged?) arrived since the last call: start afresh
        if self.process is None or self.process.poll() is not None:
            self.close()
            self.start()
        timeout_s = max(0.1, timeout_s - (time.monotonic() - started))
        request_id = secrets.token_hex(8)
        message = channel.dumps({"id": request_id, "probe": probe, "args": args})
        deadline = time.monotonic() + timeout_s
        try:
            self._write(message, deadline, budgeted)
            response = self._read_message(deadline - time.monotonic(), what=probe, limit_s=limit_s)
        except ProbeTimeout as exc:
            if budgeted:
                exc.message = (
                    f"this exercise used up its time budget of {self.budget_s:g} s; "
                    f"the worker was stopped during {probe.rpartition('.')[2]}"
                )
            raise
        if response.get("id") != request_id:
            self.close()
            raise ProbeFailure(
                "the worker answered out of turn: its reply channel was tampered with"
            )
        if response.get("ok"):
            return clean_data(response.get("value"))
        kind, text = response.get("kind"), clean(response.get("message"), TEXT_LIMIT)
        if kind == "grader":
            raise ProbeError(f"the grader's probe {probe} failed: {text}")
        if kind == "bad_return":
            raise ProbeFailure(f"returned something that is not plain data: {text}")
        raise ProbeFailure(
            f"{clean(response.get('type'), 100)}: {text}",
            where=clean(response.get("where"), TEXT_LIMIT),
            output=self.output(),
        )

    def _write(self, message: bytes, deadline: float, budgeted: bool) -> None:
        """Send ``message`` whole before ``deadline``, however slowly the worker reads."""
        fd = self.process.stdin.fileno()
        view = memoryview(message)
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_WRITE)
            while view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.close()
                    raise ProbeTimeout(
                        "the worker stopped reading its requests (the code blocks or never "
                        "returns control); the worker was stopped"
                    )
                if not selector.select(timeout=min(remaining, 0.5)):
                    self._check_processes()
                    continue
                try:
                    view = view[os.write(fd, view[: 1 << 16]) :]
                except BlockingIOError:
                    continue
                except (BrokenPipeError, OSError):
                    self._died("before it could take the request")

    def _stray_data(self) -> bool:
        if self._buffer:
            return True
        try:
            return self._responses is not None and bool(self._responses.read(1 << 16))
        except (BlockingIOError, OSError, ValueError):
            return False

    def _read_message(
        self, timeout_s: float, *, what: str, limit_s: float | None = None, watch=None
    ) -> dict:
        deadline = time.monotonic() + timeout_s
        limit_s = timeout_s if limit_s is None else limit_s
        selector = selectors.DefaultSelector()
        selector.register(self._responses, selectors.EVENT_READ)
        try:
            while b"\n" not in self._buffer:
                self._check_processes()
                stop = watch() if watch is not None else None
                if stop:
                    output = self.output()
                    self.close()
                    raise ProbeTimeout(stop, output=output)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    output = self.output()
                    self.close()
                    raise ProbeTimeout(
                        f"no answer within {limit_s:g} s (an endless loop, or far too slow); "
                        "the worker was stopped",
                        output=output,
                    )
                if not selector.select(timeout=min(remaining, 0.5)):
                    continue
                chunk = self._responses.read(1 << 20)
                if chunk is None:  # non-blocking: nothing after all
                    continue
                if not chunk:
                    self._died(f"during {what}")
                self._buffer += chunk
                if len(self._buffer) > channel.MAX_MESSAGE_BYTES:
                    self.close()
                    raise ProbeFailure("the worker sent an oversized message")
        finally:
            selector.close()
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            message = channel.loads(line)
        except channel.ChannelError as exc:
            self.close()
            raise ProbeFailure(f"the worker sent malformed data: {clean(exc)}") from None
        if not isinstance(message, dict):
            self.close()
            raise ProbeFailure("the worker sent malformed data")
        return message

    def _check_processes(self) -> None:
        """Stop a worker that runs too many processes (or tasks, where no group counts them)."""
        if self.process is None:
            return
        limits = self.spec.limits
        below = descendants(self.process.pid)
        too_many = len(below) > limits.processes
        if not too_many and self._group is None and not self._identity.own:
            too_many = task_count(below) > limits.tasks
        if too_many:
            output = self.output()
            self.close()
            raise ProbeFailure(
                f"the code started more than {limits.processes} processes or "
                f"{limits.tasks} threads at once (a fork bomb?); the worker was stopped",
                output=output,
            )

    def _died(self, when: str):
        try:
            code = self.process.wait(timeout=10) if self.process else None
        except subprocess.TimeoutExpired:
            code = None
        output = self.output()
        out_of_memory = self._group is not None and self._group.out_of_memory()
        self.close()
        reason = f"exit status {code}"
        if code is not None and code < 0:
            reason = f"killed by signal {signal.Signals(-code).name}"
        if out_of_memory:
            gib = self.spec.limits.memory_bytes / 2**30
            raise WorkerDied(
                f"the worker process was stopped {when}: the code used more than the "
                f"{gib:.1f} GiB of memory a worker may use",
                output=output,
            )
        raise WorkerDied(
            f"the worker process ended {when} ({reason}): the code exited or crashed "
            "(os._exit, a segfault, or running out of memory)",
            output=output,
        )
