"""`grader export gradescope`: the zip's run_autograder on a simulated /autograder tree."""

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
from conftest import REPO, grader
from test_formats import GRADESCOPE_SCHEMA


def autograder_tree(tmp_path) -> Path:
    """Export the zip and unpack it as Gradescope does, into <root>/source."""
    assert grader("export", "gradescope", tmp_path / "export").returncode == 0
    archive = tmp_path / "export" / "gradescope-autograder.zip"
    root = tmp_path / "autograder"
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        assert {"setup.sh", "run_autograder"} <= set(names)
        assert "kit/grader/suites/test_ex1.py" in names and "kit/solutions/ex5_train.py" in names
        mode = zf.getinfo("run_autograder").external_attr >> 16
        assert mode & stat.S_IXUSR, "run_autograder must be executable"
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    return root


def run_autograder(root: Path, args: str) -> subprocess.CompletedProcess:
    script = root / "source" / "run_autograder"
    env = dict(
        os.environ, AUTOGRADER_ROOT=str(root), GRADER_ARGS=args, GRADER_PYTHON=sys.executable
    )
    return subprocess.run(
        ["bash", script], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )


def test_run_autograder_writes_a_valid_results_json(tmp_path):
    """Does run_autograder grade /autograder/submission into a schema-valid results.json?"""
    root = autograder_tree(tmp_path)
    (root / "submission" / "ex1_gradients.py").write_text(
        (REPO / "solutions" / "ex1_gradients.py").read_text()
    )
    completed = run_autograder(root, "--exercises ex1,ex4 --no-gate")
    assert completed.returncode == 0, completed.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, GRADESCOPE_SCHEMA)
    assert data["score"] == 20 and data["extra_data"]["max_score"] == 35
    assert data["extra_data"]["sandbox"]["isolation"] == data["extra_data"]["isolation"]
    assert not (root / "source").stat().st_mode & 0o077, "the kit must be the grader's alone"
    assert not (root / "results").stat().st_mode & 0o077
    missing = [t for t in data["tests"] if t["tags"] == ["ex4"]]
    assert missing and all("ex4_net.py is not in the submission" in t["output"] for t in missing)


def test_a_grader_failure_is_reported_not_scored(tmp_path):
    """When the grader cannot run, is results.json still written, saying so with score 0?"""
    root = autograder_tree(tmp_path)
    completed = run_autograder(root, "--exercises ex7")
    assert completed.returncode == 0
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, GRADESCOPE_SCHEMA)
    assert data["score"] == 0 and "could not grade" in data["output"]
    assert "unknown exercise ex7" in data["output"]


def test_the_shipped_programs_are_real_files_that_parse(tmp_path):
    """Are the programs the exports ship real files of the package, each a shell script that
    bash parses or Python that compiles (ruff reads the Python too)?"""
    from grader.export import github, gradescope

    shipped = [gradescope.PROGRAMS / name for name in gradescope.SHIPPED]
    shipped += [github.WORKFLOW, github.CLASSROOM_MD, github.CLASSROOM_SCRIPT]
    for path in shipped:
        assert path.is_file(), path
        if path.suffix == ".py":
            compile(path.read_text(), str(path), "exec")
        elif path.read_text().startswith("#!/usr/bin/env bash"):
            parsed = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
            assert parsed.returncode == 0, (path, parsed.stderr)
    broken = tmp_path / "run_autograder"
    broken.write_text("#!/usr/bin/env bash\nif [ -f x ]; then\n")  # the check can fail
    assert subprocess.run(["bash", "-n", str(broken)], capture_output=True).returncode != 0
