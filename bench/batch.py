"""Batch throughput: N submissions without the gate, ``--jobs 1`` against ``--jobs 2``.

    .venv/bin/python bench/batch.py [--count 50] [--exercises ex1,ex2,ex3,ex4,ex5] [--repeat 1]
                                    [--before DIR]

Builds N copies of the reference (every third with a bug in ex1, so failures are rendered
too) in a temp dir, runs ``grader run DIR --no-gate --format json`` with each job count
(alternating, ``--repeat`` times) and reports submissions per minute, the per-submission
overhead (wall time per submission, minus the time the hidden tests themselves took) and
the speed-up of ``--jobs 2``. Goals: overhead <= 3 s, speed-up >= 1.7x. With ``--before
DIR`` (a checkout of an earlier grader, run with the same Python) each grading is done by
both in turn, and the report adds the ratio of submissions per minute, after to before.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def make_class(root: Path, count: int) -> Path:
    for i in range(count):
        folder = root / f"student{i:03d}"
        folder.mkdir(parents=True)
        for path in sorted((REPO / "solutions").glob("ex*.py")):
            text = path.read_text()
            if i % 3 == 2 and path.stem == "ex1_gradients":
                text = text.replace("coeffs - lr * grads", "coeffs + lr * grads")
            (folder / path.name).write_text(text)
    return root


def grade(folder: Path, jobs: int, exercises: str, tree: Path = REPO) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "grader.cli",
        "run",
        str(folder),
        "--no-gate",
        "--format",
        "json",
        "--exercises",
        exercises,
        "--jobs",
        str(jobs),
    ]
    start = time.monotonic()
    env = dict(os.environ, PYTHONPATH=str(tree))
    completed = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=True)
    wall = time.monotonic() - start
    results = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    tests_s = [sum(t["duration_s"] for t in r["tests"]) for r in results]
    n = len(results)
    return {
        "grader": "before" if tree != REPO else "after",
        "jobs": jobs,
        "wall_s": round(wall, 1),
        "per_minute": round(n / wall * 60, 2),
        "wall_per_submission_s": round(wall / n, 2),
        "tests_per_submission_s": round(statistics.mean(tests_s), 2),
        # the grading work that is not a hidden test: staging, pytest, worker start-up
        "overhead_per_submission_s": round(wall * jobs / n - statistics.mean(tests_s), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--exercises", default="ex1,ex2,ex3,ex4,ex5")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--before", type=Path, help="a checkout of the grader to compare")
    args = parser.parse_args()
    trees = {"after": REPO, **({"before": args.before.resolve()} if args.before else {})}
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        os.chmod(scratch, 0o755)
        folder = make_class(Path(scratch) / "class", args.count)
        runs = {(name, jobs): [] for name in trees for jobs in (1, 2)}
        for _ in range(args.repeat):
            for jobs in (1, 2):
                for name, tree in trees.items():
                    runs[name, jobs].append(grade(folder, jobs, args.exercises, tree))
                    print(json.dumps(runs[name, jobs][-1]), file=sys.stderr)
    median = {key: statistics.median(r["wall_s"] for r in rs) for key, rs in runs.items()}
    report = {
        "count": args.count,
        "exercises": args.exercises,
        "load_average": os.getloadavg(),
        "runs": {f"{name} --jobs {jobs}": rs for (name, jobs), rs in runs.items()},
        "median_wall_s": {f"{name} --jobs {jobs}": w for (name, jobs), w in median.items()},
        "speedup_jobs2": {name: round(median[name, 1] / median[name, 2], 2) for name in trees},
    }
    if args.before:
        report["per_minute_after_to_before"] = {
            f"--jobs {jobs}": round(median["before", jobs] / median["after", jobs], 2)
            for jobs in (1, 2)
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
