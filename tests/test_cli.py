"""`grader run` and `grader check` from the command line."""

import argparse
import inspect
import json
import zipfile

from conftest import REPO, grader, index_tests, json_results, write_notebook

from grader import cli

SCHEMA_FIELDS = {
    "submission",
    "score",
    "max_score",
    "exercises",
    "tests",
    "device",
    "isolation",
    "grader_version",
    "duration_s",
}
TEST_FIELDS = {
    "name",
    "exercise",
    "score",
    "max_score",
    "status",
    "feedback",
    "duration_s",
    "metrics",
}


def test_json_output_is_one_result_per_line_and_nothing_else(make_submission):
    """Does --format json print only JSON Lines with the schema's fields on stdout?"""
    completed = grader(
        "run",
        make_submission("alice"),
        make_submission("bob"),
        "--exercises",
        "ex1",
        "--format",
        "json",
    )
    assert completed.returncode == 0, completed.stderr
    results = json_results(completed)
    assert [r["submission"] for r in results] == ["alice", "bob"]
    for result in results:
        assert SCHEMA_FIELDS <= set(result)
        assert set(result["exercises"]) == {"ex1"} and result["score"] == result["max_score"] == 20
        assert all(TEST_FIELDS <= set(t) for t in result["tests"])
    assert "grading alice" in completed.stderr


def test_missing_files_score_zero_with_a_message(make_submission):
    """Does a submission with only ex1 get 0 for the others, saying which file is missing?"""
    folder = make_submission("partial", keep={"ex1_gradients"})
    completed = grader("run", folder, "--exercises", "ex1,ex3", "--format", "json")
    (result,) = json_results(completed)
    assert result["exercises"]["ex1"]["score"] == 20 and result["exercises"]["ex3"]["score"] == 0
    ex3 = [t for t in result["tests"] if t["exercise"] == "ex3" and t["max_score"]]
    assert ex3 and all("ex3_data.py is not in the submission" in t["feedback"] for t in ex3)


def test_zip_and_notebook_submissions(tmp_path):
    """Are a zip (files in a sub-folder) and a notebook graded like .py files?"""
    archive = tmp_path / "carol.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(REPO / "solutions" / "ex1_gradients.py", "carol/ex1_gradients.py")
    notebook_dir = tmp_path / "dave"
    notebook_dir.mkdir()
    source = (REPO / "solutions" / "ex1_gradients.py").read_text()
    write_notebook(notebook_dir / "ex1_gradients.ipynb", ["%matplotlib inline\n", source])
    completed = grader("run", archive, notebook_dir, "--exercises", "ex1", "--format", "json")
    scores = {r["submission"]: r["score"] for r in json_results(completed)}
    assert scores == {"carol": 20, "dave": 20}


def test_invalid_notebook_is_a_clear_failure(tmp_path):
    """Does a notebook that is not JSON fail that exercise with a message naming it?"""
    folder = tmp_path / "erin"
    folder.mkdir()
    (folder / "ex1_gradients.ipynb").write_text("{ not json")
    (result,) = json_results(grader("run", folder, "--exercises", "ex1", "--format", "json"))
    feedback = {t["feedback"] for t in result["tests"]}
    assert result["score"] == 0
    assert all("ex1_gradients.ipynb is not a valid Jupyter notebook" in f for f in feedback)


def test_out_folder_gets_one_file_per_submission(make_submission, tmp_path):
    """Does --out write <submission>.json, the same object as the JSON line?"""
    out = tmp_path / "results"
    completed = grader(
        "run", make_submission("frank"), "--exercises", "ex1", "--format", "json", "--out", out
    )
    (line,) = json_results(completed)
    assert json.loads((out / "frank.json").read_text()) == line


def test_table_lists_failures_with_feedback(make_submission):
    """Does the table show the score and, below it, each failed test's feedback?"""
    broken = (
        (REPO / "solutions" / "ex1_gradients.py")
        .read_text()
        .replace("return coeffs - lr * grads", "return coeffs + lr * grads")
    )
    folder = make_submission("gina", {"ex1_gradients.py": broken})
    completed = grader("run", folder, "--exercises", "ex1")
    assert completed.returncode == 0
    assert "gina" in completed.stdout and "/20" in completed.stdout
    assert "test_sgd_step_returns_new_array" in completed.stdout


def test_bad_arguments_exit_2_with_the_reason(tmp_path):
    """Do an unknown exercise, a missing path and a bad --gate-set exit 2 with a message?"""
    cases = [
        (["run", "--reference", "--exercises", "ex9"], "unknown exercise ex9"),
        (["run", tmp_path / "nope"], "does not exist"),
        (["run", "--reference", "--gate-set", "epochs"], "KEY=VALUE"),
        (["run", "--reference", "--gate-set", "colour=red"], "unknown gate recipe field"),
        (["run"], "nothing to grade"),
    ]
    for args, message in cases:
        completed = grader(*args)
        assert completed.returncode == 2, args
        assert message in completed.stderr and completed.stdout == ""


def test_check_passes_on_solutions_and_fails_on_stubs():
    """Does `grader check` pass on the reference and fail on the untouched stubs?"""
    assert grader("check", REPO / "solutions").returncode == 0
    completed = grader("check", REPO / "exercises")
    assert completed.returncode != 0 and "NotImplementedError" in completed.stdout


def test_check_takes_notebooks_and_a_finder_zip(tmp_path):
    """Does `grader check` take what `grader run` takes: the bundled notebooks, and a zip as
    macOS's Finder makes it (a folder inside, __MACOSX resource forks, .DS_Store)?"""
    notebooks = grader("check", REPO / "examples" / "submissions" / "full_marks")
    assert notebooks.returncode == 0, notebooks.stdout[-2000:]
    archive = tmp_path / "alice.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((REPO / "solutions").glob("ex*.py")):
            zf.write(path, f"alice/{path.name}")
            zf.writestr(f"__MACOSX/alice/._{path.name}", b"\x00\x05\x16\x07 resource fork")
        zf.writestr("alice/.DS_Store", b"\x00\x00\x00\x01Bud1")
    zipped = grader("check", archive)
    assert zipped.returncode == 0, zipped.stdout[-2000:] + zipped.stderr[-2000:]
    only_ex1 = tmp_path / "bob"
    only_ex1.mkdir()
    (only_ex1 / "ex1_gradients.py").write_text((REPO / "solutions/ex1_gradients.py").read_text())
    partial = grader("check", only_ex1)
    assert partial.returncode == 1 and "not handed in" in partial.stdout
    assert " passed" in partial.stdout and " failed" not in partial.stdout


def test_check_names_near_misses_and_fails_when_a_file_is_missing(tmp_path):
    """Does `grader check` take a case variant (saying so), name each file close to a missing
    exercise's name, run the tests of what is there, and still exit non-zero?"""
    folder = tmp_path / "carol"
    folder.mkdir()
    for path in sorted((REPO / "solutions").glob("ex*.py")):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "ex1_gradients.py").rename(folder / "Ex1_Gradients.py")
    (folder / "ex2_autograd.py").rename(folder / "ex2_autograd (1).py")
    completed = grader("check", folder)
    assert completed.returncode == 1, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert "'Ex1_Gradients.py' is graded as ex1_gradients.py" in completed.stdout
    assert "'ex2_autograd (1).py' is in the submission" in completed.stdout
    assert "rename it to ex2_autograd.py" in completed.stdout
    assert "failed" not in completed.stdout and "grader check fails" in completed.stdout


def test_check_lists_the_notebook_cells_it_skipped(tmp_path):
    """Does `grader check` on a notebook name each cell that failed when it was imported, as
    `grader run` does, and the magic lines it left out?"""
    folder = tmp_path / "dave"
    folder.mkdir()
    source = (REPO / "solutions" / "ex1_gradients.py").read_text()
    cells = ["%matplotlib inline\n", source, "import a_module_no_course_installs\n"]
    notebook = json.loads(write_notebook(folder / "ex1_gradients.ipynb", "").read_text())
    notebook["cells"] = [{**notebook["cells"][0], "source": cell} for cell in cells]
    (folder / "ex1_gradients.ipynb").write_text(json.dumps(notebook))
    completed = grader("check", folder)
    assert "ex1_gradients.ipynb: cell 3 was skipped" in completed.stdout, completed.stdout
    assert "a_module_no_course_installs" in completed.stdout
    assert "cell 1 '%matplotlib inline'" in completed.stdout


def test_timeout_costs_one_test_and_the_worker_restarts(make_submission):
    """Does an endless loop in predict time out that test only, the rest still graded?"""
    source = (
        (REPO / "solutions" / "ex1_gradients.py")
        .read_text()
        .replace("    a, b, c, d = coeffs\n", "    while True:\n        pass\n")
    )
    folder = make_submission("hank", {"ex1_gradients.py": source})
    completed = grader(
        "run", folder, "--exercises", "ex1", "--format", "json", "--probe-timeout", "3"
    )
    tests = index_tests(json_results(completed)[0])
    assert tests["test_predict_is_the_cubic"]["status"] == "timeout"
    assert "no answer within 3 s" in tests["test_predict_is_the_cubic"]["feedback"]
    assert tests["test_sgd_step_returns_new_array"]["status"] == "passed"
    assert tests["test_sse_loss_is_sum_of_squares"]["status"] == "passed"


def test_duplicate_student_ids_are_both_graded_and_said(tmp_path):
    """Are `alice/` and `alice.zip` both graded, the second as alice-2, with a warning?"""
    folder = tmp_path / "class" / "alice"
    folder.mkdir(parents=True)
    (folder / "ex1_gradients.py").write_text((REPO / "solutions" / "ex1_gradients.py").read_text())
    with zipfile.ZipFile(tmp_path / "class" / "alice.zip", "w") as zf:
        zf.write(folder / "ex1_gradients.py", "ex1_gradients.py")
    completed = grader("run", tmp_path / "class", "--exercises", "ex1", "--format", "json")
    results = {r["submission"]: r for r in json_results(completed)}
    assert set(results) == {"alice", "alice-2"} and results["alice-2"]["score"] == 20
    assert "graded as 'alice-2'" in results["alice-2"]["warnings"][0]


def _commands() -> dict:
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


def test_shared_options_are_declared_once_with_one_help_text():
    """Does every command that takes a shared option (--config, --device, --isolation,
    --data-root, --gate-set, --exercises) show it with the same help text, the one of
    ``cli.SHARED``?"""
    for name, command in _commands().items():
        for action in command._actions:
            shared = cli.SHARED.get(action.dest)
            if shared and action.option_strings == list(shared.flags) and name != "export":
                assert action.help.startswith(shared.help), (name, action.dest)


def test_an_option_not_given_leaves_the_functions_default():
    """Is an option the user did not give left out of the call, so that the called
    function's own default holds, and does the help show that same default?"""
    from grader.batch import run

    args = cli.build_parser().parse_args(["run", "somewhere"])
    assert set(vars(args)) == {"command", "handler", "paths"}
    jobs = [a for a in _commands()["run"]._actions if a.dest == "jobs"][0]
    default = inspect.signature(run.run).parameters["jobs"].default
    assert jobs.help.endswith(f"(default: {default})")
    given = cli.build_parser().parse_args(["run", "x", "--jobs", "3", "--no-gate"])
    assert (given.jobs, given.gate) == (3, False)


def test_a_positional_left_out_takes_the_functions_default():
    """Does every positional a command lets the user leave out (``grader check``'s folder,
    ``grader data prepare``'s source) come, when left out, as a default of its own, never as
    argparse's suppress marker?"""
    for name, command in _commands().items():
        positionals = [a for a in command._actions if not a.option_strings]
        optional = [a for a in positionals if a.nargs in ("?", "*")]
        if not optional:
            continue
        words = [
            next(iter(a.choices)) if a.choices else "x"
            for a in positionals
            if a.nargs in (None, "+")
        ]
        parsed = cli.build_parser().parse_args([name, *words])
        for action in optional:
            value = getattr(parsed, action.dest)
            assert str(value) != argparse.SUPPRESS, (name, action.dest, value)


def test_check_without_a_folder_checks_exercises(tmp_path):
    """Does `grader check` with no folder check exercises/ of the folder it runs in?"""
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / "ex1_gradients.py").write_bytes(
        (REPO / "solutions" / "ex1_gradients.py").read_bytes()
    )
    completed = grader("check", cwd=tmp_path)
    assert "does not exist" not in completed.stdout + completed.stderr
    assert "ex2_autograd.py" in completed.stdout and completed.returncode == 1
