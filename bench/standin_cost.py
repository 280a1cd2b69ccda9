"""What a stand-in's round trips cost: ex1's fit_sine with the grader's sse_grads or predict
asked of the trusted side at every step, against the student's own.

    .venv/bin/python bench/standin_cost.py [--steps 5000] [--repeat 3] [--isolation bwrap]

Stages the reference solutions with ``sse_grads`` given the wrong sign (so that it is the
one replaced) and calls the ``ex1.fit_sine`` probe in one worker: without stand-ins, with
``sse_grads`` replaced (one question a step: coeffs, and x and y kept in slots after the
first) and with ``predict`` replaced (a question a step and one more every 100 steps, each
answer 2,000 numbers). Prints per mode the wall seconds of the call, the CPU seconds of the
worker and of this (trusted) process, and the cost per question. On a busy machine the CPU
seconds are the steadier measure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import fixture_edits  # noqa: E402

from grader.grading import dependencies  # noqa: E402
from grader.sandbox.client import WorkerClient, WorkerSpec  # noqa: E402

MODES = {
    "own": [],
    "sse_grads": [("ex1", "sse_grads")],
    "predict": [("ex1", "predict")],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--isolation", default="bwrap")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        staged = fixture_edits.stage("bug_sse_grads_wrong_sign", Path(folder) / "s")
        spec = WorkerSpec(submission=staged, isolation=options.isolation)
        with WorkerClient(spec, start_timeout_s=120) as worker:
            worker.call("load", timeout_s=60, module="ex1_gradients")
            for mode, functions in MODES.items():
                targets = [dependencies.target(f) for f in functions]
                oracles = {dependencies.target(f): dependencies.ORACLES[f] for f in functions}
                rows = []
                for _ in range(options.repeat):
                    wall, mine, theirs = time.monotonic(), time.process_time(), worker.cpu_seconds()
                    worker.call(
                        "ex1.fit_sine",
                        timeout_s=600,
                        outside_budget=True,
                        standins=targets,
                        oracles=oracles,
                        steps=options.steps,
                        lr=1e-6,
                        seed=0,
                    )
                    rows.append(
                        (
                            time.monotonic() - wall,
                            (worker.cpu_seconds() or 0) - (theirs or 0),
                            time.process_time() - mine,
                        )
                    )
                wall, worker_cpu, trusted_cpu = (
                    statistics.median(c) for c in zip(*rows, strict=True)
                )
                questions = options.steps + (options.steps // 100 if mode == "predict" else 0)
                per = 1000 * wall / questions if functions else 0.0
                print(
                    f"{mode:>10}: {options.steps} steps, wall {wall:.2f} s, worker CPU "
                    f"{worker_cpu:.2f} s, trusted CPU {trusted_cpu:.2f} s"
                    + (f", {per:.2f} ms wall per question" if functions else "")
                )


if __name__ == "__main__":
    main()
