"""A class graded through Slurm: a real one-node cluster (tests/slurm_cluster.py), real sbatch.

The tests that need the cluster skip, with the daemons' own words, where it cannot start.
"""

import json
import os
import signal
import subprocess
import time

import pytest
import slurm_cluster
from conftest import GRADER, REPO, fixture_submission, grader, json_results
from test_batch import make_class, scores

from grader.batch.slurm import cluster as slurm
from grader.course import config as course_config

ONE = ("--exercises", "ex1", "--format", "json")
SMALL = ("--slurm-set", "cpus_per_task=1", "--slurm-set", "mem_per_task_gb=2")
CLASS = {
    "correct_alt_loops": "ex1",
    "correct_tutorial_style": "ex2",
    "bug_sse_grads_wrong_sign": "ex1",
    "bug_chain_rule_no_product_rule": "ex2",
    "hostile_monkeypatch_ex1": "ex1",
    "hostile_sys_exit_in_function": "ex1",
    "broken_syntax_error": "ex2",
}
"""Fixture submissions (correct, bugs, hostile, broken) and the exercise each one changes."""


@pytest.fixture(scope="module")
def cluster():
    try:
        up = slurm_cluster.start()
    except slurm_cluster.ClusterError as exc:
        pytest.skip(f"no Slurm cluster here: {exc}")
    yield up
    up.__exit__(None, None, None)


def on(cluster, *args, timeout=900):
    """``grader`` with the test cluster's configuration."""
    return grader(*args, env=cluster.env, timeout=timeout)


def record(out):
    return json.loads((out / "slurm" / "array.json").read_text())


def stamps(out):
    return {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}


def in_background(cluster, batch, out, *, per_task):
    """``grader run --executor slurm`` on ex1 of ``batch``, still running when this returns."""
    command = [*GRADER, "run", batch, *ONE, "--out", out, "--executor", "slurm", *SMALL]
    return subprocess.Popen(
        [*map(str, command), "--slurm-set", f"submissions_per_task={per_task}"],
        cwd=REPO,
        env={**os.environ, **cluster.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, timeout_s, what, process=None):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if process is not None and process.poll() is not None:
            pytest.fail(f"the command ended before {what}: {process.communicate()[1][-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout_s} s: {what}")
        time.sleep(0.2)


def test_the_batch_script_asks_for_what_the_course_sets(tmp_path):
    """Does each setting reach the sbatch script: partition, account, time, CPUs, memory,
    --gres=gpu:N, the array's throttle, setup lines, the kit on PYTHONPATH, python -P?"""
    config = tmp_path / "grader.toml"
    config.write_text(
        '[slurm]\npartition = "gpu"\naccount = "cs101"\ntime_per_task_min = 30\n'
        "cpus_per_task = 4\nmem_per_task_gb = 16\narray_parallelism = 3\n"
        'setup = ["module load cuda"]\n'
    )
    settings = course_config.load(config).slurm
    script = slurm.sbatch_script(
        settings, gpus=slurm.gpus_for(settings, "cuda"), folder=tmp_path, tasks=5
    )
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --account=cs101",
        "#SBATCH --time=30",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=16384M",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --array=0-4%3",
        f"#SBATCH --chdir={tmp_path}",
        "module load cuda",
        f"export PYTHONPATH={REPO}${{PYTHONPATH:+:$PYTHONPATH}}",
    ):
        assert line in script.splitlines(), f"{line!r} not in\n{script}"
    assert " -P -u -m submitit.core._submit " in script
    on_cpu = slurm.sbatch_script(
        settings, gpus=slurm.gpus_for(settings, "cpu"), folder=tmp_path, tasks=1
    )
    assert "--gres" not in on_cpu
    more = course_config.slurm_settings(
        course_config.parse_slurm_pairs(["gpus_per_task=2"]), settings
    )
    assert slurm.gpus_for(more, "cpu") == 2 and more.partition == "gpu"


@pytest.mark.parametrize(
    ("pairs", "key"),
    [
        (["cpus=4"], "slurm.cpus"),
        (["cpus_per_task=0"], "slurm.cpus_per_task"),
        (["submissions_per_task=1.5"], "slurm.submissions_per_task"),
        (["partition="], "slurm.partition"),
    ],
)
def test_a_bad_slurm_setting_names_its_key(pairs, key):
    """Is a bad --slurm-set (or slurm table) key or value an error naming the key?"""
    with pytest.raises(course_config.CourseConfigError, match=f": {key}:"):
        course_config.slurm_settings(course_config.parse_slurm_pairs(pairs))


def test_without_slurm_commands_the_error_says_so(tmp_path):
    """Does --executor slurm where sbatch is not on PATH exit 2 and say what is missing?"""
    batch = make_class(tmp_path / "class", ["ann"])
    done = grader(
        "run", batch, *ONE, "--out", tmp_path / "out", "--executor", "slurm",
        env={"PATH": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "sbatch" in done.stderr and "cannot be found" in done.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.json"))
    no_out = grader("run", batch, *ONE, "--executor", "slurm")
    assert no_out.returncode == 2 and "needs --out" in no_out.stderr


def test_detach_then_a_later_run_follows_the_array(cluster, tmp_path):
    """Does --detach submit and return at once, and a later plain `grader run --out` follow
    the array to its end and report every result, grading nothing itself?"""
    batch = make_class(tmp_path / "class", ["ann", "ben"], bad={"ben"})
    out = tmp_path / "out"
    detached = on(
        cluster, "run", batch, *ONE, "--out", out, "--executor", "slurm", "--detach", *SMALL
    )
    assert detached.returncode == 0, detached.stderr
    assert detached.stdout == "" and "submitted Slurm array" in detached.stderr
    assert record(out)["shards"] == [["ann", "ben"]]
    later = on(cluster, "run", batch, *ONE, "--out", out)
    assert later.returncode == 0, later.stderr
    assert "still grading" in later.stderr and "following it" in later.stderr
    assert "2 of 2 already graded" in later.stderr and "grading ann" not in later.stderr
    assert {r["submission"]: r["score"] for r in json_results(later)}["ann"] == 20
    assert scores(json_results(later))["ben"][0] < 20
    assert record(out)["ended"] is True and not cluster.queue()


@pytest.mark.slow
def test_a_class_graded_through_sbatch_scores_as_a_local_run(cluster, tmp_path):
    """Graded as a Slurm array (3 tasks, 2 at a time), does each fixture submission (correct,
    buggy, hostile, broken) get exactly the tests and scores of a local `grader run --jobs 2`?"""
    batch = tmp_path / "class"
    for name in CLASS:
        fixture_submission(name, batch / name)
    subprocess.run(["chmod", "-R", "go+rX", tmp_path], check=True)
    exercises = ("--exercises", "ex1,ex2", "--format", "json")
    via_slurm = on(
        cluster, "run", batch, *exercises, "--out", tmp_path / "slurm-out",
        "--executor", "slurm", "--slurm-set", "submissions_per_task=3", *SMALL,
    )  # fmt: skip
    assert via_slurm.returncode == 0, via_slurm.stderr[-3000:]
    assert "in 3 task(s)" in via_slurm.stderr and "summary:" in via_slurm.stderr
    local = grader("run", batch, *exercises, "--out", tmp_path / "local-out", "--jobs", "2")
    assert local.returncode == 0, local.stderr[-3000:]
    assert len(json_results(via_slurm)) == len(CLASS)
    assert scores(json_results(via_slurm)) == scores(json_results(local))
    graded = scores(json_results(via_slurm))
    assert graded["correct_alt_loops"][0] == 40 and graded["bug_sse_grads_wrong_sign"][0] < 40
    assert graded["broken_syntax_error"][0] <= 20


@pytest.mark.slow
def test_a_cancelled_task_loses_only_what_it_had_not_written(cluster, tmp_path):
    """scancel one array task mid-submission: is the rest of the array's work kept, nothing
    half-written, and does a rerun grade exactly the submissions that task lost, once each?"""
    names = ["a1", "a2", "b1", "b2"]
    batch = make_class(tmp_path / "class", names, bad={"a2", "b2"}, slow={"a1"})
    out = tmp_path / "out"
    process = in_background(cluster, batch, out, per_task=2)
    array = out / "slurm" / "array.json"
    wait_for(array.exists, 120, "the array was submitted", process)
    first = record(out)["tasks"][0]
    log = out / "slurm" / "logs" / f"{first}_0_log.err"
    wait_for(lambda: log.exists() and "grading a1" in log.read_text(), 300, "a1 started", process)
    cluster.run("scancel", first)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 2, stderr
    assert f"Slurm task {first} ended (CANCELLED" in stderr and "rerun" in stderr
    assert sorted(stamps(out)) == ["b1.json", "b2.json"], stderr
    assert not list(out.glob(".*.tmp")), "a half-written result was left behind"
    kept = stamps(out)
    rerun = on(cluster, "run", batch, *ONE, "--out", out, "--executor", "slurm", *SMALL)
    assert rerun.returncode == 0, rerun.stderr
    assert "2 of 4 already graded" in rerun.stderr
    assert "2 submission(s) in 1 task(s)" in rerun.stderr
    assert record(out)["shards"] == [["a1", "a2"]]
    assert {k: v for k, v in stamps(out).items() if k in kept} == kept
    final = scores(json_results(rerun))
    assert sorted(final) == names and final["a1"][0] == final["b1"][0] == 20
    assert final["a2"][0] < 20 and final["b2"][0] < 20


@pytest.mark.slow
def test_ctrl_c_cancels_the_array_and_a_rerun_finishes(cluster, tmp_path):
    """Ctrl-C on the submitting command: is the array cancelled (and is that said), and does
    the rerun finish the batch without grading anything twice?"""
    names = ["c1", "c2", "c3"]
    batch = make_class(tmp_path / "class", names, bad={"c2"})
    out = tmp_path / "out"
    process = in_background(cluster, batch, out, per_task=1)
    wait_for(lambda: list(out.glob("*.json")), 300, "a first result", process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert f"cancelled Slurm array {record(out)['array']}" in stderr
    wait_for(lambda: not cluster.queue(), 60, "the array left the queue")
    kept = stamps(out)
    assert 1 <= len(kept) < len(names) and not list(out.glob(".*.tmp"))
    rerun = on(cluster, "run", batch, *ONE, "--out", out, "--executor", "slurm", *SMALL)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(kept)} of 3 already graded" in rerun.stderr
    assert {k: v for k, v in stamps(out).items() if k in kept} == kept
    assert sorted(scores(json_results(rerun))) == names


def test_a_node_without_bubblewrap_refuses_as_a_local_run_would(cluster, tmp_path):
    """On a node where bwrap is missing (PATH without it), does the task refuse to grade with
    the local run's reason, and the submitting command report it and exit 2?"""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").symlink_to(subprocess.check_output(["which", "srun"], text=True).strip())
    batch = make_class(tmp_path / "class", ["ann"])
    out = tmp_path / "out"
    done = on(
        cluster, "run", batch, *ONE, "--out", out, "--executor", "slurm", *SMALL,
        "--slurm-set", f"setup=export PATH={bin_dir}",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "could not grade" in done.stderr and "student code cannot be sandboxed" in done.stderr
    assert "bubblewrap (bwrap) is not installed" in done.stderr
    assert not list(out.glob("*.json"))


def test_a_node_checks_the_data_against_its_manifest(tmp_path):
    """Does a node refuse a CIFAR-10 folder that fails its manifest, naming the folder and
    how to prepare it on the shared file system (never preparing it there itself)?"""
    from grader.errors import GraderError
    from grader.grading.plan import node_data

    (tmp_path / "cifar10").mkdir()
    with pytest.raises(GraderError, match="fails its check on this node") as caught:
        node_data(tmp_path / "cifar10")
    assert str(tmp_path / "cifar10") in str(caught.value)
    assert "grader data prepare" in str(caught.value)
    assert list((tmp_path / "cifar10").iterdir()) == []


def test_an_unfinished_array_is_never_graded_beside_blindly(tmp_path, monkeypatch):
    """Where --out records an array not seen to end and Slurm cannot be asked (no squeue
    here), does a later run refuse, saying why and what to do, rather than grade the same
    submissions a second time?"""
    import io

    from grader.batch import slurm as cluster
    from grader.batch.slurm.watch import Record
    from grader.errors import GraderError

    out = tmp_path / "out"
    Record(array="77", tasks=["77_0"], shards=[["ann"]], exercises=["ex1"]).save(out)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GraderError, match="Slurm array 77 was submitted") as caught:
        cluster.follow_running_array(out, io.StringIO())
    assert "squeue" in str(caught.value) and "array.json" in str(caught.value)
    finished = Record.load(out)
    finished.ended = True
    finished.save(out)
    cluster.follow_running_array(out, io.StringIO())  # seen to end: nothing to follow
