"""Start, talk to and kill the sandboxed worker (trusted side).

Where bubblewrap works, the worker runs in fresh namespaces with no network, a
private /tmp and home, the staged submission (and for the gate the training split)
read-only, and of the grader only the modules the worker needs: never the hidden
suites, the reference solutions, the test split or other submissions. Without
bubblewrap it runs as a plain subprocess in its own session with resource limits,
under a small *keeper* process that adopts every orphan (``PR_SET_CHILD_SUBREAPER``),
and results say ``isolation: process``.

Either way, every process a worker started is frozen and killed when it closes (also
those that called ``setsid`` or double-forked), and a worker that runs more than
``Limits.processes`` processes at once is stopped. Replies are untrusted data: the
suites validate every value before use (:mod:`grader.checks`).
"""

from __future__ import annotations

import collections
import functools
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader import channel
from grader.processes import (
    KEEPER,
    Limits,
    apply_limits,
    descendants,
    kill_session,
    kill_tree,
    rlimits,
)

PACKAGE_DIR = Path(__file__).resolve().parent
WORKER_MODULES = ("__init__.py", "channel.py", "worker.py", "gate.py", "probes")
BOOT = "import sys; sys.path.insert(0, {path!r}); from grader.worker import main; main()"
SANDBOX_SUBMISSION = "/submission"
SANDBOX_TRAIN_DATA = "/data/train"
SANDBOX_GRADER = "/opt/grader"
OUTPUT_LIMIT = 64 * 1024
TEXT_LIMIT = 2000


class ProbeFailure(Exception):
    """A probe call did not return data: the student's code raised, hung or died."""

    status = "failed"

    def __init__(self, message: str, *, where: str = "", output: str = ""):
        super().__init__(message)
        self.message = message
        self.where = where
        self.output = output

    def feedback(self) -> str:
        text = self.message
        if self.where:
            text += f" (at {self.where})"
        return text


class ProbeTimeout(ProbeFailure):
    status = "timeout"


class ProbeError(ProbeFailure):
    """The worker says the grader's own probe failed (reported as ``error``, not a failure)."""

    status = "error"


class WorkerDied(ProbeFailure):
    pass


class SandboxError(RuntimeError):
    """The grader could not start a worker at all (its own fault, not the student's)."""


@dataclass
class WorkerSpec:
    submission: Path
    train_data: Path | None = None
    device: str = "cpu"
    isolation: str = "bwrap"
    limits: Limits = field(default_factory=Limits)
    env: dict = field(default_factory=dict)


@functools.cache
def bwrap_works() -> bool:
    """Is bubblewrap installed and able to create namespaces on this machine?"""
    path = shutil.which("bwrap")
    if path is None:
        return False
    probe = [path, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def detect_isolation() -> str:
    return "bwrap" if bwrap_works() else "process"


def _python_roots() -> list[Path]:
    """Folders the worker's Python needs: the interpreter's prefix and the venv."""
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        roots.add(Path(sysconfig.get_paths()[key]).resolve())
    executable = Path(sys.executable)
    roots.add(executable.parent.resolve())
    roots.add(executable.resolve().parent)
    ordered = sorted(roots, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for root in ordered:
        if not any(root == k or k in root.parents for k in kept):
            kept.append(root)
    return kept


def _bwrap_command(spec: WorkerSpec) -> list[str]:
    cmd = [
        shutil.which("bwrap") or "bwrap",
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--ro-bind",
        "/usr",
        "/usr",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/dev/shm",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/home/student",
        "--chdir",
        "/tmp",
    ]
    for name in ("bin", "sbin", "lib", "lib64", "lib32"):
        host = Path("/") / name
        if host.is_symlink():
            cmd += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            cmd += ["--ro-bind", str(host), f"/{name}"]
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf", "/etc/alternatives"):
        if os.path.exists(etc):
            cmd += ["--ro-bind", etc, etc]
    for root in _python_roots():
        if not str(root).startswith("/usr/"):
            cmd += ["--ro-bind", str(root), str(root)]
    cmd += ["--dir", f"{SANDBOX_GRADER}/grader"]
    for name in WORKER_MODULES:
        source = PACKAGE_DIR / name
        if source.exists():
            cmd += ["--ro-bind", str(source), f"{SANDBOX_GRADER}/grader/{name}"]
    cmd += ["--ro-bind", str(spec.submission), SANDBOX_SUBMISSION]
    if spec.train_data is not None:
        cmd += ["--ro-bind", str(spec.train_data), SANDBOX_TRAIN_DATA]
    if spec.device == "cuda":
        for dev in sorted(Path("/dev").glob("nvidia*")):
            cmd += ["--dev-bind", str(dev), str(dev)]
        for sysdir in ("/sys/dev/char", "/sys/devices", "/sys/module/nvidia"):
            if os.path.exists(sysdir):
                cmd += ["--ro-bind", sysdir, sysdir]
    cmd += ["--remount-ro", "/"]  # the sandbox's root: only /tmp, home and /dev/shm are writable
    env = _worker_env(spec, sandboxed=True)
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return cmd


def _worker_env(spec: WorkerSpec, *, sandboxed: bool) -> dict[str, str]:
    submission = SANDBOX_SUBMISSION if sandboxed else str(spec.submission)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/student" if sandboxed else "/tmp",
        "LANG": "C.UTF-8",
        "USER": "student",
        "GRADER_SUBMISSION": submission,
        "GRADER_DEVICE": spec.device,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1)),
    }
    if spec.train_data is not None:
        env["GRADER_TRAIN_DATA"] = SANDBOX_TRAIN_DATA if sandboxed else str(spec.train_data)
    if spec.device != "cuda":
        env["CUDA_VISIBLE_DEVICES"] = ""
    env.update(spec.env)
    return env


class _OutputTail(threading.Thread):
    """Drains the worker's stdout/stderr, keeping only the last ``OUTPUT_LIMIT`` bytes."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.chunks: collections.deque[bytes] = collections.deque()
        self.size = 0

    def run(self) -> None:
        for chunk in iter(lambda: self.stream.read1(65536), b""):
            self.chunks.append(chunk)
            self.size += len(chunk)
            while self.size > OUTPUT_LIMIT and len(self.chunks) > 1:
                self.size -= len(self.chunks.popleft())

    def text(self) -> str:
        return b"".join(self.chunks)[-OUTPUT_LIMIT:].decode("utf-8", "replace")


class Worker:
    """One sandboxed worker process, restarted after it dies or times out."""

    def __init__(self, spec: WorkerSpec, *, start_timeout_s: float = 60.0):
        self.spec = spec
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen | None = None
        self._responses = None
        self._buffer = b""
        self._output: _OutputTail | None = None
        self.starts = 0
        self._tempdir: str | None = None

    # life cycle -------------------------------------------------------------
    def start(self) -> None:
        read_fd, write_fd = os.pipe()
        os.set_inheritable(write_fd, True)
        env = _worker_env(self.spec, sandboxed=self.spec.isolation == "bwrap")
        env["GRADER_RESPONSE_FD"] = str(write_fd)
        if self.spec.isolation == "bwrap":
            cmd = _bwrap_command(self.spec)
            cmd += ["--setenv", "GRADER_RESPONSE_FD", str(write_fd), "--"]
            cmd += [sys.executable, "-I", "-c", BOOT.format(path=SANDBOX_GRADER)]
            popen_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            self._tempdir = None
        else:
            self._tempdir = tempfile.mkdtemp(prefix="grader-worker-")
            cmd = [sys.executable, "-I", "-c", KEEPER.format(path=str(PACKAGE_DIR.parent))]
            cmd += [sys.executable, "-I", "-c", BOOT.format(path=str(PACKAGE_DIR.parent))]
            popen_env = dict(env, TMPDIR=self._tempdir, HOME=self._tempdir)
        limits = rlimits(self.spec.limits, self.spec.device)
        try:
            self.process = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                env=popen_env,
                cwd=self._tempdir or "/",
                start_new_session=True,
                preexec_fn=lambda: apply_limits(limits),
            )
        except OSError as exc:
            raise SandboxError(f"could not start the worker: {exc}") from exc
        finally:
            os.close(write_fd)
        self.starts += 1
        self._responses = os.fdopen(read_fd, "rb", buffering=0)
        os.set_blocking(read_fd, False)
        self._buffer = b""
        self._output = _OutputTail(self.process.stdout)
        self._output.start()
        ready = self._read_message(self.start_timeout_s, what="start")
        if not ready.get("ready"):
            raise SandboxError(f"worker sent {ready!r} instead of its ready message")

    def close(self) -> None:
        if self.process is None:
            return
        kill_tree(self.process.pid)
        kill_session(self.process)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self._responses is not None:
            self._responses.close()
        if self._output is not None:
            self._output.join(timeout=2)
        if self._tempdir:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None
        self.process = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # calls ------------------------------------------------------------------
    def output(self) -> str:
        return self._output.text() if self._output else ""

    def call(self, probe: str, /, *, timeout_s: float, **args):
        """Run one probe; return its data or raise :class:`ProbeFailure`."""
        if self._stray_data():
            self.close()  # an extra reply (forged?) arrived since the last call: start afresh
        if self.process is None or self.process.poll() is not None:
            self.close()
            self.start()
        request_id = secrets.token_hex(8)
        message = channel.dumps({"id": request_id, "probe": probe, "args": args})
        try:
            self.process.stdin.write(message)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            self._died("before it could take the request")
        response = self._read_message(timeout_s, what=probe)
        if response.get("id") != request_id:
            self.close()
            raise ProbeFailure(
                "the worker answered out of turn: its reply channel was tampered with"
            )
        if response.get("ok"):
            return response.get("value")
        kind, message = response.get("kind"), _text(response.get("message"))
        if kind == "grader":
            raise ProbeError(f"the grader's probe {probe} failed: {message}")
        if kind == "bad_return":
            raise ProbeFailure(f"returned something that is not plain data: {message}")
        raise ProbeFailure(
            f"{_text(response.get('type'), 100)}: {message}",
            where=_text(response.get("where") or ""),
            output=self.output(),
        )

    def _stray_data(self) -> bool:
        if self._buffer:
            return True
        try:
            return self._responses is not None and bool(self._responses.read(1 << 16))
        except (BlockingIOError, OSError, ValueError):
            return False

    def _read_message(self, timeout_s: float, *, what: str) -> dict:
        deadline = time.monotonic() + timeout_s
        selector = selectors.DefaultSelector()
        selector.register(self._responses, selectors.EVENT_READ)
        try:
            while b"\n" not in self._buffer:
                self._check_processes()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.close()
                    raise ProbeTimeout(
                        f"no answer within {timeout_s:g} s (an endless loop, or far too slow); "
                        "the worker was stopped",
                        output=self.output(),
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
            raise ProbeFailure(f"the worker sent malformed data: {exc}") from None
        if not isinstance(message, dict):
            self.close()
            raise ProbeFailure("the worker sent malformed data")
        return message

    def _check_processes(self) -> None:
        count = len(descendants(self.process.pid)) if self.process else 0
        if count > self.spec.limits.processes:
            output = self.output()
            self.close()
            raise ProbeFailure(
                f"the code started more than {self.spec.limits.processes} processes at once "
                "(a fork bomb?); the worker was stopped",
                output=output,
            )

    def _died(self, when: str):
        try:
            code = self.process.wait(timeout=10) if self.process else None
        except subprocess.TimeoutExpired:
            code = None
        output = self.output()
        self.close()
        reason = f"exit status {code}"
        if code is not None and code < 0:
            reason = f"killed by signal {signal.Signals(-code).name}"
        raise WorkerDied(
            f"the worker process ended {when} ({reason}): the code exited or crashed "
            "(os._exit, a segfault, or running out of memory)",
            output=output,
        )


def _text(value, limit: int = TEXT_LIMIT) -> str:
    """A string from the worker, cut to ``limit`` characters."""
    return (value if isinstance(value, str) else str(value or ""))[:limit]
