"""Batches: parallel jobs, atomic per-submission results, resuming, and Ctrl-C."""

import json
import signal
import subprocess
import time

import pytest
from conftest import GRADER, REPO, grader, json_results, write_notebook

ONE = ("--exercises", "ex1", "--format", "json")
SLOW_IMPORT_S = 15
FIRST_RESULT_S = 900


def make_class(root, names, bad=(), slow=()):
    """A folder of submissions: ex1 of the reference, or with a sign bug for names in bad;
    those in slow take SLOW_IMPORT_S longer to import (and grade the same)."""
    source = (REPO / "solutions" / "ex1_gradients.py").read_text()
    for name in names:
        folder = root / name
        folder.mkdir(parents=True)
        text = (
            source.replace("coeffs - lr * grads", "coeffs + lr * grads") if name in bad else source
        )
        if name in slow:
            text = f"import time\ntime.sleep({SLOW_IMPORT_S})\n" + text
        (folder / "ex1_gradients.py").write_text(text)
    return root


def scores(results):
    return {r["submission"]: (r["score"], [t["status"] for t in r["tests"]]) for r in results}


def test_jobs_2_grades_each_once_and_a_rerun_skips_them(tmp_path):
    """With --jobs 2, is every submission graded and stored; does a rerun regrade nothing?"""
    batch = make_class(tmp_path / "class", ["ann", "ben", "cat"], bad={"ben"})
    out = tmp_path / "out"
    first = grader("run", batch, *ONE, "--jobs", "2", "--out", out)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in out.glob("*.json")) == ["ann.json", "ben.json", "cat.json"]
    assert scores(json_results(first))["ben"][0] < 20 and "summary:" in first.stderr
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    again = grader("run", batch, *ONE, "--jobs", "2", "--out", out)
    assert "3 of 3 already graded" in again.stderr and "grading" not in again.stderr
    assert scores(json_results(again)) == scores(json_results(first))
    assert stamps == {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    forced = grader("run", batch, *ONE, "--out", out, "--force")
    assert forced.stderr.count("grading") == 3


@pytest.mark.slow
def test_sigint_midway_then_rerun_loses_nothing(tmp_path):
    """Interrupted by SIGINT midway, are the finished results intact and does a rerun
    finish the rest without grading anything twice, to the same final results?"""
    names = ["s1", "s2", "s3", "s4", "s5"]
    # s5 is graded last and takes SLOW_IMPORT_S longer than any other: when the first result
    # lands it cannot have finished, however fast or loaded the machine is.
    batch = make_class(tmp_path / "class", names, bad={"s2", "s5"}, slow={"s5"})
    out = tmp_path / "out"
    process = subprocess.Popen(
        [*GRADER, "run", batch, *ONE, "--jobs", "2", "--out", out],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + FIRST_RESULT_S
    while not list(out.glob("*.json")):
        assert process.poll() is None, "the run ended before the interrupt"
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no result within {FIRST_RESULT_S} s: nothing to interrupt midway")
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    assert 1 <= len(kept) < len(names), stderr
    assert not list(out.glob(".*.tmp")), "a half-written result was left behind"
    for path in out.glob("*.json"):
        json.loads(path.read_text())  # complete, valid results only
    rerun = grader("run", batch, *ONE, "--jobs", "2", "--out", out)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(kept)} of {len(names)} already graded" in rerun.stderr
    assert rerun.stderr.count("grading") == len(names) - len(kept)
    assert kept == {n: out.joinpath(n).stat().st_mtime_ns for n in kept}
    straight = grader("run", batch, *ONE, "--jobs", "2")
    assert scores(json_results(rerun)) == scores(json_results(straight))


def test_nested_notebook_set_is_one_submission(tmp_path):
    """Is nbgrader's <student>/<assignment>/*.ipynb layout graded as that student's?"""
    source = (REPO / "solutions" / "ex1_gradients.py").read_text()
    folder = tmp_path / "class" / "dora" / "ps1"
    folder.mkdir(parents=True)
    write_notebook(folder / "ex1_gradients.ipynb", source)
    make_class(tmp_path / "class", ["eli"])
    results = json_results(grader("run", tmp_path / "class", *ONE, "--jobs", "2"))
    assert {r["submission"]: r["score"] for r in results} == {"dora": 20, "eli": 20}


def test_a_result_another_user_could_have_written_is_graded_again(tmp_path):
    """Is a stored result that others may write (or that another user owns) never reused, so
    that a worker that reached the output folder could not keep a forged score?"""
    import os

    batch = make_class(tmp_path / "class", ["ann", "ben"], bad={"ann", "ben"})
    out = tmp_path / "out"
    assert grader("run", batch, *ONE, "--out", out).returncode == 0
    forged = json.loads((out / "ann.json").read_text())
    forged["score"] = forged["exercises"]["ex1"]["score"] = 20
    (out / "ann.json").write_text(json.dumps(forged))
    (out / "ann.json").chmod(0o666)
    if os.geteuid() == 0:
        (out / "ben.json").write_text(json.dumps({**forged, "submission": "ben"}))
        os.chown(out / "ben.json", 1900004000, 1900004000)
    again = grader("run", batch, *ONE, "--out", out)
    results = {r["submission"]: r for r in json_results(again)}
    assert results["ann"]["score"] < 20 and results["ben"]["score"] < 20
    assert "already graded" not in again.stderr


def test_the_trusted_side_never_imports_from_the_current_folder(tmp_path):
    """Run with `python -m` from inside a submission whose fit_sine returns zeros: does the
    trusted side still compare with the reference solutions (not the submission's file)?"""
    folder = tmp_path / "mallory"
    folder.mkdir()
    source = (REPO / "solutions" / "ex1_gradients.py").read_text()
    zeros = (
        "def fit_sine(steps=5000, lr=1e-6, seed=0):\n"
        "    return np.zeros(4), [0.0] * (steps // 100)\n"
    )
    (folder / "ex1_gradients.py").write_text(source.split("def fit_sine")[0] + zeros)
    for flags in ([], ["-P"]):
        completed = subprocess.run(
            [*GRADER[:1], *flags, "-m", "grader.cli", "run", ".", *ONE],
            cwd=folder, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        (result,) = json_results(completed)
        tests = {t["name"]: t["status"] for t in result["tests"]}
        assert tests["test_fit_sine_matches_reference"] == "failed", completed.stderr[-2000:]
