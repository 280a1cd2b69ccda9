"""What the reference's gate run costs on this machine: the basis of the gate's time limit.

A submission's gate run may cost at most ``time_factor`` times what the reference's costs
here, on the same device, with the same cores, in the same sandbox, measured over the same
window (:mod:`grader.gate.trial`: from the import of the exercise modules, through building
the pipeline, to the end of training). On CPU the cost is counted in CPU seconds (the kernel's
accounting of the worker's processes): a busy machine or a neighbour in the batch makes the
run take longer, not cost more. On a GPU it is counted in wall seconds.

The measurement runs once per machine and is kept beside the prepared data
(``<data root>/calibration.json``), keyed by what changes it: the device's name, the CPU
model, the cores a gate gets, torch's version, the isolation, the recipe's fields that
change the work and the window measured. ``grader calibrate`` measures again by hand; a run
that finds no measurement for its key measures first (the reference's gate run, once).
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from grader.errors import CalibrationError
from grader.files import atomic_write

FILE = "calibration.json"
COST_FIELDS = ("optimizer", "batch_size", "epochs", "num_workers", "threads", "schedule")
"""Recipe fields that change how much work training is (not its threshold or limit)."""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name(0)
    return cpu_model()


def machine(device: str, recipe: dict, cores: int, isolation: str) -> dict:
    """What the measurement depends on; its hash is the key in ``calibration.json``."""
    import torch

    from grader.gate.trial import PHASES
    from grader.sandbox.cpus import quota

    return {
        "window": list(PHASES),
        "device": device,
        "device_name": device_name(device),
        "cpu_model": cpu_model(),
        "cores": cores,
        "cpu_quota": quota(),
        "torch": torch.__version__,
        "isolation": isolation,
        "recipe": {key: recipe.get(key) for key in COST_FIELDS},
    }


def _key(description: dict) -> str:
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]


def _read(data_root: Path) -> dict:
    try:
        stored = json.loads((Path(data_root) / FILE).read_text())
        return stored if isinstance(stored, dict) else {}
    except (OSError, ValueError):
        return {}


def lookup(data_root: Path, description: dict) -> dict | None:
    """The stored measurement for ``description``, if there is one."""
    entry = _read(data_root).get(_key(description))
    return entry if isinstance(entry, dict) and entry.get("machine") == description else None


def _store(data_root: Path, entry: dict) -> None:
    stored = _read(data_root)
    stored[_key(entry["machine"])] = entry
    text = json.dumps(stored, indent=2, sort_keys=True).encode()
    atomic_write(Path(data_root) / FILE, lambda f: f.write(text))


def measure(
    data_root: Path,
    *,
    device: str,
    recipe: dict,
    isolation: str,
    cores: list[int],
    repeats: int = 1,
    progress=None,
) -> dict:
    """Run the reference's gate ``repeats`` times, as the gate runs a submission's (the same
    window, :func:`grader.gate.trial.run`); store and return the median cost (``cpu_s``,
    ``wall_s``) with what it depends on."""
    from grader import data
    from grader.course import reference
    from grader.errors import ProbeFailure, SandboxError
    from grader.gate import evaluation
    from grader.gate import trial as gate_trial
    from grader.kit import SOLUTIONS_DIR, WORKER_START_TIMEOUT_S
    from grader.sandbox.launch import WorkerSpec
    from grader.submissions.loading import load, stage

    description = machine(device, recipe, len(cores), isolation)
    unlimited = gate_trial.Limit("wall", 3600.0, 3600.0)
    runs = []
    scratch = Path(tempfile.mkdtemp(prefix="grader-calibration-"))
    try:
        staged = stage(load(SOLUTIONS_DIR, "reference"), scratch / "reference")
        _, train_labels = data.load_split(data_root, "train", verify="none", mmap=True)
        test_images, test_labels = data.load_split(data_root, "test")
        spec = WorkerSpec(
            submission=staged,
            train_images=Path(data_root) / "train" / "images.npy",
            train_labels=train_labels,
            device=device,
            isolation=isolation,
            cores=cores,
        )
        for run in range(repeats):
            if progress:
                progress(f"calibrating the gate on this machine: the reference's gate run, "
                         f"{run + 1} of {repeats} ...")  # fmt: skip
            trial = gate_trial.run(spec, recipe, unlimited, start_timeout_s=WORKER_START_TIMEOUT_S)
            if trial.weights is None:
                raise CalibrationError(f"the reference's gate run was stopped: {trial.stopped}")
            scores = evaluation.evaluate(
                trial.weights["state_dict"], trial.prepared["mean"], trial.prepared["std"],
                test_images, test_labels, device, reference.load("ex4_net").Net,
                flip=recipe["flip_eval"],
            )  # fmt: skip
            runs.append(
                {"cpu_s": trial.cpu_s, "wall_s": trial.wall_s, "phases": trial.phases_cpu_s,
                 **scores}
            )  # fmt: skip
    except (OSError, ProbeFailure, SandboxError, ValueError, KeyError) as exc:
        raise CalibrationError(f"the reference's gate run failed here: {exc}") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    cpu = [r["cpu_s"] for r in runs if r["cpu_s"] is not None]
    entry = {
        "machine": description,
        "cpu_s": round(statistics.median(cpu), 2) if len(cpu) == len(runs) else None,
        "wall_s": round(statistics.median(r["wall_s"] for r in runs), 2),
        "runs": [
            {
                "cpu_s": r["cpu_s"],
                "wall_s": round(r["wall_s"], 2),
                "phases_cpu_s": r["phases"],
                "accuracy": round(r["accuracy"], 4),
            }
            for r in runs
        ],  # fmt: skip
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _store(data_root, entry)
    return entry
