"""The gate's time limit on the grading machine: classes graded through ``grader run``.

Each scenario grades a generated class (copies of the reference, and optionally bug
submissions) on ex5 with the gate, through the real command line, and prints every gate's
cost against the reference's on this machine (``grader calibrate``, done first and not under
load) with the batch's wall time. Prints figures and writes them as JSON; asserts nothing.

    python bench/gate_machine.py jobs  --copies 4 --jobs 2 [--load 2]
    python bench/gate_machine.py class --copies 8 --bugs --jobs 1,2
    python bench/gate_machine.py slow  [--epochs 1]

``--load N`` runs N busy processes per core while grading (the machine made N+1 times
slower for everyone). ``slow`` grades the pixel-loop transform (bug_transform_pixel_loop)
with a limit far above it, to measure how many times the reference's cost it takes.
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
sys.path.insert(0, str(REPO / "tests"))

import fixture_edits  # noqa: E402
import fixture_expectations  # noqa: E402

GATE_BUGS = sorted(
    name
    for name, bug in fixture_expectations.of(fixture_expectations.Bug).items()
    if bug.full_gate == "fails"
)
"""The bug fixtures that must fail the full gate (their ``expected.toml`` says so)."""
GRADER = [sys.executable, "-P", "-m", "grader.cli"]


def submission(dest: Path, fixture: str | None = None) -> None:
    """The reference as a student would hand it in, or a fixture's version of it."""
    fixture_edits.stage(fixture, dest)


def busy(count: int) -> list[subprocess.Popen]:
    """``count`` processes that spin on the CPU until killed."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def grade(folder: Path, jobs: int, *extra: str) -> dict:
    start = time.monotonic()
    completed = subprocess.run(
        [*GRADER, "run", str(folder), "--exercises", "ex5", "--device", "cpu", "--format",
         "json", "--jobs", str(jobs), *extra],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    wall = time.monotonic() - start
    if completed.returncode != 0:
        raise SystemExit(f"grader run failed:\n{completed.stderr[-3000:]}")
    gates = {}
    for line in completed.stdout.splitlines():
        result = json.loads(line)
        test = next(t for t in result["tests"] if t["name"] == "test_accuracy_gate")
        metrics = test["metrics"]
        gates[result["submission"]] = {
            "status": test["status"],
            "accuracy": metrics.get("accuracy"),
            "train_s": metrics.get("train_s"),
            "train_cpu_s": metrics.get("train_cpu_s"),
            "time_ratio": metrics.get("time_ratio"),
            "time_basis": metrics.get("time_basis"),
            "time_limit_s": metrics.get("time_limit_s"),
            "feedback": test["feedback"][:300],
        }
    return {"jobs": jobs, "wall_s": round(wall, 1), "gates": gates}


def show(run: dict, label: str) -> None:
    print(f"{label}: --jobs {run['jobs']}, {len(run['gates'])} submissions in {run['wall_s']} s")
    for name, gate in sorted(run["gates"].items()):
        print(
            f"  {name:34s} {gate['status']:7s} accuracy {gate['accuracy'] or 0:.4f}  "
            f"train {gate['train_s'] or 0:6.1f} s  cpu {gate['train_cpu_s'] or 0:6.1f} s  "
            f"ratio {gate['time_ratio'] or 0:.2f} ({gate['time_basis']})"
        )
    ratios = [g["time_ratio"] for n, g in run["gates"].items() if n.startswith("ref")]
    if ratios:
        print(f"  reference ratios: median {statistics.median(ratios):.2f}, max {max(ratios):.2f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=("jobs", "class", "slow"))
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--jobs", default="2", help="comma-separated, e.g. 1,2")
    parser.add_argument("--bugs", action="store_true", help="add the four gate bugs")
    parser.add_argument("--load", type=int, default=0, help="busy processes per core")
    parser.add_argument("--epochs", type=int, default=1, help="for slow: epochs to train")
    parser.add_argument("--out", type=Path, help="JSON file for the figures")
    args = parser.parse_args(argv)

    calibrated = subprocess.run([*GRADER, "calibrate", "--device", "cpu"], cwd=REPO,
                                capture_output=True, text=True)  # fmt: skip
    print(calibrated.stdout.strip() or calibrated.stderr[-2000:])
    report = {"scenario": args.scenario, "load": args.load, "runs": []}
    with tempfile.TemporaryDirectory(prefix="gate-machine-") as scratch:
        folder = Path(scratch) / "class"
        if args.scenario == "slow":
            submission(folder / "reference")
            submission(folder / "pixel_loop", "bug_transform_pixel_loop")
            extra = ["--gate-set", "time_factor=100", "--gate-set", f"epochs={args.epochs}"]
            run = grade(folder, 1, *extra, "--force")
            show(run, "slow pipeline, no effective limit")
            report["runs"].append(run)
        else:
            for i in range(args.copies):
                submission(folder / f"ref{i + 1}")
            for bug in GATE_BUGS if args.bugs else ():
                submission(folder / bug, bug)
            spinners = busy(args.load * (os.cpu_count() or 1))
            try:
                for jobs in [int(j) for j in args.jobs.split(",")]:
                    run = grade(folder, jobs)
                    show(run, f"{args.scenario}, load {args.load}")
                    report["runs"].append(run)
            finally:
                for spinner in spinners:
                    spinner.kill()
    report["calibration"] = calibrated.stdout.strip()
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"figures written to {args.out}")


if __name__ == "__main__":
    main()
