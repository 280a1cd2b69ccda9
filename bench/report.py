"""``grader report``: what the class report costs, from 200 to 1,000 results.

    .venv/bin/python bench/report.py [--sizes 200,500,1000]

Each class is the planted class of ``tests/class_results.py`` (the hidden suites' tests, the
bug fixtures' mistakes, the gate's metrics with a confusion matrix each), repeated to the
size, written as ``grader run --out`` leaves it (a JSON and a feedback page each). Then
``grader report DIR`` runs on it, timed start to exit, and once more in this process by
step (reading the results, the figures, the page, writing); the sizes of what it writes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import class_results  # noqa: E402

from grader.results.report import figures, page  # noqa: E402
from grader.results.stored import read_results  # noqa: E402


def steps(out: Path) -> dict:
    """Each step of the report in this process, in seconds."""
    taken = {}
    start = time.perf_counter()
    results = read_results(out)
    taken["read_s"] = time.perf_counter() - start
    start = time.perf_counter()
    data = figures.figures(results)
    taken["figures_s"] = time.perf_counter() - start
    start = time.perf_counter()
    page.render(data, feedback="../feedback", similarity=None)
    taken["page_s"] = time.perf_counter() - start
    return {key: round(value, 2) for key, value in taken.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="200,500,1000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        for size in map(int, args.sizes.split(",")):
            out = class_results.write(Path(scratch) / f"class{size}", class_results.build(size))
            command = [sys.executable, "-P", "-m", "grader.cli", "report", str(out)]
            start = time.monotonic()
            completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
            wall = time.monotonic() - start
            if completed.returncode:
                sys.exit(f"grader report failed:\n{completed.stderr}")
            written = {p.name: p.stat().st_size for p in sorted((out / "report").iterdir())}
            row = {"results": size, "wall_s": round(wall, 2), **steps(out)}
            row["kib"] = {name: round(size / 1024) for name, size in written.items()}
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
