"""Fixtures of the hidden suites: a sandboxed worker per exercise and its probes.

Each suite file sets ``EXERCISE`` (``"ex1"`` ...). Tests call ``probe("name", **args)``,
which runs ``grader.probes.<exercise>.name`` in the worker and returns its data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.course_config import PROBE_TIMEOUT_S
from grader.errors import ProbeFailure
from grader.kit import EXERCISES, WORKER_START_TIMEOUT_S
from grader.sandbox.client import WorkerClient, WorkerSpec
from grader.sandbox.limits import Limits
from grader.suite_runner import FORKSERVER, NOTES


def pytest_addoption(parser):
    group = parser.getgroup("grader", "hidden suite options")
    group.addoption("--submission", help="staged submission folder to grade")
    group.addoption("--device", default="cpu", choices=("cpu", "cuda"))
    group.addoption("--isolation", default="bwrap", choices=("bwrap", "process"))
    group.addoption("--no-gate", action="store_true", help="leave out the accuracy gate")
    group.addoption("--data-root", default=None, help="prepared CIFAR-10 folder")
    group.addoption("--probe-timeout", type=float, default=PROBE_TIMEOUT_S)
    group.addoption("--gate-overrides", default="{}", help="JSON: gate recipe fields to replace")
    group.addoption(
        "--gate-reference",
        default="{}",
        help="JSON: the reference's training cost here (grader.calibration), or why not known",
    )
    group.addoption("--cores", default="", help="comma-separated cores the worker is pinned to")
    group.addoption("--background", action="store_true", help="the lowest CPU priority")


class Probe:
    """Calls into one exercise's worker; import failures are found once and reused."""

    def __init__(
        self, worker: WorkerClient, exercise, submission: Path, timeout_s: float, notes: list
    ):
        self.worker = worker
        self.notes = notes
        self.timeout_s = timeout_s
        self.exercise = exercise
        self.submission = submission
        self._load_error: ProbeFailure | None = None
        self._loaded = False

    def _ensure_loaded(self) -> None:
        if not (self.submission / self.exercise.filename).exists():
            pytest.fail(
                f"{self.exercise.filename} is not in the submission, so {self.exercise.key} "
                "scores 0: hand it in with exactly this file name",
                pytrace=False,
            )
        if self._load_error is None and not self._loaded:
            try:
                loaded = self.worker.call(
                    "load", timeout_s=self.timeout_s, module=self.exercise.module
                )
                self._loaded = True
                self._note_skipped_cells(loaded)
            except ProbeFailure as exc:
                exc.message = f"{self.exercise.filename} could not be imported: {exc.message}"
                self._load_error = exc
        if self._load_error is not None:
            raise self._load_error

    def _note_skipped_cells(self, loaded) -> None:
        cells = loaded.get("skipped_cells") if isinstance(loaded, dict) else None
        for cell in cells if isinstance(cells, list) else []:
            if isinstance(cell, list) and len(cell) == 2:
                self.notes.append(
                    f"{self.exercise.module}.ipynb: cell {cell[0]} was skipped, it failed when "
                    f"the notebook was run ({cell[1]}); anything it defines is missing"
                )

    def __call__(
        self,
        probe_name: str,
        /,
        *,
        timeout_s: float | None = None,
        outside_budget: bool = False,
        watch=None,
        **args,
    ):
        self._ensure_loaded()
        name = f"{self.exercise.key}.{probe_name}"
        return self.worker.call(
            name,
            timeout_s=timeout_s or self.timeout_s,
            outside_budget=outside_budget,
            watch=watch,
            **args,
        )


@pytest.fixture(scope="module")
def options(request):
    config = request.config
    submission = config.getoption("--submission")
    if not submission:
        pytest.exit("--submission is required", returncode=4)
    data_root = config.getoption("--data-root")
    return {
        "submission": Path(submission).resolve(),
        "device": config.getoption("--device"),
        "isolation": config.getoption("--isolation"),
        "gate": not config.getoption("--no-gate"),
        "data_root": Path(data_root).resolve() if data_root else None,
        "probe_timeout_s": config.getoption("--probe-timeout"),
        "gate_overrides": json.loads(config.getoption("--gate-overrides")),
        "gate_reference": json.loads(config.getoption("--gate-reference")),
        "cores": [int(c) for c in config.getoption("--cores").split(",") if c],
        "background": config.getoption("--background"),
    }


@pytest.fixture(scope="module")
def exercise(request):
    return EXERCISES[request.module.EXERCISE]


@pytest.fixture(scope="module")
def gate_labels(request, options):
    """For the gate: a secret relabelling of the classes, new for every run, and the training
    labels under it (what the worker trains on). Weights trained elsewhere, on the true
    labels, score by chance under it; the trusted side scores the test split under it too."""
    if not (getattr(request.module, "NEEDS_TRAIN_DATA", False) and options["data_root"]):
        return None
    if not options["gate"]:
        return None
    import secrets

    import numpy as np

    from grader import data

    permutation = np.array(secrets.SystemRandom().sample(range(10), 10), dtype=np.int64)
    _, labels = data.load_split(options["data_root"], "train", verify="none", mmap=True)
    return {"permutation": permutation, "train": permutation[labels]}


@pytest.fixture(scope="module")
def worker(request, options, gate_labels):
    spec = WorkerSpec(
        submission=options["submission"],
        device=options["device"],
        isolation=options["isolation"],
        cores=options["cores"] or None,
        background=options["background"],
    )
    if gate_labels is not None:
        spec.train_images = options["data_root"] / "train" / "images.npy"
        spec.train_labels = gate_labels["train"]
    limits = Limits()
    worker = WorkerClient(
        spec,
        start_timeout_s=WORKER_START_TIMEOUT_S,
        budget_s=limits.exercise_budget_s,
        server=request.config.stash.get(FORKSERVER, None),
    )
    yield worker
    worker.close()


@pytest.fixture(scope="module")
def probe(request, worker, exercise, options):
    notes = request.config.stash.get(NOTES, [])
    return Probe(worker, exercise, options["submission"], options["probe_timeout_s"], notes)


@pytest.fixture(scope="module")
def rng():
    import numpy as np

    return np.random.default_rng(20261126)
