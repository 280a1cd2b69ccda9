"""`grader export github`: the workflow's own commands, run here as the runner would."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import yaml
from conftest import REPO, grader

from grader.export import copy_kit


def simulate(workflow: dict, workspace: Path, tmp_path: Path, env: dict) -> list:
    """Run the `run:` steps in order; stand in for the `uses:` ones (checkout, Python)."""
    job = workflow["jobs"]["grade"]
    env = {**os.environ, **job.get("env", {}), **env}
    completed = []
    for step in job["steps"]:
        uses = step.get("uses", "")
        if uses.startswith("actions/checkout") and step.get("with", {}).get("path"):
            copy_kit(workspace / step["with"]["path"])  # the private kit repository
        elif uses.startswith("actions/setup-python"):
            venv = tmp_path / "python"  # a fresh Python, reusing this one's installed packages
            subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", venv], check=True)
            site = next(venv.glob("lib/python*/site-packages"))
            (site / "kit-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
            env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
            env["PIP_NO_BUILD_ISOLATION"] = "0"  # setuptools comes from the .pth, no download
        elif "run" in step:
            script = step["run"].replace("sudo apt-get install -y bubblewrap", "true")
            completed.append(
                subprocess.run(
                    ["bash", "-e", "-c", script],
                    cwd=workspace,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
            )
            assert completed[-1].returncode == 0, (step["name"], completed[-1].stderr)
    return completed


def test_workflow_grades_the_repository_and_writes_the_summary(tmp_path):
    """Do the workflow's steps install the kit, grade the repo and write the step summary?"""
    workspace = tmp_path / "student-repo"
    assert grader("export", "github", workspace).returncode == 0
    workflow = yaml.safe_load((workspace / ".github/workflows/classroom.yml").read_text())
    assert workflow["jobs"]["grade"]["steps"][0]["uses"].startswith("actions/checkout")
    broken = (
        (REPO / "solutions" / "ex1_gradients.py")
        .read_text()
        .replace("coeffs - lr * grads", "coeffs + lr * grads")
    )
    (workspace / "ex1_gradients.py").write_text(broken)
    summary, github_env = tmp_path / "summary.md", tmp_path / "github_env"
    github_env.touch()
    steps = simulate(
        workflow,
        workspace,
        tmp_path,
        {
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_ENV": str(github_env),
            "RUNNER_TEMP": str(tmp_path / "runner"),
            "GRADER_ARGS": "--device cpu --no-gate --exercises ex1",
        },
    )
    grade = steps[-1]
    assert "::error file=ex1_gradients.py" in grade.stdout
    assert "test_sgd_step_returns_new_array" in grade.stdout
    text = summary.read_text()
    assert text.startswith("## Grader results") and "| student-repo |" in text
    assert (tmp_path / "runner" / "grader-results" / "student-repo.json").exists()
