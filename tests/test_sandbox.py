"""The worker's sandbox: what student code can see and reach, and the fallback without it."""

import socket
import sys
from pathlib import Path

import pytest
from conftest import REPO, grader, index_tests, json_results

from grader.processes import Limits, descendants, kill_tree, rlimits
from grader.sandbox import bwrap_works

needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap is not usable here")

SNOOP = """
import os, socket, sys

def _look(port):
    found = []
    for path in {paths!r}:
        if os.path.exists(path):
            found.append(path)
    for root, dirs, files in os.walk("/"):
        if root.startswith(("/proc", "/sys", "/dev", "/usr", sys.prefix, sys.base_prefix)):
            dirs[:] = []
            continue
        for name in dirs + files:
            if name in ("suites", "solutions", "datasets", "neighbour", "cifar10"):
                found.append(os.path.join(root, name))
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        found.append("connected")
    except OSError:
        pass
    return found


def predict(coeffs, x):
    raise RuntimeError("found: " + repr(_look({port})))
"""


@needs_bwrap
def test_student_code_sees_no_secrets_and_no_network(make_submission, tmp_path):
    """Does a snooping submission find no suites, solutions, test split, neighbour or network?"""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    neighbour = make_submission("neighbour")
    paths = [
        str(REPO / "solutions"),
        str(REPO / "grader" / "suites"),
        str(REPO / "datasets"),
        str(neighbour),
        str(tmp_path),
        "/opt/grader/grader/suites",
    ]
    snoop = make_submission("snoop", {"ex1_gradients.py": SNOOP.format(paths=paths, port=port)})
    completed = grader("run", snoop, "--exercises", "ex1", "--format", "json")
    feedback = index_tests(json_results(completed)[0])["test_predict_is_the_cubic"]["feedback"]
    assert "found: []" in feedback, feedback
    with pytest.raises(BlockingIOError):
        listener.accept()
    listener.close()


def test_process_fallback_says_isolation_was_reduced(make_submission):
    """Without bubblewrap, is the result marked `process` with a warning, and still graded?"""
    completed = grader(
        "run",
        make_submission("ivy"),
        "--exercises",
        "ex1",
        "--format",
        "json",
        "--isolation",
        "process",
    )
    (result,) = json_results(completed)
    assert result["isolation"] == "process" and result["score"] == 20
    assert result["warnings"] and "reduced isolation" in completed.stderr


def test_require_isolation_refuses_without_bubblewrap(make_submission):
    """With no bwrap on PATH, does --require-isolation refuse to grade (exit 2)?"""
    completed = grader(
        "run",
        make_submission("jay"),
        "--exercises",
        "ex1",
        "--require-isolation",
        env={"PATH": str(Path(sys.executable).parent)},
    )
    assert completed.returncode == 2
    assert "bubblewrap" in completed.stderr and completed.stdout == ""


REPORT = """
import json, os, resource

def _report():
    names = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CORE")
    limits = {name: resource.getrlimit(getattr(resource, name))[0] for name in names}
    tmp = sorted(os.listdir("/tmp"))
    writable = {}
    for folder in ("/submission", "/tmp", os.path.expanduser("~"), "/usr", "/opt/grader"):
        try:
            with open(os.path.join(folder, "probe.txt"), "w") as handle:
                handle.write("x")
            writable[folder] = True
        except OSError:
            writable[folder] = False
    return {"env": sorted(os.environ), "limits": limits, "writable": writable,
            "tmp": tmp}

def predict(coeffs, x):
    raise RuntimeError("REPORT" + json.dumps(_report()))
"""


@needs_bwrap
def test_worker_environment_limits_and_mounts(make_submission):
    """In the sandbox, is the environment scrubbed, are the limits set, the submission
    read-only and /tmp and home private and writable?"""
    import json

    sub = make_submission("reporter", {"ex1_gradients.py": REPORT})
    completed = grader(
        "run", sub, "--exercises", "ex1", "--format", "json", env={"SECRET_TOKEN": "do-not-leak"}
    )
    feedback = index_tests(json_results(completed)[0])["test_predict_is_the_cubic"]["feedback"]
    report = json.loads(feedback.split("REPORT", 1)[1].rsplit(" (at ", 1)[0])
    assert "SECRET_TOKEN" not in report["env"]
    assert set(report["env"]) <= {
        "PATH",
        "HOME",
        "LANG",
        "USER",
        "GRADER_SUBMISSION",
        "GRADER_DEVICE",
        "OMP_NUM_THREADS",
        "CUDA_VISIBLE_DEVICES",
        "LC_CTYPE",
        "PWD",
    }
    assert report["limits"]["RLIMIT_AS"] == Limits().address_space_bytes
    assert report["limits"]["RLIMIT_CORE"] == 0 and report["limits"]["RLIMIT_CPU"] > 0
    assert report["writable"] == {
        "/submission": False,
        "/tmp": True,
        "/home/student": True,
        "/usr": False,
        "/opt/grader": False,
    }
    # /tmp is a fresh tmpfs: it holds nothing but the mount points of the read-only Python
    # roots where those live under /tmp (a checkout cloned there brings its .venv)
    roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    allowed = {r.relative_to("/tmp").parts[0] for r in roots if r.is_relative_to("/tmp")}
    assert set(report["tmp"]) <= allowed


def test_no_address_space_limit_on_cuda():
    """Is RLIMIT_AS left out for cuda (the driver reserves far more than it uses), set on cpu?"""
    import resource

    assert resource.RLIMIT_AS in rlimits(Limits(), "cpu")
    assert resource.RLIMIT_AS not in rlimits(Limits(), "cuda")


def test_kill_tree_catches_setsid_and_double_forked_processes(tmp_path):
    """Does kill_tree end a daemon that called setsid and double-forked under a subreaper?"""
    import subprocess
    import time

    script = tmp_path / "daemon.py"
    script.write_text(
        "import ctypes, os, time\n"
        "ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(120)\n"
        "    os._exit(0)\n"
        "time.sleep(120)\n"
    )
    root = subprocess.Popen([sys.executable, str(script)])
    deadline = time.monotonic() + 10
    while len(descendants(root.pid)) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    daemons = descendants(root.pid)
    assert daemons, "the daemon was not adopted by its subreaper"
    kill_tree(root.pid)
    root.wait(timeout=10)
    time.sleep(0.2)
    assert not [
        pid
        for pid in daemons
        if Path(f"/proc/{pid}").exists()
        and "Z" not in Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2][:3]
    ]


def test_forged_array_headers_are_refused_without_allocating():
    """Does the trusted side refuse an .npy whose header claims a huge shape, or a pickle?"""
    import base64
    import io

    import numpy as np

    from grader import channel

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    )
    pickled = io.BytesIO()
    np.save(pickled, np.array([{}], dtype=object), allow_pickle=True)
    for raw in (header.getvalue() + bytes(8), pickled.getvalue()):
        with pytest.raises(channel.ChannelError):
            channel.decode({channel.ARRAY_TAG: base64.b64encode(raw).decode()})
    with pytest.raises(channel.ChannelError):
        channel.loads(b"[" * 100_000 + b"]" * 100_000)
