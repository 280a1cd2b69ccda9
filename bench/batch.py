"""Batch throughput: N submissions without the gate, ``--jobs 1`` against ``--jobs 2``.

    .venv/bin/python bench/batch.py [--count 50] [--exercises ex1,ex2,ex3,ex4,ex5] [--repeat 1]

Builds N copies of the reference (every third with a bug in ex1, so failures are rendered
too) in a temp dir, runs ``grader run DIR --no-gate --format json`` with each job count
(alternating, ``--repeat`` times) and reports submissions per minute, the per-submission
overhead (wall time per submission, minus the time the hidden tests themselves took) and
the speed-up of ``--jobs 2``. Goals: overhead <= 3 s, speed-up >= 1.7x.
"""

from __future__ import annotations

import argparse
import json
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


def grade(folder: Path, jobs: int, exercises: str) -> dict:
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
    completed = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
    wall = time.monotonic() - start
    results = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    tests_s = [sum(t["duration_s"] for t in r["tests"]) for r in results]
    n = len(results)
    return {
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        folder = make_class(Path(scratch) / "class", args.count)
        runs = {1: [], 2: []}
        for _ in range(args.repeat):
            for jobs in (1, 2):
                runs[jobs].append(grade(folder, jobs, args.exercises))
                print(json.dumps(runs[jobs][-1]), file=sys.stderr)
    median = {j: statistics.median(r["wall_s"] for r in rs) for j, rs in runs.items()}
    report = {
        "count": args.count,
        "exercises": args.exercises,
        "runs": runs,
        "median_wall_s": median,
        "speedup_jobs2": round(median[1] / median[2], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
