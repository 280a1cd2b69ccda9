"""Hostile submissions against the accuracy gate's clock, as root: no training bought off it.

Every ``tests/fixtures/submissions/hostile_gate_*`` folder has the gate's network trained
where the gate's clock used not to look, then lets ``train_one_epoch`` only load the weights:
during the gate's preparation (in ``set_seed``, ``channel_stats``, ``make_loaders`` or
``Net.__init__``), in a thread or a daemon process started when ``ex5_train`` is imported
(the other tests of ex5 waiting for it), or outside the gate's worker altogether (a daemon of
the hidden tests' worker that the gate's worker hands the split to; a thread of that worker
that finds the data set on disk and trains on its true labels, the secret relabelling then
inferred in the gate), or has the gate's worker started again between two phases, the clock
then counting the rest in a new worker from the first one's start. With the reference, which
must pass, they are graded in one ``grader
run`` per isolation (bubblewrap, and ``--isolation process``), side by side, with the gate on
a slice of CIFAR-10 (2 epochs; a threshold between chance and the reference's accuracy there).
The process run's data lies where every user may read it, as a TA's ``--data-root`` outside
the kit can. Each cheat must earn nothing: its gate fails, stopped by the time limit or at
chance accuracy, while ex5's other tests still pass; no process of a worker outlives a run.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import fixture_expectations as expectations
import pytest
from conftest import GRADER, REPO, describe, fixture_submission, index_tests
from test_gate import GATE, prepared_slice

from grader import data
from grader.sandbox.policy import bwrap_works, unreadable_python
from grader.sandbox.processes import descendants

EXPECTED = expectations.of(expectations.GateCheat)
"""How each cheat must fail (``fails_by``): stopped by the limit (and, where it is sure, in
which phase: ``feedback``); trained on nothing, at chance accuracy (or stopped: it may wait
past the wall-clock cap); or for a gate's worker that ended or was started again within the
timed run."""
CHEATS = sorted(EXPECTED)
LIMIT, CHANCE, ENDED = expectations.FAILS_BY
THRESHOLD = 0.17
"""On the slice, 2 epochs: the reference reaches 0.23-0.27, an untrained network about 0.10."""
LEFT_BEHIND = (
    Path("/run/lock/gate-early"),
    Path("/run/lock/gate-restart.pt"),
    Path("/tmp/gate-handoff"),
)
"""Where the cheats hand weights or data between processes (every user may write there)."""
ISOLATIONS = ("bwrap", "process")


def _start(batch: Path, root: Path, out: Path, *extra: str) -> subprocess.Popen:
    args = [*GRADER, "run", batch, "--exercises", "ex5", "--device", "cpu", "--data-root", root]
    args += ["--gate-set", "epochs=2", "--gate-set", f"threshold={THRESHOLD}", "--format", "json"]
    args += ["--out", out, *extra]
    with open(f"{out}.stdout", "w") as stdout, open(f"{out}.stderr", "w") as stderr:
        return subprocess.Popen(list(map(str, args)), cwd=REPO, stdout=stdout, stderr=stderr)


def _remove(*paths: Path) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _started(pid: int) -> str | None:
    """``pid``'s start time (None once it is gone): a pid with the same start is the same."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return None


def _watch(processes: list[subprocess.Popen], timeout: float) -> set[tuple[int, str]]:
    """Wait for ``processes``; return every process seen below them meanwhile (pid, start)."""
    seen, deadline = set(), time.monotonic() + timeout
    while any(p.poll() is None for p in processes):
        if time.monotonic() > deadline:
            for p in processes:
                p.kill()
            pytest.fail("the graded batches did not finish in time")
        for p in processes:
            seen.update((pid, _started(pid)) for pid in descendants(p.pid))
        time.sleep(0.2)
    return seen


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both runs' exit status, stderr and result lines, the mode the process run left its
    training split in, and the processes the runs started that are still alive after them."""
    if not bwrap_works() or unreadable_python() is not None:
        pytest.skip("needs bubblewrap, and a Python other users can read for --isolation process")
    try:
        data.load_split(data.default_root(), "train", verify="none", mmap=True)
    except data.DataError:
        pytest.skip("needs the prepared CIFAR-10 (grader data prepare): chance is not told apart")
    batch = tmp_path_factory.mktemp("batch")
    for name in [*CHEATS, None]:
        fixture_submission(name, batch / (name or "reference"))
    shared = Path(tempfile.mkdtemp(prefix="grader-gate-hostile-", dir="/tmp"))
    shared.chmod(0o755)
    roots = {
        "bwrap": prepared_slice(tmp_path_factory.mktemp("bwrap-data")),
        "process": prepared_slice(shared / "cifar10"),
    }
    outs = {isolation: tmp_path_factory.mktemp(isolation) / "out" for isolation in ISOLATIONS}
    _remove(*LEFT_BEHIND)
    try:
        started = {
            "bwrap": _start(batch, roots["bwrap"], outs["bwrap"]),
            "process": _start(batch, roots["process"], outs["process"], "--isolation", "process"),
        }
        seen = _watch(list(started.values()), timeout=1500)
        time.sleep(1)
        left = sorted(pid for pid, start in seen if start is not None and _started(pid) == start)
        watched = len(seen)
        train_mode = (roots["process"] / "train").stat().st_mode
    finally:
        _remove(*LEFT_BEHIND, shared)
    done = {
        isolation: (
            process.returncode,
            (outs[isolation].parent / "out.stderr").read_text(),
            (outs[isolation].parent / "out.stdout").read_text().splitlines(),
        )
        for isolation, process in started.items()
    }
    return {"runs": done, "train_mode": train_mode, "survivors": left, "watched": watched}


def results_of(runs, isolation: str) -> dict[str, dict]:
    import json

    returncode, stderr, lines = runs["runs"][isolation]
    assert returncode == 0, stderr[-3000:]
    results = {r["submission"]: r for r in map(json.loads, filter(str.strip, lines))}
    assert sorted(results) == sorted([*CHEATS, "reference"])
    return results


def test_every_gate_cheat_stages(tmp_path):
    """Does every hostile_gate_* fixture stage as valid Python?"""
    for name in CHEATS:
        for path in fixture_submission(name, tmp_path / name).glob("*.py"):
            compile(path.read_text(), str(path), "exec")


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_the_reference_passes_beside_the_cheats(runs, isolation):
    """Does a correct submission, graded in the same run, pass the gate within its limit?"""
    result = results_of(runs, isolation)["reference"]
    gate = index_tests(result)[GATE]
    assert gate["status"] == "passed", describe(result)
    assert gate["metrics"]["accuracy"] >= THRESHOLD
    assert gate["metrics"]["time_ratio"] < gate["metrics"]["time_factor"]


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("name", CHEATS)
def test_training_off_the_clock_earns_nothing(runs, isolation, name):
    """Does the cheat's gate fail (stopped by its limit, or at chance accuracy), the rest of
    its ex5 still passing?"""
    result = results_of(runs, isolation)[name]
    gate = index_tests(result)[GATE]
    how, word = EXPECTED[name].fails_by, EXPECTED[name].feedback
    accuracy = gate["metrics"].get("accuracy")
    assert gate["status"] == "failed" and gate["score"] == 0, describe(result)
    ex5 = result["exercises"]["ex5"]
    assert ex5["score"] == ex5["max_score"] - gate["max_score"], describe(result)
    if how == LIMIT:
        assert accuracy is None and "was stopped at" in gate["feedback"], gate["feedback"]
        assert word in gate["feedback"], gate["feedback"]
        assert gate["metrics"]["train_cpu_s"] >= gate["metrics"]["time_limit_s"]  # both rounded
    elif how == ENDED:
        assert accuracy is None and word in gate["feedback"], gate["feedback"]
    else:
        assert accuracy is None or accuracy < THRESHOLD, gate["metrics"]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_without_bubblewrap_the_training_split_is_made_owner_only(runs):
    """Is the process run's training split readable by its owner alone (it was readable by
    all), so that no worker but the gate's can read it?"""
    results_of(runs, "process")
    assert not runs["train_mode"] & 0o077


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_no_daemon_outlives_the_runs(runs):
    """Is every process the runs started (the cheats' daemons among them) gone after them?"""
    assert runs["watched"] > 0 and runs["survivors"] == []
