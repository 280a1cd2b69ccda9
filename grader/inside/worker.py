"""The sandboxed worker: runs student code on request and sends back data only.

Started by :mod:`grader.sandbox` as ``python -I -c <boot>``, inside bubblewrap where
available, or forked by :mod:`grader.inside.zygote` with the same descriptors. Requests arrive
as JSON lines on stdin; each names a probe (a function of :mod:`grader.inside.probes`) and its
arguments. Responses go out as JSON lines on a private pipe, never on stdout, which belongs
to the student's ``print`` calls.

This module never imports the hidden suites, and the suites never import it.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback

from grader.inside import channel, contract
from grader.inside.probes import faults, standins


def _student_frames(tb) -> str:
    """The traceback lines that point into the submission (a file of it, or a notebook's
    cell: "ex3_data.ipynb, cell 4, line 2"), most recent last."""
    root = os.environ.get(contract.SUBMISSION_ENV, "/submission")
    frames = [
        f
        for f in traceback.extract_tb(tb)
        if f.filename.startswith(root) or ".ipynb, cell " in f.filename
    ]
    lines = [f"{os.path.basename(f.filename)}, line {f.lineno}, in {f.name}" for f in frames]
    return " -> ".join(lines[-4:])


def _error(exc: BaseException, kind: str = contract.KIND_STUDENT) -> dict:
    """The reply for ``exc``: its type, its message (what the grader's own code says as words,
    contract.WORDS, worded on the trusted side) and where in the submission it was raised. A
    ``ModuleNotFoundError`` of student code comes with what a submission can import."""
    message = str(exc)[:2000]
    if isinstance(exc, ModuleNotFoundError) and _student_frames(exc.__traceback__):
        message = contract.words("module_rule", error=message)
    elif isinstance(exc, SystemExit):
        message = contract.words("exit", code=repr(exc.code)[:200])
    elif isinstance(exc, SyntaxError):
        message = f"{exc.msg} ({os.path.basename(exc.filename or '?')}, line {exc.lineno})"
    elif isinstance(getattr(exc, "words", None), dict):
        message = exc.words
    return {
        contract.REPLY_OK: False,
        contract.REPLY_KIND: kind,
        contract.REPLY_TYPE: type(exc).__name__,
        contract.REPLY_MESSAGE: message,
        contract.REPLY_WHERE: _student_frames(exc.__traceback__),
    }


def _resolve(name: str):
    """``"ex1.predict"`` -> ``grader.inside.probes.ex1.predict``; ``"load"`` ->
    ``grader.inside.probes.load``."""
    parts = name.split(".")
    if len(parts) > 2 or not all(p.isidentifier() and not p.startswith("_") for p in parts):
        raise LookupError(f"no probe named {name!r}")
    module = importlib.import_module(".".join(["grader.inside.probes", *parts[:-1]]))
    func = getattr(module, parts[-1], None)
    if func is None or not getattr(func, "is_probe", False):
        raise LookupError(f"no probe named {name!r}")
    return func


def handle(request: dict) -> dict:
    """Run the probe a request names. What goes wrong before student code can run (no such
    probe, arguments the probe does not take) is the grader's fault, ``contract.KIND_GRADER``."""
    try:
        func = _resolve(str(request.get(contract.REQUEST_PROBE)))
        args = request.get(contract.REQUEST_ARGS, {})
        inspect.signature(func).bind(**args)
    except (LookupError, ImportError, TypeError) as exc:
        return _error(exc, kind=contract.KIND_GRADER)
    try:
        with standins.standing_in(
            request.get(contract.REQUEST_STANDINS), request.get(contract.REQUEST_ID)
        ):
            value = func(**args)
    except BaseException as exc:  # noqa: BLE001 - student code may raise anything, SystemExit too
        return _error(exc, kind=faults.kind_of(exc))
    try:
        return {contract.REPLY_OK: True, contract.REPLY_VALUE: channel.encode(value)}
    except channel.ChannelError as exc:
        return _error(exc, kind=contract.KIND_BAD_RETURN)


def device_problem(device: str) -> str:
    """Why this process cannot use ``device`` ("" where it can), asked before any student
    code runs: a sandbox that cannot reach the GPU is the grader's fault, and a student whose
    ``.to("cuda")`` fails there must not lose the points."""
    if device != "cuda":
        return ""
    import torch

    if torch.cuda.is_available():
        return ""
    nodes = sorted(name for name in os.listdir("/dev") if name.startswith("nvidia"))
    return (
        f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device here; "
        f"GPU device files: {', '.join(nodes) or 'none'}"
    )


def serve(requests, responses) -> None:
    """Answer requests (JSON lines on ``requests``) on ``responses`` until the trusted side
    closes its end: the ready message first, then one reply per request."""
    sys.path.insert(0, os.environ.get(contract.SUBMISSION_ENV, "/submission"))
    sys.dont_write_bytecode = True
    standins.connect(requests, responses)
    ready = {contract.READY: True, contract.READY_PID: os.getpid()}
    problem = device_problem(os.environ.get(contract.DEVICE_ENV, "cpu"))
    if problem:
        ready[contract.READY_DEVICE] = problem
    responses.write(channel.dumps(ready))
    responses.flush()
    for line in requests:
        try:
            request = channel.loads(line)
        except channel.ChannelError as exc:
            response = _error(exc, kind=contract.KIND_GRADER)
            request = {}
        else:
            response = handle(request)
        response[contract.REPLY_ID] = request.get(contract.REQUEST_ID)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            payload = channel.dumps(response)
        except (channel.ChannelError, ValueError, TypeError) as exc:
            error = _error(exc, kind=contract.KIND_BAD_RETURN)
            payload = channel.dumps({**error, contract.REPLY_ID: request.get(contract.REQUEST_ID)})
        responses.write(payload)
        responses.flush()


def open_channels(request_fd: int, response_fd: int):
    """The request and response streams on private copies of the two descriptors; stdin
    becomes /dev/null, so that student code reading input gets nothing."""
    requests = os.fdopen(os.dup(request_fd), "rb")
    responses = os.fdopen(os.dup(response_fd), "wb")
    os.close(response_fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return requests, responses


def main() -> None:
    """A worker of its own: requests on stdin, replies on the descriptor in the environment."""
    serve(*open_channels(0, int(os.environ.pop(contract.RESPONSE_FD_ENV))))


if __name__ == "__main__":
    main()
