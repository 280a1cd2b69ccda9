"""Hostile submissions against the sandbox, as root: cheating costs the cheater, nothing escapes.

Every ``tests/fixtures/submissions/hostile_*`` folder holds one exercise file (or edits of the
reference) that attacks the grader, and its ``expected.toml``: it exits early, monkeypatches
the checks, prints or writes fake results, hunts for the hidden tests, phones home, leaves
daemons, forks or starts threads without end, eats memory or fills its folders, hangs, forges
the reply channel, remounts read-only folders writable, goes after the grader's processes and
files, stops reading its requests, makes the grader's test functions constant, writes terminal
escapes, or saves a model that never ends when walked as data. They are graded in one
``grader run`` under bubblewrap (on ex1-ex5 without the gate: the other exercises of the same
submission must be unharmed) and, where the attack is on the machine rather than on the
checks, again with ``--isolation process`` (student code as a user of its own, no
bubblewrap). Both runs go side by side; the kit, the Python environment and the data are
hashed before and after.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import fixture_expectations as expectations
import pytest
from conftest import GRADER, REPO, describe, fixture_submission, full_marks

from grader.sandbox.identity import UID_BASE
from grader.sandbox.policy import bwrap_works, unreadable_python

ATTACKS = expectations.of(expectations.Attack)
"""The attacks on the sandbox and what each earns (those on the gate's clock, hostile_gate_*:
test_gate_hostile.py)."""
HOSTILE = sorted(ATTACKS)
WRONG_ANSWER = expectations.WRONG_ANSWER


def says(test: dict, expected: str) -> bool:
    """Does ``test``'s outcome say what ``expected`` asks (a word, or WRONG_ANSWER)?"""
    if expected == WRONG_ANSWER:
        return test["status"] == "failed" and bool(test["feedback"])
    return expected in test["feedback"]


FALLBACK = sorted(name for name, attack in ATTACKS.items() if attack.fallback is not None)
GRADED = "ex1,ex2,ex3,ex4,ex5"
DAEMON_MARKER = b"hostile-daemon-marker"
NUL = bytes(1)
PROBE_TIMEOUT_S = "15"
SECRET = "GRADER_TEST_SECRET"
needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap is not usable here")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    results: dict[str, dict]
    marker: Path
    listener: socket.socket
    survivors: list[str]
    out: Path


def survivors() -> list[str]:
    """Processes that carry the daemon marker or run as a worker uid (not those of a grader
    of another checkout on this machine, which run another environment's Python)."""
    ours = sys.prefix.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                status = (entry / "status").read_text()
                uid = int(status.split("Uid:")[1].split()[0])
                state = status.split("State:")[1].split()[0]
            except (OSError, IndexError, ValueError):
                continue
            elsewhere = b"/.venv" in cmdline and ours not in cmdline
            worker = UID_BASE <= uid < UID_BASE + 4096 and state != "Z" and not elsewhere
            if DAEMON_MARKER in cmdline or worker:
                found.append(f"{entry.name} (uid {uid}): {cmdline.replace(NUL, b' ').decode()}")
    return found


def host_state() -> dict[str, str]:
    """A digest of what a submission must never change: the kit, the Python environment's
    grader files and the training data; and the markers an escape would have written."""
    digest = {}
    watched = [REPO / "grader", REPO / "solutions"]
    for root in watched:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    site = Path(sys.prefix) / "lib"
    for path in sorted(site.rglob("*.pth")) + sorted(site.rglob("__editable__*")):
        digest[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    train = REPO / "datasets" / "cifar10" / "train"
    for path in sorted(train.glob("*.npy")):
        digest[str(path)] = f"{path.stat().st_size}:{path.stat().st_mtime_ns}"
    for folder in (REPO / "grader", REPO / "grader/probes", Path(sys.prefix), Path("/usr"), train):
        digest[f"marker in {folder}"] = str((folder / "escaped-marker.txt").exists())
    return digest


def start(tmp: Path, names: list[str], exercises: str, *extra: str):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    marker = tmp / "pickle-ran-on-the-trusted-side"
    batch = tmp / "batch"
    for name in names:
        fixture_submission(name, batch / name)
    out = tmp / "out"
    args = [*GRADER, "run", batch, "--no-gate", "--format", "json", "--exercises", exercises]
    args += ["--probe-timeout", PROBE_TIMEOUT_S, "--out", out, "--jobs", "2", *extra]
    env = dict(os.environ, HOSTILE_PICKLE_MARKER=str(marker), **{SECRET: "token-1234"})
    process = subprocess.Popen(
        list(map(str, args)), cwd=REPO, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    return process, marker, listener, out


def finish(started, timeout: float = 1200) -> Run:
    process, marker, listener, out = started
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the hostile batch did not finish in time")
    results = {}
    for line in stdout.splitlines():
        if line.strip():
            result = json.loads(line)
            results[result["submission"]] = result
    return Run(process.returncode, stdout, stderr, results, marker, listener, survivors(), out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The bubblewrap batch and the fallback batch, graded side by side, and the host's
    state before and after."""
    if not bwrap_works():
        pytest.skip("bubblewrap is not usable here")
    before = host_state()
    sandboxed = start(tmp_path_factory.mktemp("bwrap"), HOSTILE, GRADED)
    fallback = None
    if os.geteuid() == 0 and unreadable_python() is None:
        fallback = start(
            tmp_path_factory.mktemp("process"), FALLBACK, "ex1", "--isolation", "process"
        )
    done = {"bwrap": finish(sandboxed), "process": finish(fallback) if fallback else None}
    done["host"] = (before, host_state())
    return done


def run_of(runs, isolation: str) -> Run:
    if runs[isolation] is None:
        pytest.skip("reduced isolation needs root and a Python other users can read")
    return runs[isolation]


def pointed(result: dict, exercise: str) -> list[dict]:
    """The tests of ``exercise`` that carry points and were graded (not the skipped gate)."""
    return [
        t
        for t in result["tests"]
        if t["exercise"] == exercise and t["max_score"] and t["status"] != "skipped"
    ]


@pytest.mark.parametrize("isolation", ["bwrap", "process"])
def test_grader_succeeds_and_prints_only_real_results(runs, isolation):
    """Does the run exit 0 with one JSON result per submission and nothing else on stdout,
    whatever the submissions printed or wrote?"""
    run = run_of(runs, isolation)
    assert run.returncode == 0, run.stderr[-3000:]
    names = HOSTILE if isolation == "bwrap" else FALLBACK
    assert sorted(run.results) == sorted(names)
    assert len([line for line in run.stdout.splitlines() if line.strip()]) == len(names)
    assert all(r["isolation"] == isolation for r in run.results.values())
    assert all(r["sandbox"]["worker_uid"] == "own" for r in run.results.values())
    assert "\x1b" not in run.stdout + run.stderr  # student text only as visible escapes
    if isolation == "process":
        assert "reduced isolation" in run.stderr


@pytest.mark.parametrize("name", HOSTILE)
def test_attack_scores_nothing_it_should_not(runs, name):
    """Under bubblewrap, does the attacked exercise score only what the attack leaves
    alone, every failed test saying why, and the other exercises full marks?"""
    attack = ATTACKS[name]
    result = run_of(runs, "bwrap").results[name]
    tests = pointed(result, attack.exercise)
    assert result["exercises"][attack.exercise]["score"] == attack.score, describe(result)
    failed = [t for t in tests if t["status"] != "passed"]
    assert all(t["feedback"] for t in failed)
    assert failed or attack.score == result["exercises"][attack.exercise]["max_score"]
    assert all(says(t, attack.feedback) for t in failed), describe(result)
    if attack.shown:
        assert any(attack.shown in t["feedback"] for t in failed), describe(result)
    for key in GRADED.split(","):
        if key != attack.exercise:
            assert full_marks(result["exercises"][key]), f"{key}\n{describe(result)}"


@pytest.mark.parametrize("name", FALLBACK)
def test_fallback_attack_scores_zero(runs, name):
    """Without bubblewrap, does the same attack still score 0 with the same reason?"""
    result = run_of(runs, "process").results[name]
    ex1 = pointed(result, "ex1")
    assert result["exercises"]["ex1"]["score"] == 0 and ex1
    assert all(says(t, ATTACKS[name].fallback) for t in ex1), describe(result)
    assert any("reduced" in w for w in result["warnings"])


@pytest.mark.parametrize("isolation", ["bwrap", "process"])
def test_no_process_outlives_the_run(runs, isolation):
    """Are the daemons gone, and no process of a worker uid left, when the run ends?"""
    assert run_of(runs, isolation).survivors == []


def test_host_is_unchanged(runs):
    """Are the kit, the environment's grader files and the data exactly as before?"""
    before, after = runs["host"]
    assert after == before


@pytest.mark.parametrize("isolation", ["bwrap", "process"])
def test_results_on_disk_are_the_graders(runs, isolation):
    """Is every stored result the one printed (no worker rewrote one), and the output
    folder out of the workers' reach?"""
    run = run_of(runs, isolation)
    for name, printed in run.results.items():
        stored = json.loads((run.out / f"{name}.json").read_text())
        assert stored == printed
    if isolation == "process":
        assert not run.out.stat().st_mode & 0o077


@pytest.mark.parametrize("isolation", ["bwrap", "process"])
def test_pickled_payload_never_runs_on_the_trusted_side(runs, isolation):
    """Is the forged reply's pickle refused unread (the marker file it would write absent)?"""
    assert not run_of(runs, isolation).marker.exists()


@pytest.mark.parametrize("isolation", ["bwrap", "process"])
def test_loopback_listener_receives_no_connection(runs, isolation):
    """Does a listener on the host's loopback get no connection from any worker?"""
    with pytest.raises(BlockingIOError):
        run_of(runs, isolation).listener.accept()


def test_stopped_reader_costs_only_its_exercise(runs):
    """When a worker stops reading its requests, does the grader's write give up in time,
    saying so, while the rest of the batch is graded?"""
    result = run_of(runs, "bwrap").results["hostile_stops_reading"]
    feedback = {t["name"]: t["feedback"] for t in result["tests"]}
    assert "stopped reading its requests" in feedback["test_channel_stats_of_tensor"]


def test_constant_test_functions_fail_only_the_derivatives(runs):
    """With torch's functions made constant, do the derivative tests fail (the grader takes
    its differences itself) and nothing else?"""
    result = run_of(runs, "bwrap").results["hostile_constant_test_functions"]
    failed = {t["name"] for t in result["tests"] if t["status"] not in ("passed", "skipped")}
    assert failed == {"test_derivatives_first", "test_derivatives_second"}


def test_forward_that_ignores_its_input_fails_with_the_graders_weights(runs):
    """Does a forward that ignores its input fail the logits and gradient tests?"""
    result = run_of(runs, "bwrap").results["hostile_forward_ignores_input"]
    failed = {t["name"] for t in result["tests"] if t["status"] not in ("passed", "skipped")}
    assert failed == {"test_logits_match_reference_forward", "test_gradients_reach_every_layer"}


def test_limits_in_force_are_recorded(runs):
    """Does every result say which isolation and limits held (cgroup, tasks, memory)?"""
    for result in run_of(runs, "bwrap").results.values():
        sandbox = result["sandbox"]
        assert sandbox["isolation"] == "bwrap" and sandbox["capabilities"] == "none"
        assert sandbox["network"] == "none" and sandbox["limits"]["tasks"] > 0
        if os.geteuid() == 0 and sandbox["cgroup"] != "none":
            assert sandbox["limits"]["memory_bytes"] > 0


def test_terminal_escapes_are_shown_not_obeyed(runs):
    """Do escapes and control bytes from student code reach the results only as visible
    escapes (JSON, table and JUnit XML alike)?"""
    import xml.etree.ElementTree as ET

    from grader.results import formats
    from grader.results.model import SubmissionResult

    result = SubmissionResult.from_dict(run_of(runs, "bwrap").results["hostile_terminal_escapes"])
    feedback = " ".join(t.feedback for t in result.tests)
    assert "\\x1b[2J" in feedback and "\x1b" not in feedback and "\r" not in feedback
    ET.fromstring(formats.render("junit", [result]))
    assert "\x1b" not in formats.render("table", [result])


RELAY = ["hostile_relay_plants", "hostile_relay_reads"]


def worker_uid_leftovers() -> list[str]:
    """System V objects and keys of any worker uid, and relayed files in the folders any user
    may write to, on this machine now (a uid that holds keys from before is never used)."""
    from grader.sandbox import leftovers

    found = []
    for uid in {*range(UID_BASE, UID_BASE + 4096)} & _uids_with_objects():
        found += [f"uid {uid}: {name}" for name in leftovers.ipc_objects(uid)]
        if leftovers.key_count(uid):
            found.append(f"uid {uid}: keys")
    for folder in leftovers.world_writable_folders():
        if (Path(folder) / "grader-relay.py").exists():
            found.append(f"{folder}/grader-relay.py")
    return found


def _uids_with_objects() -> set[int]:
    uids = set()
    for source in ("/proc/sysvipc/shm", "/proc/sysvipc/msg", "/proc/sysvipc/sem"):
        for row in Path(source).read_text().splitlines()[1:]:
            uids.update(int(v) for v in row.split()[7:10:2])
    for line in Path("/proc/key-users").read_text().splitlines():
        uids.add(int(line.split(":")[0]))
    return uids


@pytest.mark.parametrize("jobs", ["1", "2"], ids=["one-after-the-other", "side-by-side"])
def test_nothing_of_one_submission_reaches_another(tmp_path, isolation, jobs):
    """A submission leaves its code in a System V segment and message queue, a POSIX message
    queue, the user keyring and a file in every world-writable folder (a root-owned one deep
    in /tmp among them); does another, graded after it or beside it, find none of it (and
    score 0 with the stub), while the first keeps its 20, and is nothing of theirs left on
    the machine, every sandbox's sweep recorded?"""
    shared = Path(tempfile.mkdtemp(prefix="grader-test-shared-"))
    os.chmod(shared, 0o1777)
    before = set(worker_uid_leftovers())
    try:
        run = finish(start(tmp_path, RELAY, "ex1", "--isolation", isolation, "--jobs", jobs))
        left = sorted(set(worker_uid_leftovers()) - before)
    finally:
        shutil.rmtree(shared)
    assert run.returncode == 0, run.stderr[-3000:]
    plants, reads = (run.results[name] for name in RELAY)
    assert plants["exercises"]["ex1"]["score"] == 20, describe(plants)
    assert reads["exercises"]["ex1"]["score"] == 0, describe(reads)
    assert all("found: []" in t["feedback"] for t in pointed(reads, "ex1")), describe(reads)
    for result in (plants, reads):
        assert result["sandbox"]["leftovers"]["checked"] >= 1
        assert result["sandbox"]["leftovers"]["kept"] == []
    assert left == []


@pytest.mark.slow
@needs_bwrap
def test_hostile_fixtures_cost_nothing_in_the_other_exercises(tmp_path):
    """Graded on all five exercises, does every hostile fixture keep full marks elsewhere?"""
    run = finish(start(tmp_path, HOSTILE, "ex1,ex2,ex3,ex4,ex5"), timeout=2400)
    assert run.returncode == 0, run.stderr[-3000:]
    for name in HOSTILE:
        result = run.results[name]
        for key in ("ex1", "ex2", "ex3", "ex4", "ex5"):
            if key == ATTACKS[name].exercise:
                continue
            exercise = result["exercises"][key]
            graded = exercise["max_score"] - exercise.get("ungraded_points", 0)
            assert exercise["score"] == graded, f"{name} {key}\n{describe(result)}"
    assert run.survivors == [] and not run.marker.exists()
