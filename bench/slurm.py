"""Scheduling overhead of Slurm: a class through a one-node Slurm cluster vs local ``--jobs 2``.

    .venv/bin/python bench/slurm.py [--count 12] [--exercises ex1,ex2,ex3,ex4,ex5] [--repeat 1]

Builds N submissions as ``bench/batch.py`` does (every third with a bug in ex1), starts the
tests' one-node cluster (``tests/slurm_cluster.py``: munged, slurmctld, slurmd on localhost;
needs root and Debian's slurm-wlm and munge), and grades the folder without the gate twice
per repeat, alternating: ``grader run DIR --out OUT --jobs 2`` and ``grader run DIR --out OUT
--executor slurm`` with two tasks of N/2 submissions, one CPU each (the same shape: two
grading processes on the machine's two cores), in the order AB BA AB ... Reports both wall
times, their ratio (goal: Slurm <= 1.3x local), where Slurm's own time went (until its first
task ran, after its last one ended, from submitit's logs), the load average around each run
(the machine may be shared) and whether every submission got the same score both ways.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import slurm_cluster  # noqa: E402
from batch import make_class  # noqa: E402

STAMP = re.compile(r"submitit INFO \((\S+ \S+)\) - (Starting with|Exiting after successful)")


def task_times(out: Path) -> list[tuple[float, float]]:
    """(start, end) of each array task, from submitit's logs (wall-clock seconds)."""
    spans = []
    for log in sorted((out / "slurm" / "logs").glob("*_0_log.out")):
        stamps = {}
        for when, what in STAMP.findall(log.read_text()):
            moment = datetime.strptime(when, "%Y-%m-%d %H:%M:%S,%f").timestamp()
            stamps[what.split()[0]] = moment
        if len(stamps) == 2:
            spans.append((stamps["Starting"], stamps["Exiting"]))
    return spans


def grade(folder: Path, out: Path, exercises: str, extra: list[str], env: dict) -> dict:
    cmd = [sys.executable, "-m", "grader.cli", "run", str(folder), "--out", str(out)]
    cmd += ["--no-gate", "--format", "json", "--exercises", exercises, *extra]
    load_before = os.getloadavg()[0]
    start, started_at = time.monotonic(), time.time()
    completed = subprocess.run(
        cmd, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True
    )
    wall = time.monotonic() - start
    if completed.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{completed.stderr[-3000:]}")
    results = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    spans = task_times(out)
    timing = {}
    if spans:  # what Slurm added: until the first task ran, and after the last one ended
        first, last = min(a for a, _ in spans), max(b for _, b in spans)
        timing = {
            "tasks": len(spans),
            "to_first_task_s": round(first - started_at, 1),
            "tasks_span_s": round(last - first, 1),
            "after_last_task_s": round(started_at + wall - last, 1),
        }
    return {
        "wall_s": round(wall, 1),
        **timing,
        "per_minute": round(len(results) / wall * 60, 2),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "scores": {r["submission"]: r["score"] for r in results},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--exercises", default="ex1,ex2,ex3,ex4,ex5")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    per_task = (args.count + 1) // 2
    ways = {
        "local --jobs 2": (["--jobs", "2"], {}),
        "slurm": (
            ["--executor", "slurm", "--slurm-set", f"submissions_per_task={per_task}"]
            + ["--slurm-set", "cpus_per_task=1", "--slurm-set", "mem_per_task_gb=4"],
            None,
        ),
    }
    runs: dict[str, list[dict]] = {name: [] for name in ways}
    with tempfile.TemporaryDirectory(prefix="bench-slurm-") as scratch:
        os.chmod(scratch, 0o755)  # the sandbox's users read the submissions
        folder = make_class(Path(scratch) / "class", args.count)
        with slurm_cluster.start() as cluster:
            for repeat in range(args.repeat):
                order = list(ways) if repeat % 2 == 0 else list(reversed(ways))  # ABBA
                for name in order:
                    extra, env = ways[name]
                    out = Path(scratch) / f"out-{name.split()[0]}-{repeat}"
                    run = grade(
                        folder, out, args.exercises, extra, cluster.env if env is None else env
                    )
                    runs[name].append(run)
                    shown = {k: v for k, v in run.items() if k != "scores"}
                    print(json.dumps({"way": name, **shown}), file=sys.stderr, flush=True)
    median = {name: statistics.median(r["wall_s"] for r in rs) for name, rs in runs.items()}
    same = all(
        r["scores"] == runs["local --jobs 2"][0]["scores"] for rs in runs.values() for r in rs
    )
    report = {
        "count": args.count,
        "exercises": args.exercises,
        "cpus": os.cpu_count(),
        "runs": runs,
        "median_wall_s": median,
        "slurm_over_local": round(median["slurm"] / median["local --jobs 2"], 2),
        "same_scores": same,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
