"""Compare the classic tutorial recipe with the gate's recipe, in one process.

Both run through ``grader.inside.gate_training.train_gate`` with the reference solutions (the
student pipeline: PIL transforms, the solution's DataLoaders, ``train_one_epoch``) and are scored by
``grader.gate.evaluation.evaluate`` on the test split. Prints figures; asserts nothing.

    python bench/gate_recipe.py [--device cpu] [--skip-tutorial] [--seeds 0,1]
                                [--set lr=0.05 --set epochs=6 ...] [--threads N]
"""

from __future__ import annotations

import argparse
import ast
import importlib
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from grader import data  # noqa: E402
from grader.course import recipes  # noqa: E402
from grader.gate import evaluation  # noqa: E402
from grader.inside import gate_training  # noqa: E402

TUTORIAL = {
    "optimizer": "sgd",
    "lr": 0.001,
    "momentum": 0.9,
    "nesterov": False,
    "weight_decay": 0.0,
    "schedule": "constant",
    "batch_size": 4,
    "epochs": 2,
    "num_workers": 0,
    "seed": 0,
    "label_smoothing": 0.0,
    "ema": 0.0,
    "flip_eval": False,
    "threshold": 0.0,
    "time_limit_s": None,
}


def reference_modules():
    """The reference ex3, ex4, ex5 (they import each other by bare name)."""
    sys.path.insert(0, str(REPO / "solutions"))
    return [importlib.import_module(name) for name in ("ex3_data", "ex4_net", "ex5_train")]


def parse_overrides(pairs: list[str]) -> dict:
    overrides = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        try:
            overrides[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            overrides[key] = text
    return overrides


def run(name: str, recipe: dict, device: str, root: Path, modules) -> dict:
    ex3, ex4, ex5 = modules
    out = gate_training.train_gate(ex3, ex4, ex5, data.split_dir(root, "train"), recipe, device)
    images, labels = data.load_split(root, "test")
    scores = evaluation.evaluate(out["state_dict"], out["mean"], out["std"], images, labels, device,
                           ex4.Net, flip=recipe.get("flip_eval", False))  # fmt: skip
    losses = " ".join(f"{x:.3f}" for x in out["epoch_losses"])
    print(
        f"{name:9s} seed {recipe['seed']}: accuracy {scores['accuracy']:.4f}  "
        f"train_s {out['train_s']:6.1f}  epochs {out['epochs_done']}"
        f"{'  TIMED OUT' if out['timed_out'] else ''}  losses {losses}",
        flush=True,
    )
    return {"accuracy": scores["accuracy"], "train_s": out["train_s"]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--skip-tutorial", action="store_true")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
    parser.add_argument(
        "--tutorial-seeds", type=int, default=None, help="train the tutorial for the first N only"
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field of the gate recipe")  # fmt: skip
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument("--root", type=Path, help="prepared data root (default: ensure_prepared)")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    root = args.root or data.ensure_prepared()
    modules = reference_modules()
    device_kind = "cuda" if args.device.startswith("cuda") else "cpu"
    recipe = {**recipes.RECIPES[device_kind], **parse_overrides(args.set)}
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, gate recipe {recipe}")

    default_threads = torch.get_num_threads()  # the tutorial runs with torch's default
    results = {"tutorial": [], "gate": []}
    for index, seed in enumerate(int(s) for s in args.seeds.split(",")):
        if not args.skip_tutorial and (args.tutorial_seeds is None or index < args.tutorial_seeds):
            tutorial = {**TUTORIAL, "seed": seed, "threads": default_threads}
            results["tutorial"].append(run("tutorial", tutorial, args.device, root, modules))
        results["gate"].append(run("gate", {**recipe, "seed": seed}, args.device, root, modules))

    for name, rows in results.items():
        if rows:
            acc = statistics.median(r["accuracy"] for r in rows)
            secs = statistics.median(r["train_s"] for r in rows)
            print(f"{name:9s} median: accuracy {acc:.4f}  train_s {secs:.1f}")
    if results["tutorial"]:
        tutorial_s = statistics.median(r["train_s"] for r in results["tutorial"])
        gate_s = statistics.median(r["train_s"] for r in results["gate"])
        print(f"train_s ratio gate/tutorial: {gate_s / tutorial_s:.2f}")


if __name__ == "__main__":
    main()
