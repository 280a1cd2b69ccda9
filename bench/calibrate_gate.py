"""Calibrate the accuracy gate: train the reference over several seeds and record the spread.

Each seed runs ``grader.inside.gate_training.train_gate`` with the reference solutions and the
device's recipe (``grader.course.recipes.RECIPES``, optionally overridden with ``--set``) and is
scored by ``grader.gate.evaluation.evaluate``. Writes per-seed accuracy, prepare_s and train_s
plus min/median/max
as JSON (in-process wall seconds, for the spread over seeds; the gate's time limit is calibrated
by ``grader calibrate``, in the gate's own sandboxed worker).

    python bench/calibrate_gate.py [--device cpu] [--seeds 5] [--first-seed 0] [--out PATH]
                                   [--set epochs=8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import torch  # noqa: E402
from gate_recipe import parse_overrides, reference_modules  # noqa: E402

from grader import data  # noqa: E402
from grader.course import recipes  # noqa: E402
from grader.gate import evaluation  # noqa: E402
from grader.inside import gate_training  # noqa: E402


def spread(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seeds", type=int, default=5, help="how many seeds (default 5)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds FIRST..FIRST+N-1 (default 0)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="default bench/results/calibration-<device>.json")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field of the recipe")  # fmt: skip
    parser.add_argument("--root", type=Path, help="prepared data root (default: ensure_prepared)")
    args = parser.parse_args(argv)

    kind = "cuda" if args.device.startswith("cuda") else "cpu"
    out = args.out or REPO / "bench" / "results" / f"calibration-{kind}.json"
    recipe = {**recipes.RECIPES[kind], **parse_overrides(args.set)}
    root = args.root or data.ensure_prepared()
    ex3, ex4, ex5 = reference_modules()
    test_images, test_labels = data.load_split(root, "test")
    print(f"device {args.device}, recipe {recipe}", flush=True)

    runs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        trained = gate_training.train_gate(
            ex3, ex4, ex5, data.split_dir(root, "train"), {**recipe, "seed": seed}, args.device
        )
        scores = evaluation.evaluate(trained["state_dict"], trained["mean"], trained["std"],
                               test_images, test_labels, args.device, ex4.Net,
                               flip=recipe.get("flip_eval", False))  # fmt: skip
        runs.append(
            {
                "seed": seed,
                "accuracy": scores["accuracy"],
                "prepare_s": trained["prepare_s"],
                "train_s": trained["train_s"],
                "timed_out": trained["timed_out"],
                "epoch_losses": trained["epoch_losses"],
                "per_class": scores["per_class"],
            }
        )
        print(f"seed {seed}: accuracy {scores['accuracy']:.4f}  prepare_s "
              f"{trained['prepare_s']:.1f}  train_s {trained['train_s']:.1f}"
              f"{'  TIMED OUT' if trained['timed_out'] else ''}", flush=True)  # fmt: skip

    accuracy = spread([r["accuracy"] for r in runs])
    train_s = spread([r["train_s"] for r in runs])
    device_name = torch.cuda.get_device_name() if kind == "cuda" else platform.processor()
    result = {
        "device": args.device,
        "device_name": device_name or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "recipe": recipe,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": runs,
        "accuracy": accuracy,
        "train_s": train_s,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"accuracy min {accuracy['min']:.4f} median {accuracy['median']:.4f} "
        f"max {accuracy['max']:.4f}; train_s min {train_s['min']:.1f} "
        f"median {train_s['median']:.1f} max {train_s['max']:.1f}; written to {out}"
    )


if __name__ == "__main__":
    main()
