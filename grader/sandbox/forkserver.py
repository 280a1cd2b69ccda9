"""The trusted side's handle on a fork server: one sandbox that forks a worker per exercise.

Starting a worker costs a Python and the import of torch and torchvision (seconds of CPU);
a submission needs one per exercise, and one per restart. A :class:`ForkServer` starts one
sandbox for one submission, exactly as a worker's (its own uid, private folder, control
group, bubblewrap or the keeper, :mod:`grader.sandbox.launch`), running
:mod:`grader.inside.zygote`, which imports those modules once and forks a fresh worker on
request. Each forked worker gets its own pipes, is moved into its own control group before it
runs student code, and is a process that has never run another exercise's code.

After each worker, :meth:`ForkServer.recycle` kills every process in the sandbox but the
fork server (by the sandbox's process tree, and by the worker uid where it is the worker's
own), has the writable folders emptied, and checks that nothing is left; anything it cannot
vouch for (a fork server stopped, killed, slow to answer, or a process that will not die)
ends the whole sandbox, and the next worker starts in a fresh one. A sandbox never serves a
second submission: :meth:`ForkServer.close` ends it with the submission, its uid's leftovers
swept (:mod:`grader.sandbox.leftovers`) into the submission's ledger, and the next submission
gets a new uid, IPC and user namespace, and folder.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

from grader.errors import SandboxError
from grader.inside import contract
from grader.sandbox import cgroups, identity, leftovers
from grader.sandbox.box import Box
from grader.sandbox.launch import WorkerSpec
from grader.sandbox.leftovers import Ledger
from grader.sandbox.output import OutputTail
from grader.sandbox.processes import (
    ancestors,
    descendants,
    freeze_and_kill,
    host_pid_of,
    processes_of,
    state_of,
)

ANSWER_S = 10.0
"""How long the fork server may take to fork or to clean up (it does nothing slow)."""


class Forked:
    """A worker the fork server forked: what :class:`subprocess.Popen` offers the client."""

    def __init__(self, server: ForkServer, ns_pid: int, pid: int, stdin, stdout):
        self.server, self.ns_pid, self.pid = server, ns_pid, pid
        self.stdin, self.stdout = stdin, stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and state_of(self.pid) in (None, "Z", "X"):
            self.returncode = self.server.reap(self.ns_pid)
            if self.returncode is None:
                self.returncode = -signal.SIGKILL  # the server could not say: it was killed
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout)
            time.sleep(0.01)
        return self.returncode

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        for stream in (self.stdin, self.stdout):
            try:
                stream.close()
            except OSError:
                pass


class ForkServer:
    """A submission's sandbox that forks its workers (see the module's docstring)."""

    def __init__(
        self, spec: WorkerSpec, *, start_timeout_s: float = 60.0, ledger: Ledger | None = None
    ):
        self.spec = spec
        self.ledger = ledger
        self.start_timeout_s = start_timeout_s
        self.starts = 0
        self.identity: identity.Identity | None = None
        self.process: subprocess.Popen | None = None
        self.pid: int | None = None
        """The fork server's own pid (on the host)."""
        self._box: Box | None = None
        self._control: socket.socket | None = None
        self._output: OutputTail | None = None

    def serves(self, spec: WorkerSpec) -> bool:
        """Can a worker of ``spec`` be forked here (the same submission, device, isolation,
        limits and priority; no gate training data; no cores of its own)?"""
        return (
            spec.train_images is None
            and not spec.cores
            and (spec.submission, spec.device, spec.isolation, spec.limits, spec.background)
            == (
                self.spec.submission,
                self.spec.device,
                self.spec.isolation,
                self.spec.limits,
                self.spec.background,
            )
            and spec.env == self.spec.env
        )

    # life cycle -------------------------------------------------------------
    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        theirs.set_inheritable(True)
        self._box = Box(self.spec, "forkserver", self.ledger)
        try:
            self.process = self._box.open(
                entry="zygote",
                fd=theirs.fileno(),
                fd_env=contract.CONTROL_FD_ENV,
                stdin=subprocess.DEVNULL,
            )
        except SandboxError:
            ours.close()
            self.close()
            raise
        finally:
            theirs.close()
        self.identity = self._box.identity
        self.starts += 1
        self._control = ours
        self._output = OutputTail(self.process.stdout, self.spec.limits.output_bytes)
        self._output.start()
        ready = self._receive(self.start_timeout_s, "start")
        ns_pid = ready.get(contract.READY_PID)
        self.pid = host_pid_of(ns_pid, self.process.pid) if isinstance(ns_pid, int) else None
        if not ready.get(contract.READY) or self.pid is None:
            self.close()
            raise SandboxError(f"the fork server sent {ready!r} instead of its ready message")

    def close(self) -> None:
        """End the sandbox: every process in it, its uid's, its folder and group."""
        if self._box is not None:
            self._box.close()
            self._box = None
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._output is not None:
            self._output.join(timeout=2)
            self._output = None
        self.identity = None
        self.process = None
        self.pid = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def boot(self) -> None:
        """Start the sandbox unless it runs (a stopped or dead one is ended first)."""
        if not self.running():
            self.close()
            self.start()

    def running(self) -> bool:
        return (
            self.process is not None
            and self.process.poll() is None
            and self.pid is not None
            and state_of(self.pid) not in (None, "Z", "X", "T", "t")
        )

    def output(self) -> str:
        return self._output.text() if self._output else ""

    # workers ------------------------------------------------------------------
    def spawn(self, group: cgroups.WorkerGroup | None) -> tuple[Forked, int]:
        """Fork a worker, moved into ``group`` before it runs anything of the student's; return
        it and the descriptor its replies arrive on. Starts the sandbox when none runs."""
        self.boot()
        requests_r, requests_w = os.pipe()
        output_r, output_w = os.pipe()
        replies_r, replies_w = os.pipe()
        theirs = [requests_r, output_w, replies_w]
        try:
            try:
                socket.send_fds(
                    self._control, [json.dumps({contract.FORK_OP: contract.FORK_SPAWN}).encode()],
                    theirs,
                )  # fmt: skip
            except OSError as exc:
                self.close()
                raise SandboxError(f"the fork server is gone: {exc}") from exc
            answer = self._receive(ANSWER_S, "spawn")
        finally:
            for fd in theirs:
                os.close(fd)
        ns_pid = answer.get(contract.READY_PID)
        pid = host_pid_of(ns_pid, self.pid) if isinstance(ns_pid, int) else None
        if pid is None:
            for fd in (requests_w, output_r, replies_r):
                os.close(fd)
            self.close()
            raise SandboxError(f"the fork server answered {answer!r} to a fork")
        if group is not None:
            cgroups.move(group.procs_files(), pid)
        worker = Forked(self, ns_pid, pid, os.fdopen(requests_w, "wb"), os.fdopen(output_r, "rb"))
        return worker, replies_r

    def reap(self, ns_pid: int) -> int | None:
        """The exit status of a worker that ended (None if the fork server cannot say)."""
        if not self.running():
            return None
        try:
            self._send({contract.FORK_OP: contract.FORK_REAP, contract.READY_PID: ns_pid})
            return self._receive(ANSWER_S, "reap").get(contract.FORK_STATUS)
        except SandboxError:
            return None

    def recycle(self) -> None:
        """After a worker: kill every process but the fork server, empty the writable folders,
        and check; end the sandbox where anything is not as it should be."""
        if self.process is None:
            return
        if not self.running():
            self.close()
            return
        keep = ancestors(self.pid, self.process.pid)
        own = self.identity is not None and self.identity.own

        def strays() -> list[int]:
            found = set(descendants(self.process.pid))
            if own:
                found.update(processes_of(self.identity.uid))
            return sorted(found - keep)

        freeze_and_kill(strays)
        if own and self.spec.isolation != "bwrap":
            leftovers.remove_files(self.identity.uid, identity.shared_folders(deep=False))
        try:
            self._send({contract.FORK_OP: contract.FORK_RESET})
            left = self._receive(ANSWER_S, "reset").get(contract.FORK_LEFT)
        except SandboxError:
            left = ["no answer"]
        if left or strays() or not self.running():
            self.close()

    # the socket ---------------------------------------------------------------
    def _send(self, message: dict) -> None:
        try:
            self._control.send(json.dumps(message).encode())
        except (OSError, AttributeError) as exc:
            self.close()
            raise SandboxError(f"the fork server is gone: {exc}") from exc

    def _receive(self, timeout_s: float, what: str) -> dict:
        """The fork server's next answer; it must come within ``timeout_s`` from a running
        (not stopped) fork server, else the sandbox ends."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._control.settimeout(0.25)
            try:
                data = self._control.recv(4096)
            except TimeoutError:
                data = None
            except OSError:
                data = b""
            if data:
                try:
                    message = json.loads(data)
                except ValueError:
                    message = None
                if isinstance(message, dict):
                    return message
            problem = None
            if data == b"":
                problem = "ended"
            elif data is not None:
                problem = "sent malformed data"
            elif time.monotonic() > deadline:
                problem = f"did not answer within {timeout_s:g} s"
            elif self.pid is not None and not self.running():
                problem = "was stopped or ended"
            elif self.process is not None and self.process.poll() is not None:
                problem = "ended"
            if problem:
                output = self.output()
                self.close()
                detail = f": {output[-500:]}" if output.strip() else ""
                raise SandboxError(f"the fork server {problem} during {what}{detail}")
