"""The worker's sandbox: what student code can see and reach, and the fallback without it."""

import socket
import sys
from pathlib import Path

import pytest
from conftest import REPO, grader, index_tests, json_results

from grader.sandbox import bwrap_works

needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap is not usable here")

SNOOP = '''
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
'''


@needs_bwrap
def test_student_code_sees_no_secrets_and_no_network(make_submission, tmp_path):
    """Does a snooping submission find no suites, solutions, test split, neighbour or network?"""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    neighbour = make_submission("neighbour")
    paths = [str(REPO / "solutions"), str(REPO / "grader" / "suites"), str(REPO / "datasets"),
             str(neighbour), str(tmp_path), "/opt/grader/grader/suites"]
    snoop = make_submission("snoop", {"ex1_gradients.py": SNOOP.format(paths=paths, port=port)})
    completed = grader("run", snoop, "--exercises", "ex1", "--format", "json")
    feedback = index_tests(json_results(completed)[0])["test_predict_is_the_cubic"]["feedback"]
    assert "found: []" in feedback, feedback
    with pytest.raises(BlockingIOError):
        listener.accept()
    listener.close()


def test_process_fallback_says_isolation_was_reduced(make_submission):
    """Without bubblewrap, is the result marked `process` with a warning, and still graded?"""
    completed = grader("run", make_submission("ivy"), "--exercises", "ex1", "--format", "json",
                       "--isolation", "process")
    (result,) = json_results(completed)
    assert result["isolation"] == "process" and result["score"] == 20
    assert result["warnings"] and "reduced isolation" in completed.stderr


def test_require_isolation_refuses_without_bubblewrap(make_submission):
    """With no bwrap on PATH, does --require-isolation refuse to grade (exit 2)?"""
    completed = grader("run", make_submission("jay"), "--exercises", "ex1",
                       "--require-isolation", env={"PATH": str(Path(sys.executable).parent)})
    assert completed.returncode == 2
    assert "bubblewrap" in completed.stderr and completed.stdout == ""
