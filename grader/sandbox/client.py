"""The trusted side's handle on one sandboxed worker: start it, call probes, kill it.

A :class:`WorkerClient` has its worker (:mod:`grader.inside.worker`) forked by the fork server of
the grading process (:mod:`grader.sandbox.forkserver`) where one serves it, else started in a
sandbox of its own (:mod:`grader.sandbox.box`); either way in a control group of its own.
Every write to and read from the worker has a deadline; every exercise has a wall-clock
budget; replies are untrusted data, cleaned of unsafe text here and validated by the suites
(:mod:`grader.suites.assertions`). When it closes, every process the worker started is
frozen and killed, whatever it did to escape (setsid, double forks, threads).
"""

from __future__ import annotations

import os
import secrets
import selectors
import signal
import subprocess
import time

from grader.errors import ProbeError, ProbeFailure, ProbeTimeout, SandboxError, WorkerDied
from grader.i18n import _
from grader.inside import channel, contract
from grader.sandbox import cgroups
from grader.sandbox.box import Box, worker_group
from grader.sandbox.forkserver import ForkServer
from grader.sandbox.launch import WorkerSpec
from grader.sandbox.leftovers import Ledger
from grader.sandbox.output import OutputTail
from grader.sandbox.processes import (
    cpu_seconds,
    descendants,
    kill_session,
    kill_tree,
    task_count,
)
from grader.text import clean, clean_data

TEXT_LIMIT = 2000
PROCESS_CHECK_S = 0.2
"""How often a call that is awaited looks at the worker's processes (a look walks /proc,
about a millisecond: a stand-in's thousands of questions in one call must not pay it each)."""


ORACLE_HANDOVER_S = 0.005
"""Given back to a call for each question a stand-in asks (beyond the trusted side's own time
answering it): the two hand-overs between the worker and the trusted side, which wait for the
scheduler (a fraction of a millisecond on a quiet machine, milliseconds on a loaded one). What
a call is given back comes to its own time limit at most."""


class WorkerClient:
    """One sandboxed worker, restarted after it dies or times out, within a time budget."""

    def __init__(
        self,
        spec: WorkerSpec,
        *,
        start_timeout_s: float = 60.0,
        budget_s: float | None = None,
        server: ForkServer | None = None,
        ledger: Ledger | None = None,
    ):
        self.spec = spec
        self.ledger = ledger
        """Where the sweep of a sandbox of its own goes when it ends (the submission's)."""
        self.server = server if server is not None and server.serves(spec) else None
        """Where workers are forked from, when the submission has a fork server that can."""
        self.start_timeout_s = start_timeout_s
        self.budget_s = budget_s
        self._deadline: float | None = None
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self._responses = None
        self._buffer = b""
        self._output: OutputTail | None = None
        self._box: Box | None = None
        """The worker's own sandbox (None where it was forked by ``server``)."""
        self._group: cgroups.WorkerGroup | None = None
        self._processes_checked = 0.0

    # life cycle -------------------------------------------------------------
    def start(self) -> None:
        read_fd = None
        if self.server is not None:
            try:
                self._group = worker_group(self.spec)
                self.process, read_fd = self.server.spawn(self._group)
            except (SandboxError, OSError):
                self.server = None  # no fork server after all: a worker of its own
                self._end_group()
        if read_fd is None:
            read_fd, write_fd = os.pipe()
            os.set_inheritable(write_fd, True)
            self._box = Box(self.spec, "worker", self.ledger)
            try:
                self.process = self._box.open(
                    entry="worker",
                    fd=write_fd,
                    fd_env=contract.RESPONSE_FD_ENV,
                    stdin=subprocess.PIPE,
                )
            except SandboxError:
                os.close(read_fd)
                self.close()
                raise
            finally:
                os.close(write_fd)
            self._group = self._box.group
        self.starts += 1
        os.set_blocking(self.process.stdin.fileno(), False)
        self._responses = os.fdopen(read_fd, "rb", buffering=0)
        os.set_blocking(read_fd, False)
        self._buffer = b""
        self._output = OutputTail(self.process.stdout, self.spec.limits.output_bytes)
        self._output.start()
        try:
            ready = self._read_message(self.start_timeout_s, what="start")
        except ProbeFailure as exc:
            # no code of the submission runs before the ready message: a worker that dies or
            # hangs until then was broken by the grader or the machine, not by the student
            tail = clean(exc.output)[-1000:]
            raise SandboxError(
                f"the worker did not start: {exc.message}" + (f"; it wrote: {tail}" if tail else "")
            ) from exc
        if not ready.get(contract.READY):
            raise SandboxError(f"worker sent {ready!r} instead of its ready message")
        if ready.get(contract.READY_DEVICE):
            raise SandboxError(
                f"the worker cannot use the {self.spec.device} device it was started for: "
                f"{ready[contract.READY_DEVICE]} (the sandbox binds /dev/nvidia* and the "
                "driver's libraries must be in the loader's cache, ldconfig)"
            )

    def _boot_server(self) -> None:
        """Start the fork server, where it is to fork this worker and none runs."""
        if self.server is None:
            return
        try:
            self.server.boot()
        except SandboxError:
            self.server = None  # no fork server after all: workers of their own

    def _end_group(self) -> None:
        if self._group is not None:
            self._group.kill()
            self._group.remove()
            self._group = None

    def close(self) -> None:
        """Kill the worker and everything it started; where it was forked, have the fork
        server's sandbox recycled (every other process killed, the writable folders emptied)."""
        process, forked = self.process, self._box is None and self.process is not None
        if forked:
            if self._group is not None:
                self._group.kill()
            kill_tree(process.pid)
            kill_session(process)
            self.server.recycle()
        elif self._box is not None:
            self._box.close()  # the group, the tree, every process of the uid, the folder
            self._box = None
            self._group = None
        if self._responses is not None:
            self._responses.close()
            self._responses = None
        if self._output is not None:
            self._output.join(timeout=2)
        if forked:
            process.close()
            self._end_group()
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
        standins=(),
        oracles=None,
        **args,
    ):
        """Run one probe; return its data (strings cleaned) or raise :class:`ProbeFailure`.

        ``watch``, if given, is called about twice a second while the answer is awaited; a
        string it returns stops the worker and becomes the :class:`ProbeTimeout`'s message.
        ``standins`` names what of the submission the worker replaces for this call
        (:mod:`grader.inside.probes.standins`); ``oracles`` maps those the worker asks about to the
        trusted function that answers (its arguments as the channel carries them; it raises
        ``ValueError`` or ``TypeError`` for arguments it will not take). Every question is
        answered within the call's own time limit.
        """
        remaining = None if outside_budget else self._remaining()
        if remaining is not None and remaining <= 0:
            raise ProbeTimeout(
                _(
                    "this exercise used up its time budget of {budget:g} s (earlier calls hung "
                    "or were far too slow), so this check was not run",
                    budget=self.budget_s,
                )
            )
        if self._stray_data():
            self.close()  # an extra reply (forged?) arrived since the last call: start afresh
        fresh = self.process is None or self.process.poll() is not None
        if fresh:
            self.close()
            # the fork server's start is the grader's, not the student's: outside the call's
            # timeout (within the exercise's budget, which counts from its first call)
            self._boot_server()
            if remaining is not None:
                remaining = max(0.1, self._remaining())
        budgeted = remaining is not None and remaining < timeout_s
        limit_s = timeout_s
        timeout_s = min(timeout_s, remaining) if budgeted else timeout_s
        started = time.monotonic()
        if fresh:
            self.start()
        timeout_s = max(0.1, timeout_s - (time.monotonic() - started))
        request_id = secrets.token_hex(8)
        request = {
            contract.REQUEST_ID: request_id,
            contract.REQUEST_PROBE: probe,
            contract.REQUEST_ARGS: args,
        }
        if standins:
            request[contract.REQUEST_STANDINS] = list(standins)
        deadline = time.monotonic() + timeout_s
        slots, given = {}, 0.0
        try:
            self._write(channel.dumps(request), deadline, budgeted)
            while True:
                response = self._read_message(
                    deadline - time.monotonic(), what=probe, limit_s=limit_s, watch=watch
                )
                if contract.ORACLE not in response:
                    break
                asked = time.monotonic()
                reply = _answer(response, request_id, oracles or {}, slots)
                if reply is None:
                    self.close()
                    raise ProbeFailure(_out_of_turn())
                # a stand-in's round trip is the grader's time, not the student's: the answer
                # and both hand-overs (which a loaded machine makes slow) are given back, up
                # to the call's own limit again (a loop of questions still ends)
                grace = min(time.monotonic() - asked + ORACLE_HANDOVER_S, limit_s - given)
                given += grace
                deadline += grace
                if self._deadline is not None:
                    self._deadline += grace
                self._write(channel.dumps(reply), deadline, budgeted)
        except ProbeTimeout as exc:
            if budgeted:
                exc.message = _(
                    "this exercise used up its time budget of {budget:g} s; the worker was "
                    "stopped during {call}",
                    budget=self.budget_s,
                    call=probe.rpartition(".")[2],
                )
            raise
        if response.get(contract.REPLY_ID) != request_id:
            self.close()
            raise ProbeFailure(_out_of_turn())
        if response.get(contract.REPLY_OK):
            return clean_data(response.get(contract.REPLY_VALUE))
        kind, text = response.get(contract.REPLY_KIND), worded(response.get(contract.REPLY_MESSAGE))
        if kind == contract.KIND_GRADER:
            raise ProbeError(
                _("the grader's probe {probe} failed: {error}", probe=probe, error=text)
            )
        if kind == contract.KIND_BAD_RETURN:
            raise ProbeFailure(_("returned something that is not plain data: {error}", error=text))
        raise ProbeFailure(
            f"{clean(response.get(contract.REPLY_TYPE), 100)}: {text}",
            where=clean(response.get(contract.REPLY_WHERE), TEXT_LIMIT),
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
                        _(
                            "the worker stopped reading its requests (the code blocks or never "
                            "returns control); the worker was stopped"
                        )
                    )
                if not selector.select(timeout=min(remaining, 0.5)):
                    self._check_processes()
                    continue
                try:
                    view = view[os.write(fd, view[: 1 << 16]) :]
                except BlockingIOError:
                    continue
                except (BrokenPipeError, OSError):
                    self._died(_("before it could take the request"))

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
        buffer = bytearray(self._buffer)
        complete = b"\n" in buffer
        try:
            while not complete:
                self._check_processes(every_s=PROCESS_CHECK_S)
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
                        _(
                            "no answer within {limit:g} s (an endless loop, or far too slow); "
                            "the worker was stopped",
                            limit=limit_s,
                        ),
                        output=output,
                    )
                if not selector.select(timeout=min(remaining, 0.5)):
                    continue
                chunk = self._responses.read(1 << 20)
                if chunk is None:  # non-blocking: nothing after all
                    continue
                if not chunk:
                    self._died(_("during {call}", call=what))
                buffer += chunk  # in place, and only the new chunk is searched: a reply of
                complete = b"\n" in chunk  # many megabytes costs no more than its length
                if len(buffer) > channel.MAX_MESSAGE_BYTES:
                    self.close()
                    raise ProbeFailure(_("the worker sent an oversized message"))
        finally:
            selector.close()
        line, _newline, rest = bytes(buffer).partition(b"\n")
        self._buffer = rest
        try:
            message = channel.loads(line)
        except channel.ChannelError as exc:
            self.close()
            raise ProbeFailure(
                _("the worker sent malformed data: {error}", error=clean(exc))
            ) from None
        if not isinstance(message, dict):
            self.close()
            raise ProbeFailure(_("the worker sent malformed data"))
        return message

    def _check_processes(self, every_s: float = 0.0) -> None:
        """Stop a worker that runs too many processes (or tasks, where no group counts them);
        ``every_s``: not again so soon after the last look."""
        if self.process is None or time.monotonic() - self._processes_checked < every_s:
            return
        self._processes_checked = time.monotonic()
        limits = self.spec.limits
        below = descendants(self.process.pid)
        too_many = len(below) > limits.processes
        ident = self._box.identity if self._box is not None else self.server.identity
        if not too_many and self._group is None and not (ident and ident.own):
            too_many = task_count(below) > limits.tasks
        if too_many:
            output = self.output()
            self.close()
            raise ProbeFailure(
                _(
                    "the code started more than {processes} processes or {tasks} threads at "
                    "once (a fork bomb?); the worker was stopped",
                    processes=limits.processes,
                    tasks=limits.tasks,
                ),
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
        reason = _("exit status {code}", code=code)
        if code is not None and code < 0:
            reason = _("killed by signal {signal}", signal=signal.Signals(-code).name)
        if out_of_memory:
            raise WorkerDied(
                _(
                    "the worker process was stopped {when}: the code used more than the "
                    "{gib:.1f} GiB of memory a worker may use",
                    when=when,
                    gib=self.spec.limits.memory_bytes / 2**30,
                ),
                output=output,
            )
        raise WorkerDied(
            _(
                "the worker process ended {when} ({reason}): the code exited or crashed "
                "(os._exit, a segfault, or running out of memory)",
                when=when,
                reason=reason,
            ),
            output=output,
        )


def _out_of_turn() -> str:
    """What a call says of a reply that is not its own (another request's id)."""
    return _("the worker answered out of turn: its reply channel was tampered with")


def worded(message) -> str:
    """A message of the worker as a student reads it: what the grader's code inside said as
    words (:data:`grader.inside.contract.WORDS`), filled and in the run's language; anything
    else (student code's own words) as cleaned text."""
    if not isinstance(message, dict):
        return clean(message, TEXT_LIMIT)
    template = contract.WORDS.get(message.get(contract.WORDS_KEY))
    values = message.get(contract.WORDS_VALUES)
    if template is None or not isinstance(values, dict):
        return clean(message, TEXT_LIMIT)
    values = {clean(key, 100): clean(value, TEXT_LIMIT) for key, value in values.items()}
    try:
        return clean(_(template, **values), TEXT_LIMIT)
    except (KeyError, IndexError, ValueError):
        return clean(template, TEXT_LIMIT)


def _answer(question: dict, request_id: str, oracles: dict, slots: dict) -> dict | None:
    """The reply to a stand-in's question during a call: the trusted side's function for it
    (the reference, on the arguments sent, after its own checks), or why not; None for a
    question that is not this call's."""
    if question.get(contract.REPLY_ID) != request_id:
        return None
    oracle = oracles.get(question.get(contract.ORACLE))
    args = question.get(contract.ORACLE_ARGS)
    if oracle is None:
        return {contract.ORACLE_ERROR: "the grader stands in for nothing of that name here"}
    try:
        if not (isinstance(args, list) and len(args) == 2 and isinstance(args[0], list)
                and isinstance(args[1], dict)):  # fmt: skip
            raise TypeError("arguments that are not (args, kwargs)")
        positional = [_unslot(value, slots) for value in args[0]]
        named = {key: _unslot(value, slots) for key, value in args[1].items()}
        return {contract.ORACLE_REPLY: oracle(*positional, **named)}
    except (TypeError, ValueError, ArithmeticError, IndexError, RuntimeError) as exc:
        return {contract.ORACLE_ERROR: clean(f"{type(exc).__name__}: {exc}", 500)}


def _unslot(value, slots: dict):
    """An argument sent by slot (contract.ORACLE_SLOT): kept, or taken from what was kept."""
    if not (isinstance(value, dict) and contract.ORACLE_SLOT in value):
        return value
    slot = value[contract.ORACLE_SLOT]
    if not isinstance(slot, str) or len(slot) > 200:
        raise TypeError("a slot that is not a short name")
    if contract.ORACLE_VALUE in value:
        if slot not in slots and len(slots) >= contract.MAX_ORACLE_SLOTS:
            raise ValueError(f"more than {contract.MAX_ORACLE_SLOTS} slots in one call")
        slots[slot] = value[contract.ORACLE_VALUE]
    if slot not in slots:
        raise ValueError(f"nothing was sent for slot {slot!r}")
    return slots[slot]
