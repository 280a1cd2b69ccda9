"""Workers forked from a fork server: each as isolated from the others as a worker of its own."""

import os

import pytest
from conftest import fixture_submission, grader, json_results

from grader.errors import ProbeFailure
from grader.sandbox import cgroups
from grader.sandbox.client import WorkerClient, WorkerSpec
from grader.sandbox.forkserver import ForkServer
from grader.sandbox.leftovers import Ledger
from grader.sandbox.policy import bwrap_works
from grader.sandbox.processes import ancestors, processes_of

# What a worker finds of the ones before it, then what it leaves for the ones after it: files
# in every writable folder, a daemon in a session of its own, a patched module.
LEAVE_TRACES = """
import os, sys, tempfile, time
import numpy as np

MARK = "grader-test-mark-" + str(os.getuid())
FOLDERS = sorted({"/tmp", tempfile.gettempdir(), os.path.expanduser("~"), "/dev/shm"})
WHO = "%s"

def _others():
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (1, os.getpid(), os.getppid()):
            continue
        try:
            with open(f"/proc/{name}/status") as handle:
                status = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            continue
        if int(status["Uid"].split()[0]) == os.getuid() and status["State"].split()[0] != "Z":
            found.append(int(name))
    return found

def predict(coeffs, x):
    seen = {
        "who": WHO,
        "files": [f for f in FOLDERS if os.path.exists(os.path.join(f, MARK))],
        "patched": getattr(np, "patched_by_student", False),
        "others": _others(),
    }
    for folder in FOLDERS:
        with open(os.path.join(folder, MARK), "w") as handle:
            handle.write("left behind")
    np.patched_by_student = True
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(300)
        os._exit(0)
    time.sleep(0.2)
    raise RuntimeError(repr(seen))
"""

# Student code going for the fork server, its parent: its secrets, its memory, its control.
GO_FOR_THE_SERVER = """
import ctypes, os

def predict(coeffs, x):
    server = os.getppid()
    results = {}
    for name in ("environ", "mem", "fd"):
        try:
            path = f"/proc/{server}/{name}"
            os.listdir(path) if name == "fd" else open(path, "rb").read(16)
            results[name] = "read"
        except OSError as exc:
            results[name] = exc.errno
    libc = ctypes.CDLL(None, use_errno=True)
    results["ptrace"] = libc.ptrace(16, server, 0, 0)  # PTRACE_ATTACH
    raise RuntimeError(repr(results))
"""

STOP_THE_SERVER = """
import os, signal

def predict(coeffs, x):
    os.kill(os.getppid(), signal.%s)
    return [0.0]
"""


def _seen(worker) -> dict:
    import ast

    worker.call("load", timeout_s=60, module="ex1_gradients")
    with pytest.raises(ProbeFailure) as failure:
        worker.call("ex1.predict", timeout_s=60, coeffs=[0, 0, 0, 0], x=[0.0])
    message = failure.value.message
    return ast.literal_eval(message.split("RuntimeError: ", 1)[1])


def test_a_forked_worker_finds_nothing_of_the_one_before(make_submission, isolation):
    """Do files in every writable folder, a setsid daemon and a patched module left by one
    forked worker stay out of the next, of the same submission and of the next submission
    (whose own files it imports, in a sandbox of its own: another uid), and is no process
    of either uid left, nor anything the sweep has to keep, when each sandbox ends?"""
    first = make_submission("first", {"ex1_gradients.py": LEAVE_TRACES % "first"})
    second = make_submission("second", {"ex1_gradients.py": LEAVE_TRACES % "second"})
    views, uids = [], []
    for submission, workers in ((first, 2), (second, 1)):
        spec = WorkerSpec(submission=submission.resolve(), isolation=isolation, background=True)
        ledger = Ledger()
        with ForkServer(spec, ledger=ledger) as server:
            for _ in range(workers):
                with WorkerClient(spec, server=server) as worker:
                    views.append(_seen(worker))
                    assert worker.server is server  # forked, not started on its own
            uid = server.identity.uid
            assert server.starts == 1
            # the fork server and the sandbox it runs in (bwrap runs as the worker uid)
            assert set(processes_of(uid)) <= ancestors(server.pid, server.process.pid)
        uids.append(uid)
        assert not processes_of(uid)
        assert ledger.record() == {"checked": 1, "found": [], "kept": []}
    assert uids[0] != uids[1]
    assert [v["who"] for v in views] == ["first", "first", "second"]
    for view in views:
        assert view == {**view, "files": [], "patched": False, "others": []}


def test_a_worker_that_cannot_reach_the_gpu_is_the_graders_fault(make_submission, isolation):
    """Asked for cuda where the sandbox cannot use it (here: a machine with no GPU), does a
    worker, forked or on its own, say so before any student code runs, as the grader's
    error (not a test the student fails)?"""
    import torch

    from grader.errors import SandboxError

    if torch.cuda.is_available():
        pytest.skip("this machine's sandbox reaches a GPU")
    # were it imported, the load would fail as the student's (ProbeFailure), not the grader's
    ran = "raise SystemExit('student code ran')\n"
    sub = make_submission("gpu", {"ex1_gradients.py": ran}).resolve()
    spec = WorkerSpec(submission=sub, isolation=isolation, device="cuda", background=True)
    with ForkServer(spec) as server:
        for given in (server, None):
            with WorkerClient(spec, server=given) as worker:
                with pytest.raises(SandboxError, match="cannot use the cuda device.*no CUDA"):
                    worker.call("load", timeout_s=60, module="ex1_gradients")
                assert worker.server is given


BESIDE_THE_ENVIRONMENT = """
import os
PARENT = %r
def predict(coeffs, x):
    seen = (sorted(os.listdir(PARENT)), os.path.exists(os.path.join(PARENT, "env", "marker")))
    try:
        open(os.path.join(PARENT, "planted"), "w").close()
    except OSError:
        pass
    raise RuntimeError(repr(seen))
"""


def test_a_python_environment_under_tmp_outlasts_the_emptying_of_tmp(make_submission, monkeypatch):
    """A checkout cloned under /tmp has its venv bound into the sandbox's /tmp: between
    workers, is /tmp emptied around that mount (what a worker wrote beside it gone) and the
    fork server kept, rather than the sandbox given up after every worker?"""
    import ast
    import shutil
    import tempfile
    from pathlib import Path

    from grader.sandbox import bwrap

    if not bwrap_works():
        pytest.skip("no bubblewrap here")
    parent = Path(tempfile.mkdtemp(prefix="grader-env-", dir="/tmp"))
    try:
        (parent / "env").mkdir()
        (parent / "env" / "marker").write_text("x")
        for path in (parent, parent / "env", parent / "env" / "marker"):
            path.chmod(0o755)
        roots = bwrap.python_roots()
        monkeypatch.setattr(bwrap, "python_roots", lambda: [*roots, parent / "env"])
        code = BESIDE_THE_ENVIRONMENT % str(parent)
        sub = make_submission("beside", {"ex1_gradients.py": code}).resolve()
        spec = WorkerSpec(submission=sub, isolation="bwrap", background=True)
        views = []
        with ForkServer(spec) as server:
            for _ in range(2):
                with WorkerClient(spec, server=server) as worker:
                    worker.call("load", timeout_s=60, module="ex1_gradients")
                    with pytest.raises(ProbeFailure) as failure:
                        worker.call("ex1.predict", timeout_s=60, coeffs=[0, 0, 0, 0], x=[0.0])
                    assert worker.server is server
                views.append(ast.literal_eval(failure.value.message.split("RuntimeError: ")[1]))
            assert server.starts == 1
        assert views == [(["env"], True), (["env"], True)]
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def test_student_code_cannot_read_trace_or_reach_the_fork_server(make_submission, isolation):
    """Is the fork server, which runs as the worker's uid, closed to student code: no
    environment, memory or descriptors under /proc, no ptrace?"""
    import errno

    sub = make_submission("prying", {"ex1_gradients.py": GO_FOR_THE_SERVER}).resolve()
    spec = WorkerSpec(submission=sub, isolation=isolation, background=True)
    with ForkServer(spec) as server, WorkerClient(spec, server=server) as worker:
        results = _seen(worker)
    assert results["ptrace"] == -1
    for name in ("environ", "mem", "fd"):
        assert results[name] in (errno.EACCES, errno.EPERM), (name, results)


@pytest.mark.parametrize("sig", ["SIGSTOP", "SIGKILL"])
def test_stopping_or_killing_the_fork_server_costs_only_a_new_sandbox(
    make_submission, isolation, sig
):
    """When student code stops or kills the fork server, does the next worker still start
    (in a fresh sandbox) and answer?"""
    sub = make_submission("stopper", {"ex1_gradients.py": STOP_THE_SERVER % sig}).resolve()
    spec = WorkerSpec(submission=sub, isolation=isolation, background=True)
    with ForkServer(spec) as server:
        for _ in range(2):
            with WorkerClient(spec, server=server) as worker:
                worker.call("load", timeout_s=60, module="ex1_gradients")
                assert worker.call("ex1.predict", timeout_s=60, coeffs=[0] * 4, x=[0.0]) == [0]
                assert worker.server is server
        assert server.starts == 2


def test_a_forked_worker_has_a_control_group_of_its_own(make_submission):
    """Is a forked worker moved into its own group (its limits, its kill), apart from the
    fork server's?"""
    if cgroups.detect().version is None or not bwrap_works():
        pytest.skip("no control groups or no bubblewrap here")
    sub = make_submission("plain", keep={"ex1_gradients"}).resolve()
    spec = WorkerSpec(submission=sub, background=True)
    with ForkServer(spec) as server, WorkerClient(spec, server=server) as worker:
        worker.call("load", timeout_s=60, module="ex1_gradients")
        assert worker._group.pids() == [worker.process.pid]
        assert server.pid not in worker._group.pids()
        assert server.pid in server._box.group.pids()


@pytest.mark.slow
def test_forked_and_fresh_workers_grade_alike(tmp_path):
    """Does a class graded with forked workers get the scores and feedback it gets with a new
    Python per worker (a correct submission, two bugs, a hostile one, a broken one)?"""
    batch = tmp_path / "class"
    names = [
        "correct_tutorial_style",
        "bug_sgd_step_in_place",
        "bug_no_zero_grad",
        "hostile_monkeypatch_ex1",
        "broken_import_error",
    ]
    for name in names:
        fixture_submission(name, batch / name)
    runs = {}
    for mode in ("fresh", "fork"):
        env = dict(os.environ, GRADER_WORKERS=mode)
        done = grader("run", batch, "--no-gate", "--format", "json", env=env)
        runs[mode] = {
            r["submission"]: [
                (t["name"], t["status"], t["score"], t["feedback"]) for t in r["tests"]
            ]
            for r in json_results(done)
        }
    assert sorted(runs["fork"]) == sorted(names)
    assert runs["fork"] == runs["fresh"]
