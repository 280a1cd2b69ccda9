"""Hostile submissions against the sandbox: cheating costs the cheater, and nothing escapes.

Every ``tests/fixtures/submissions/hostile_*`` folder holds an ``ex1_gradients.py`` that
attacks the grader (exits early, monkeypatches the checks, prints or writes fake results,
hunts for the hidden tests, phones home, leaves daemons, forks too much, eats memory,
hangs, forges the reply channel with a pickle). They are graded in one ``grader run``
under bubblewrap (ex1 and ex2: the next worker of the same submission must be unharmed; the
slow test grades all five exercises), and those that make sense without bubblewrap are
graded again with ``--isolation process``. Both runs go side by side.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import FIXTURES, GRADER, REPO, describe, fixture_submission

from grader.sandbox import bwrap_works

HOSTILE = sorted(p.name for p in FIXTURES.glob("hostile_*") if p.is_dir())
# Kinds that attack the process tree, the channel or the output: the fallback must hold too.
# (Snooping and phoning home need bubblewrap's namespaces to come back empty.)
FALLBACK = [
    "hostile_daemon_setsid",
    "hostile_fake_results",
    "hostile_forged_pickle_reply",
    "hostile_fork_many",
    "hostile_memory_hog",
    "hostile_os_exit_at_import",
]
# What each fixture's ex1 feedback must say (every pointed ex1 test); "": the ordinary
# feedback on a wrong answer (the attack itself changed nothing).
FEEDBACK = {
    "hostile_daemon_setsid": "",
    "hostile_fake_results": "",
    "hostile_forged_pickle_reply": "malformed data",
    "hostile_fork_many": "more than 64 processes",
    "hostile_hang_at_import": "no answer within",
    "hostile_memory_hog": "MemoryError",
    "hostile_monkeypatch_ex1": "",
    "hostile_os_exit_at_import": "worker process ended",
    "hostile_phone_home": "connected: []",
    "hostile_snoop_filesystem": "found: []",
    "hostile_sys_exit_in_function": "sys.exit(0)",
}
DAEMON_MARKER = b"hostile-daemon-marker"
NUL = bytes(1)
PROBE_TIMEOUT_S = "15"
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


def build_batch(folder: Path, names: list[str]) -> Path:
    """A folder of submissions: for each fixture, solutions/ overlaid with its files."""
    for name in names:
        fixture_submission(name, folder / name)
    return folder


def survivors() -> list[str]:
    """Processes (pid: command line) that carry the daemon fixture's marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if DAEMON_MARKER in cmdline:
                found.append(f"{entry.name}: {cmdline.replace(NUL, b' ').decode()}")
    return found


def start(tmp: Path, names: list[str], exercises: str, *extra: str):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    marker = tmp / "pickle-ran-on-the-trusted-side"
    batch = build_batch(tmp / "batch", names)
    args = [*GRADER, "run", batch, "--no-gate", "--format", "json", "--exercises", exercises]
    args += ["--probe-timeout", PROBE_TIMEOUT_S, *extra]
    env = dict(os.environ, HOSTILE_PICKLE_MARKER=str(marker))
    process = subprocess.Popen(
        list(map(str, args)), cwd=REPO, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    return process, marker, listener


def finish(started, timeout: float = 600) -> Run:
    process, marker, listener = started
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the hostile batch did not finish in time")
    results = {}
    for line in out.splitlines():
        if line.strip():
            result = json.loads(line)
            results[result["submission"]] = result
    return Run(process.returncode, out, err, results, marker, listener, survivors())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The bubblewrap batch (ex1, ex2) and the fallback batch (ex1), graded side by side."""
    if not bwrap_works():
        pytest.skip("bubblewrap is not usable here")
    sandboxed = start(tmp_path_factory.mktemp("bwrap"), HOSTILE, "ex1,ex2")
    fallback = start(tmp_path_factory.mktemp("process"), FALLBACK, "ex1", "--isolation", "process")
    return {"bwrap": finish(sandboxed), "process": finish(fallback)}


def pointed(result: dict, exercise: str) -> list[dict]:
    return [t for t in result["tests"] if t["exercise"] == exercise and t["max_score"]]


def test_every_hostile_fixture_is_described():
    """Does every hostile_* fixture say what its ex1 feedback must hold?"""
    assert set(HOSTILE) == set(FEEDBACK)
    assert set(FALLBACK) <= set(HOSTILE)


@pytest.mark.parametrize("isolation", ["bwrap", "process"])
def test_grader_succeeds_and_prints_only_real_results(runs, isolation):
    """Does the run exit 0 with one JSON result per submission and nothing else on stdout,
    whatever the submissions printed or wrote?"""
    run = runs[isolation]
    assert run.returncode == 0, run.stderr[-3000:]
    names = HOSTILE if isolation == "bwrap" else FALLBACK
    assert sorted(run.results) == sorted(names)
    assert len([line for line in run.stdout.splitlines() if line.strip()]) == len(names)
    assert all(r["isolation"] == isolation for r in run.results.values())
    assert 'score": 100' not in run.stdout and "PASSED 20/20" not in run.stdout
    if isolation == "process":
        assert "reduced isolation" in run.stderr


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_ex1_scores_zero_with_a_clear_reason(runs, name):
    """Does the attack score 0 on ex1, every test saying why, with ex2 (the next worker of
    the same submission) at full marks?"""
    result = runs["bwrap"].results[name]
    ex1 = pointed(result, "ex1")
    assert result["exercises"]["ex1"]["score"] == 0
    assert ex1 and all(t["status"] != "passed" and t["feedback"] for t in ex1)
    assert all(FEEDBACK[name] in t["feedback"] for t in ex1), describe(result)
    ex2 = result["exercises"]["ex2"]
    assert ex2["score"] == ex2["max_score"] == 20, describe(result)


@pytest.mark.parametrize("name", FALLBACK)
def test_fallback_scores_zero_with_a_clear_reason(runs, name):
    """Without bubblewrap, does the same attack still score 0 with the same reason?"""
    result = runs["process"].results[name]
    ex1 = pointed(result, "ex1")
    assert result["exercises"]["ex1"]["score"] == 0 and ex1
    assert all(FEEDBACK[name] in t["feedback"] for t in ex1), describe(result)
    assert result["warnings"], "the result must say that isolation was reduced"


@pytest.mark.parametrize("isolation", ["bwrap", "process"])
def test_no_process_outlives_the_run(runs, isolation):
    """Are the plain child and the setsid'ed double-forked daemon gone when the run ends?"""
    assert runs[isolation].survivors == []


@pytest.mark.parametrize("isolation", ["bwrap", "process"])
def test_pickled_payload_never_runs_on_the_trusted_side(runs, isolation):
    """Is the forged reply's pickle refused unread (the marker file it would write absent)?"""
    assert not runs[isolation].marker.exists()


def test_loopback_listener_receives_no_connection(runs):
    """Does a listener on the host's loopback get no connection from the sandboxed worker?"""
    with pytest.raises(BlockingIOError):
        runs["bwrap"].listener.accept()


def test_worker_reply_channel_resyncs_after_a_forged_reply(runs):
    """After a forged reply, does the next exercise's worker grade normally (ex2 full)?"""
    result = runs["bwrap"].results["hostile_forged_pickle_reply"]
    assert result["exercises"]["ex2"]["score"] == 20


@pytest.mark.slow
@needs_bwrap
def test_hostile_fixtures_cost_nothing_in_the_other_exercises(tmp_path):
    """Graded on all five exercises, does every hostile fixture keep full marks on ex2-ex5?"""
    run = finish(start(tmp_path, HOSTILE, "ex1,ex2,ex3,ex4,ex5"), timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    for name in HOSTILE:
        result = run.results[name]
        for key in ("ex2", "ex3", "ex4", "ex5"):
            exercise = result["exercises"][key]
            graded = exercise["max_score"] - exercise.get("ungraded_points", 0)
            assert exercise["score"] == graded, f"{name} {key}\n{describe(result)}"
    assert run.survivors == [] and not run.marker.exists()
