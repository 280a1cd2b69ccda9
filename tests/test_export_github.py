"""`grader export github`: a staff-owned grading repository for GitHub Classroom.

The student repositories of an "organisation" are local git repositories here; the
workflow's fetch, grade and post commands run as the runner would run them.
"""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import REPO, grader


def git(*args, cwd=None):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def student_repository(org: Path, name: str, files: dict[str, str]) -> Path:
    """A bare repository ``org/<name>.git`` with one commit holding ``files``."""
    work = org / "work" / name
    work.mkdir(parents=True)
    for filename, text in files.items():
        (work / filename).write_text(text)
    git("init", "-q", "-b", "main", cwd=work)
    git("add", ".", cwd=work)
    git("-c", "user.name=s", "-c", "user.email=s@example.org", "commit", "-qm", "hand-in", cwd=work)
    bare = org / f"{name}.git"
    git("clone", "-q", "--bare", str(work), str(bare))
    return bare


def step(workflow: dict, name_start: str) -> dict:
    return next(s for s in workflow["jobs"]["grade"]["steps"] if s["name"].startswith(name_start))


def test_only_staff_start_it_and_only_fetch_and_post_see_the_token(tmp_path):
    """Is the workflow started by hand only, with the token in the fetch and post steps alone,
    and no grading workflow in what students get?"""
    out = tmp_path / "staff"
    assert grader("export", "github", out).returncode == 0
    workflow = yaml.safe_load((out / ".github/workflows/grade-class.yml").read_text())
    assert set(workflow[True]) == {"workflow_dispatch"}  # YAML reads the key `on` as True
    steps = workflow["jobs"]["grade"]["steps"]
    with_token = [s["name"] for s in steps if "secrets." in json.dumps(s)]
    assert with_token == [
        "Fetch the submissions (the only step that sees the token)",
        "Post the scores as commit statuses",
    ]
    assert "secrets." not in json.dumps(workflow["jobs"]["grade"].get("env", {}))
    assert (out / "kit" / "grader" / "suites").is_dir() and (out / "kit" / "solutions").is_dir()
    assert not list((out / "kit").rglob("exercises/.github"))


def test_fetch_grade_and_post_a_class(tmp_path):
    """Does fetch clone exactly the assignment's repositories (with their commits), does the
    workflow's grade command grade them, and does post give each student their score?"""
    out = tmp_path / "staff"
    assert grader("export", "github", out).returncode == 0
    org = tmp_path / "org"
    solution = (REPO / "solutions" / "ex1_gradients.py").read_text()
    broken = solution.replace("coeffs - lr * grads", "coeffs + lr * grads")
    student_repository(org, "hw1-alice", {"ex1_gradients.py": solution})
    student_repository(org, "hw1-bob", {"ex1_gradients.py": broken})
    student_repository(org, "hw2-alice", {"ex1_gradients.py": solution})
    (tmp_path / "repos.txt").write_text("hw1-alice\nhw1-bob\nhw2-alice\n")
    work = tmp_path / "grading"
    fetched = subprocess.run(
        [sys.executable, out / "classroom.py", "fetch", "--org", "course", "--prefix", "hw1",
         "--dest", work / "submissions", "--repos", tmp_path / "repos.txt",
         "--clone-url", f"file://{org}/{{repo}}.git"],
        capture_output=True, text=True, env={**os.environ, "GH_TOKEN": "not-a-real-token"},
    )  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr
    records = json.loads((work / "submissions" / "classroom.json").read_text())
    assert sorted(records) == ["alice", "bob"]
    assert all(len(r["commit"]) == 40 and r["committed"] for r in records.values())
    assert not list(work.rglob("*.git/config")) or "not-a-real-token" not in "".join(
        p.read_text() for p in work.rglob(".git/config")
    )

    workflow = yaml.safe_load((out / ".github/workflows/grade-class.yml").read_text())
    command = step(workflow, "Grade")["run"]
    summary = tmp_path / "summary.md"
    env = {
        **os.environ,
        "WORK": str(work),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GRADER_ARGS": "--no-gate --exercises ex1",
    }
    command = command.replace(
        '"$WORK/venv/bin/grader"', shlex.join([sys.executable, "-m", "grader.cli"])
    )
    if os.geteuid() == 0:
        command = command.replace("sudo ", "", 1)
    graded = subprocess.run(
        ["bash", "-e", "-c", command.replace('--data-root "$WORK/cifar10"', "")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert graded.returncode == 0, graded.stderr
    assert "::error file=ex1_gradients.py" in graded.stdout
    assert "| alice |" in summary.read_text() and "| bob |" in summary.read_text()

    posted = subprocess.run(
        [sys.executable, out / "classroom.py", "post", "--org", "course", "--dest",
         work / "submissions", "--results", work / "results", "--dry-run",
         "--api-url", "https://api.example.org"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert posted.returncode == 0, posted.stderr
    statuses = {json.loads(line)["url"]: json.loads(line) for line in posted.stdout.splitlines()}
    alice = f"https://api.example.org/repos/course/hw1-alice/statuses/{records['alice']['commit']}"
    assert statuses[alice]["description"] == "score 20/20"
    assert len(statuses) == 2
