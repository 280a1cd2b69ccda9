"""Train the typical training bugs through the gate and record their accuracies.

Each bug is the reference solutions with its fixture's edits applied
(``tests/fixtures/submissions/<bug>/``, the same the slow test grades through ``grader run``):

    bug_no_zero_grad                train_one_epoch never calls optimizer.zero_grad()
    bug_step_before_backward        optimizer.step() comes before loss.backward()
    bug_no_normalize                build_transform has no Normalize (channel_stats unused)
    bug_normalize_only_in_training  Normalize for training only, not for evaluation
    bug_train_loader_not_shuffled   make_loaders builds the training loader with shuffle=False

Each runs ``grader.inside.gate_training.train_gate`` (the code the sandboxed ``gate`` probe
runs) with the device's recipe and is scored by ``grader.gate.evaluation.evaluate``, one
training at a time. Writes
bench/results/gate-bugs-<device>.json and prints a table.

    python bench/gate_bugs.py [--device cpu] [--bugs bug_no_zero_grad,...] [--seed 0]
                              [--set epochs=7 ...] [--root PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

import fixture_edits  # noqa: E402
import torch  # noqa: E402
from gate_recipe import parse_overrides, reference_modules  # noqa: E402

from grader import data  # noqa: E402
from grader.course import recipes  # noqa: E402
from grader.gate import evaluation  # noqa: E402
from grader.inside import gate_training  # noqa: E402

BUGS = {
    "bug_no_zero_grad": "no optimizer.zero_grad() in train_one_epoch",
    "bug_step_before_backward": "optimizer.step() before loss.backward()",
    "bug_no_normalize": "build_transform without Normalize (channel_stats unused)",
    "bug_normalize_only_in_training": "Normalize only with train=True (not for evaluation)",
    "bug_train_loader_not_shuffled": "training loader with shuffle=False",
}
MODULES = ("ex3_data", "ex4_net", "ex5_train")


def bug_modules(bug: str, scratch: Path) -> list:
    """The reference ex3, ex4, ex5 with the bug's fixture edits applied in their place."""
    modules = reference_modules()
    staged = fixture_edits.stage(bug, scratch / bug)
    for stem in fixture_edits.fixture_files(bug):
        if stem not in MODULES:
            continue
        spec = importlib.util.spec_from_file_location(f"{bug}_{stem}", staged / f"{stem}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules[MODULES.index(stem)] = module
    return modules


def train_bug(bug: str, recipe: dict, device: str, root: Path, test_split) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        ex3, ex4, ex5 = bug_modules(bug, Path(scratch))
    trained = gate_training.train_gate(ex3, ex4, ex5, data.split_dir(root, "train"), recipe, device)
    scores = evaluation.evaluate(trained["state_dict"], trained["mean"], trained["std"],
                           *test_split, device, reference_modules()[1].Net,
                           flip=recipe.get("flip_eval", False))  # fmt: skip
    passes = scores["accuracy"] >= recipe["threshold"] and not trained["timed_out"]
    return {
        "bug": bug,
        "what": BUGS[bug],
        "accuracy": scores["accuracy"],
        "train_s": trained["train_s"],
        "timed_out": trained["timed_out"],
        "passes_gate": passes,
        "epoch_losses": trained["epoch_losses"],
        "per_class": scores["per_class"],
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bugs", default=",".join(BUGS), help="comma-separated (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field of the recipe")  # fmt: skip
    parser.add_argument("--root", type=Path, help="prepared data root (default: ensure_prepared)")
    parser.add_argument("--out", type=Path, help="default bench/results/gate-bugs-<device>.json")
    args = parser.parse_args(argv)

    bugs = [b.strip() for b in args.bugs.split(",") if b.strip()]
    unknown = [b for b in bugs if b not in BUGS]
    if unknown:
        parser.error(f"unknown bug(s) {unknown}; choose from {list(BUGS)}")
    kind = "cuda" if args.device.startswith("cuda") else "cpu"
    out = args.out or REPO / "bench" / "results" / f"gate-bugs-{kind}.json"
    recipe = {**recipes.RECIPES[kind], **parse_overrides(args.set), "seed": args.seed}
    root = args.root or data.ensure_prepared()
    test_split = data.load_split(root, "test")
    print(f"device {args.device}, recipe {recipe}", flush=True)

    runs = []
    for bug in bugs:
        runs.append(train_bug(bug, recipe, args.device, root, test_split))
        r = runs[-1]
        print(f"{bug}: accuracy {r['accuracy']:.4f}  train_s {r['train_s']:.1f}  "
              f"{'PASSES' if r['passes_gate'] else 'fails'}", flush=True)  # fmt: skip

    device_name = torch.cuda.get_device_name() if kind == "cuda" else platform.processor()
    result = {
        "device": args.device,
        "device_name": device_name or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "recipe": recipe,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": runs,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n| bug | accuracy | train_s | gate (threshold {recipe['threshold']:.2f}) |")
    print("|---|---|---|---|")
    for r in runs:
        verdict = "PASSES (not caught)" if r["passes_gate"] else "fails"
        print(f"| {r['bug']} | {r['accuracy']:.4f} | {r['train_s']:.1f} | {verdict} |")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
