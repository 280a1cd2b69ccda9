"""Scores of the whole fixture corpus graded by two graders, compared test by test.

    .venv/bin/python bench/compare_scores.py --before DIR [--jobs 2] [--out FILE] [--only A,B]

Stages every folder of ``tests/fixtures/submissions/`` once (``tests/fixture_edits.py``), then
grades that one class folder with ``grader run CLASS --no-gate --format json`` by the grader
checked out in DIR (an earlier commit, the same Python) and by this one, and prints each
difference: a submission's total or an exercise's score, or a test's score, status or
feedback, or the result's warnings (durations are left out). Exit status 1 if any differ.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import fixture_edits  # noqa: E402


def grade(tree: Path, folder: Path, jobs: int) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", "grader.cli", "run", str(folder), "--no-gate"]
    cmd += ["--format", "json", "--jobs", str(jobs)]
    env = dict(os.environ, PYTHONPATH=str(tree))
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=True)
    results = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {r["submission"]: r for r in results}, time.monotonic() - start


def view(result: dict) -> dict:
    return {
        "score": result["score"],
        "exercises": {k: e["score"] for k, e in result["exercises"].items()},
        "tests": {
            (t["exercise"], t["name"]): (t["score"], t["status"], t["feedback"])
            for t in result["tests"]
        },
        "warnings": result.get("warnings", []),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, help="write the comparison as JSON here")
    parser.add_argument("--only", default="", help="these fixtures (comma-separated), not all")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scores-") as scratch:
        os.chmod(scratch, 0o755)
        folder = Path(scratch) / "class"
        names = sorted(p.name for p in fixture_edits.FIXTURES.iterdir() if p.is_dir())
        if args.only:
            names = [n for n in names if n in args.only.split(",")]
        for name in names:
            fixture_edits.stage(name, folder / name)
        before, before_s = grade(args.before.resolve(), folder, args.jobs)
        after, after_s = grade(REPO, folder, args.jobs)
    differences = []
    for name in names:
        old, new = view(before[name]), view(after[name])
        for key in ("score", "exercises", "warnings"):
            if old[key] != new[key]:
                differences.append({"submission": name, key: [old[key], new[key]]})
        for test in sorted(set(old["tests"]) | set(new["tests"])):
            if old["tests"].get(test) != new["tests"].get(test):
                differences.append(
                    {"submission": name, "test": list(test),
                     "before": old["tests"].get(test), "after": new["tests"].get(test)}
                )  # fmt: skip
    report = {
        "submissions": len(names),
        "wall_s": {"before": round(before_s, 1), "after": round(after_s, 1)},
        "differences": differences,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
