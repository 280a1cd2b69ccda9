"""The trusted side's deadline: a hang there costs one submission, and Ctrl-C always works.

Every submission is graded in a trusted child process; a child past its submission's
deadline is ended with every sandbox it holds (no worker process, uid, control group,
folder or file of its uids left behind) and the class goes on. A hung trusted side is made
for real: the child is stopped (SIGSTOP) while it grades, so that it neither answers nor
acts on SIGINT; and a process lost in numpy's walk of a saved model built from shared lists
(how the trusted side once hung) is ended with its sandbox. Also here: that saved model,
graded in a class with ``--jobs 1`` and ``--jobs 2``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import GRADER, REPO, describe, fixture_submission, grader, json_results

from grader.batch import reaper
from grader.batch.deadline import MARGIN_S, STARTS_S, default_deadline_s
from grader.course.recipes import GateSettings, resolve
from grader.gate.trial import TRANSFER_S
from grader.grading.plan import Plan
from grader.sandbox import cgroups
from grader.sandbox.limits import Limits
from grader.sandbox.policy import bwrap_works, unreadable_python
from grader.sandbox.processes import descendants, processes_of

ROOT = os.geteuid() == 0
HANG_IMPORT_S = 15
"""The hung submission's import sleeps this long: the window in which its child is stopped."""
DEADLINE_S = 45
"""Longer than grading the hung submission takes when nothing stops its child."""
DAEMON = "sleep 600"
LEFT_FILE = "deadline-left-by-"
needs_root_bwrap = pytest.mark.skipif(
    not (ROOT and bwrap_works()), reason="needs root and a working bubblewrap"
)


def hanging_ex1() -> str:
    """The reference's ex1 that, when imported, leaves a daemon (``sleep 600``) and a file of
    its uid in /tmp, then sleeps ``HANG_IMPORT_S``: it is graded while its child is stopped."""
    head = f"""import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open("/tmp/{LEFT_FILE}" + str(os.getuid()), "w").write("x")
        os.execv("/bin/sleep", "{DAEMON}".split())
    os._exit(0)
os.wait()
time.sleep({HANG_IMPORT_S})
"""
    return head + (REPO / "solutions" / "ex1_gradients.py").read_text()


def make_class(root: Path, names: list[str], hung: str) -> Path:
    for name in names:
        folder = root / name
        folder.mkdir(parents=True)
        source = (REPO / "solutions" / "ex1_gradients.py").read_text()
        (folder / "ex1_gradients.py").write_text(hanging_ex1() if name == hung else source)
    return root


def start(batch: Path, out: Path, err: Path, *extra) -> subprocess.Popen:
    args = [*GRADER, "run", batch, "--exercises", "ex1", "--format", "json", "--out", out]
    with err.open("w") as stderr:
        return subprocess.Popen(
            list(map(str, [*args, *extra])), cwd=REPO, stdout=subprocess.PIPE, stderr=stderr,
            text=True,
        )  # fmt: skip


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"no {what} within {timeout_s} s")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def hang_child(run: subprocess.Popen, err: Path, hung: str) -> reaper.Held:
    """Stop the child that grades ``hung`` once its worker left the daemon; what it holds."""
    wait_for(lambda: f"grading {hung} ..." in err.read_text(), 300, f"start of {hung}")

    def grading_child():
        for pid in descendants(run.pid):
            if "grader.batch.child" in cmdline(pid):
                if any(cmdline(p).startswith(DAEMON) for p in descendants(pid)):
                    return pid
        return None

    child = wait_for(grading_child, 120, "daemon of the hung submission")
    os.kill(child, signal.SIGSTOP)
    return reaper.held_by(child)


def left_behind(held: reaper.Held) -> list[str]:
    """What of ``held`` still exists: processes of its uids, its groups, its folders, files."""
    left = [f"uid {uid}: {processes_of(uid)}" for uid in held.uids if processes_of(uid)]
    for name in held.groups:
        left += [str(r / name) for r in cgroups.detect().roots.values() if (r / name).exists()]
    left += [str(folder) for folder in held.folders if folder.exists()]
    left += [str(p) for uid in held.uids if (p := Path(f"/tmp/{LEFT_FILE}{uid}")).exists()]
    return left


@needs_root_bwrap
@pytest.mark.parametrize("isolation", ["bwrap", pytest.param("process", marks=pytest.mark.slow)])
def test_a_hung_trusted_side_costs_only_its_submission(tmp_path, isolation):
    """With the child that grades one submission hung (stopped: it answers nothing and
    ignores SIGINT), is that submission stopped at the deadline with its own grader error,
    the rest of the class graded, and nothing of the child's sandboxes left behind?"""
    if isolation == "process" and unreadable_python():
        pytest.skip("reduced isolation needs a Python other users can read")
    batch = make_class(tmp_path / "class", ["ann", "hung", "zed"], hung="hung")
    out, err = tmp_path / "out", tmp_path / "stderr.txt"
    run = start(batch, out, err, "--deadline", DEADLINE_S, "--isolation", isolation)
    try:
        held = hang_child(run, err, "hung")
        stdout, _ = run.communicate(timeout=300)
    finally:
        run.kill()
    stderr = err.read_text()
    assert run.returncode == 2, stderr[-3000:]
    assert "hung: NOT GRADED: grading stopped after" in stderr
    assert "on the trusted side" in stderr.split("summary:")[1]
    results = json_results(subprocess.CompletedProcess(run.args, run.returncode, stdout))
    scores = {r["submission"]: r["score"] for r in results}
    assert scores == {"ann": 20, "zed": 20}
    assert sorted(p.name for p in out.glob("*.json")) == ["ann.json", "zed.json"]
    assert not list(out.glob(".*.tmp"))
    assert held.uids and held.folders and (held.groups or not cgroups.detect().version)
    assert left_behind(held) == []


@needs_root_bwrap
def test_ctrl_c_ends_a_run_whose_trusted_side_hangs(tmp_path):
    """Does SIGINT end a run within seconds while a child hangs (stopped: it cannot obey
    it), keeping the finished result, writing no partial one, leaving no sandbox behind?"""
    batch = make_class(tmp_path / "class", ["ann", "hung"], hung="hung")
    out, err = tmp_path / "out", tmp_path / "stderr.txt"
    run = start(batch, out, err)
    try:
        held = hang_child(run, err, "hung")
        run.send_signal(signal.SIGINT)
        began = time.monotonic()
        run.communicate(timeout=60)
        took = time.monotonic() - began
    finally:
        run.kill()
    assert run.returncode == 130, err.read_text()[-3000:]
    assert took < 20, f"Ctrl-C took {took:.1f} s"
    assert sorted(p.name for p in out.glob("*.json")) == ["ann.json"]
    assert not list(out.glob(".*.tmp"))
    assert "interrupted: 1 of 2 graded" in err.read_text()
    assert left_behind(held) == []


WALK = """
import sys
from pathlib import Path

import numpy as np

from grader.sandbox.client import WorkerClient
from grader.sandbox.launch import WorkerSpec

worker = WorkerClient(WorkerSpec(submission=Path(sys.argv[1])), start_timeout_s=60)
worker.call("load", timeout_s=60, module="ex1_gradients")
nested = [0.0]
for _ in range(60):
    nested = [nested, nested]  # what torch.load(weights_only=True) built from a 2 kB file
print("walking", flush=True)
np.asarray(nested)  # 2**60 steps
"""


@needs_root_bwrap
def test_a_process_lost_in_numpys_walk_is_ended_with_its_sandbox(tmp_path):
    """A trusted process holding a live sandbox and lost in numpy's walk of a saved model
    made of shared lists: does the reaper end it and everything its sandbox held?"""
    submission = fixture_submission(None, tmp_path / "ref")
    walker = subprocess.Popen(
        [sys.executable, "-c", WALK, str(submission)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert walker.stdout.readline().strip() == "walking"
        time.sleep(1)  # well into the walk
        assert walker.poll() is None
        held = reaper.end(walker)
    finally:
        walker.kill()
    assert walker.returncode == -signal.SIGKILL
    assert held.uids and held.folders and (held.groups or not cgroups.detect().version)
    assert left_behind(held) == []


HOSTILE_CLASS = {
    "alice": None,
    "bob": "bug_load_model_without_state_dict",
    "mallory": "hostile_save_model_shared_lists",
}


def test_the_hanging_saved_model_costs_only_its_own_test(tmp_path):
    """Graded in a class with --jobs 1 and with --jobs 2, does the 2 kB saved model of
    shared lists (2**60 numbers when walked) fail only its own round-trip test, and the
    class complete with everyone's normal scores?"""
    batch = tmp_path / "class"
    for name, fixture in HOSTILE_CLASS.items():
        fixture_submission(fixture, batch / name)
    args = [*GRADER, "run", batch, "--exercises", "ex5", "--no-gate", "--format", "json"]
    runs = {
        jobs: subprocess.Popen(
            list(map(str, [*args, "--jobs", jobs])),
            cwd=REPO,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for jobs in (1, 2)
    }
    for jobs, run in runs.items():
        try:
            stdout, stderr = run.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for other in runs.values():
                other.kill()
            pytest.fail(f"the class did not finish with --jobs {jobs}")
        assert run.returncode == 0, stderr[-3000:]
        completed = subprocess.CompletedProcess(run.args, run.returncode, stdout)
        results = {r["submission"]: r for r in json_results(completed)}
        failed = {
            name: {t["name"]: t["feedback"] for t in r["tests"] if t["status"] == "failed"}
            for name, r in results.items()
        }
        assert failed["alice"] == {}, describe(results["alice"])
        assert list(failed["bob"]) == ["test_save_and_load_round_trip"]
        assert list(failed["mallory"]) == ["test_save_and_load_round_trip"]
        assert "(it holds a list there)" in failed["mallory"]["test_save_and_load_round_trip"]
        assert results["mallory"]["score"] == results["bob"]["score"] == 19


def test_the_default_deadline_follows_the_budgets():
    """Is the default deadline each exercise's budget and starts plus a margin, and with
    the gate its timed window's wall-clock cap once per job it may wait behind?"""
    per_exercise = Limits().exercise_budget_s + STARTS_S
    plan = Plan(("ex1", "ex2"))
    assert default_deadline_s(plan, 1) == MARGIN_S + 2 * per_exercise
    recipe = resolve("cpu", {}, "the test", {})
    plan = Plan(("ex5",), gate=GateSettings(recipe, {"wall_s": 60.0, "cpu_s": 100.0}))
    one, two = default_deadline_s(plan, 1), default_deadline_s(plan, 2)
    gate = two - one
    assert one == MARGIN_S + per_exercise + gate
    assert gate >= 60.0 * recipe["time_factor"] + TRANSFER_S


def test_a_deadline_must_be_positive():
    """Is --deadline 0 refused with the reason, before anything is graded?"""
    completed = grader("run", "--reference", "--deadline", "0")
    assert completed.returncode == 2 and "--deadline must be" in completed.stderr


FORGER = """
import os, subprocess, sys, time
subprocess.Popen(["sh", "-c", "sleep 60; :", os.environ["FORGED"]])  # a worker's: any argv
time.sleep(60)
"""


def test_only_a_sandboxs_root_process_names_its_folder(tmp_path):
    """Does the reaper take a worker's folder from the sandbox's root process (the grader
    wrote its command line) and never from a process below it, whose code could name another
    worker's folder for removal?"""
    import tempfile

    folder = Path(tempfile.gettempdir())
    root, forged = folder / "grader-worker-root0001", folder / "grader-worker-forged01"
    child = subprocess.Popen(["sleep", "60"])  # stands for the grading child
    sandbox = subprocess.Popen(
        [sys.executable, "-c", FORGER, str(root)], env={**os.environ, "FORGED": str(forged)}
    )
    try:
        below = wait_for(lambda: descendants(sandbox.pid), 30, "process below the root")
        held = reaper.held_by(os.getpid())
        assert root in held.folders and forged not in held.folders
        assert below and all(pid in held.pids for pid in below)
    finally:
        for process in (child, sandbox):
            process.kill()
        for pid in descendants(os.getpid()):
            os.kill(pid, signal.SIGKILL)


def test_a_net_of_a_million_entries_is_refused_before_weights_are_made():
    """Is a student's Net whose state_dict claims over 1,000 entries (each a tensor made here
    and a record of the file sent back) failed at once, with the course's Net's count?"""
    from grader.suites import test_ex5

    shapes = {f"layer{i}": {"shape": [0], "float": True} for i in range(1001)}
    with pytest.raises(pytest.fail.Exception, match="more than 1,000; the course's Net has 10"):
        test_ex5._weights_like(shapes, 0)
    assert len(test_ex5._weights_like(dict(list(shapes.items())[:10]), 0)) == 10
