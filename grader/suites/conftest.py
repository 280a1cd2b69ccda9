"""Fixtures of the hidden suites: a sandboxed worker per exercise and its probes.

Each suite file sets ``EXERCISE`` (``"ex1"`` ...). Tests call ``probe("name", **args)``,
which runs ``grader.inside.probes.<exercise>.name`` in the worker and returns its data, with the
grader's stand-ins in place of the functions the judged one goes through that failed their
own tests (:mod:`grader.grading.dependencies`). That worker
never has the training split: only the accuracy gate's own worker (``gate_spec``), started
afresh for the gate's timed run, does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.errors import ProbeFailure
from grader.grading import dependencies
from grader.grading.plan import Plan
from grader.grading.suite_runner import NOTES, PLAN, SEAT, SUBMISSION, Seat
from grader.i18n import _
from grader.kit import EXERCISES, WORKER_START_TIMEOUT_S
from grader.sandbox.client import WorkerClient, WorkerSpec
from grader.sandbox.limits import Limits
from grader.submissions.loading import missing_file_message


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """The test being run, for the probes its fixtures and body call."""
    item.config.stash[dependencies.CURRENT] = item


class Probe:
    """Calls into one exercise's worker; import failures are found once and reused."""

    def __init__(
        self,
        worker: WorkerClient,
        exercise,
        submission: Path,
        timeout_s: float,
        notes: list,
        config=None,
    ):
        self.worker = worker
        self.config = config
        self.notes = notes
        self.timeout_s = timeout_s
        self.exercise = exercise
        self.submission = submission
        self._load_error: ProbeFailure | None = None
        self._loaded = False

    def ensure_loaded(self) -> None:
        """Import the exercise's module in the worker (once); fail the test where it cannot."""
        if not (self.submission / self.exercise.filename).exists():
            message = missing_file_message(self.submission, self.exercise.module, self.exercise.key)
            pytest.fail(message, pytrace=False)
        if self._load_error is None and not self._loaded:
            try:
                loaded = self.worker.call(
                    "load", timeout_s=self.timeout_s, module=self.exercise.module
                )
                self._loaded = True
                self._note_skipped_cells(loaded)
            except ProbeFailure as exc:
                exc.message = _(
                    "{file} could not be imported: {error}",
                    file=self.exercise.filename,
                    error=exc.message,
                )
                self._load_error = exc
        if self._load_error is not None:
            raise self._load_error

    def _note_skipped_cells(self, loaded) -> None:
        cells = loaded.get("skipped_cells") if isinstance(loaded, dict) else None
        for cell in cells if isinstance(cells, list) else []:
            if isinstance(cell, list) and len(cell) == 2:
                self.notes.append(
                    _(
                        "{module}.ipynb: cell {number} was skipped, it failed when the notebook "
                        "was run ({error}); anything it defines is missing",
                        module=self.exercise.module,
                        number=cell[0],
                        error=cell[1],
                    )
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
        self.ensure_loaded()
        name = f"{self.exercise.key}.{probe_name}"
        standins, oracles = ([], {})
        if self.config is not None:
            standins, oracles = dependencies.standins(self.config, self.exercise.key)
        return self.worker.call(
            name,
            timeout_s=timeout_s or self.timeout_s,
            outside_budget=outside_budget,
            watch=watch,
            standins=standins,
            oracles=oracles,
            **args,
        )


@pytest.fixture(scope="module")
def plan(request) -> Plan:
    """What :func:`grader.grading.suite_runner.run_suite` grades with (the only way the suites
    run): the run's plan, resolved once."""
    if PLAN not in request.config.stash:
        pytest.exit(
            "the hidden suites run through grader.grading.suite_runner.run_suite", returncode=4
        )
    return request.config.stash[PLAN]


@pytest.fixture(scope="module")
def seat(request) -> Seat:
    """Where this exercise's workers run (its cores, the submission's zygote, the ledger)."""
    return request.config.stash[SEAT]


@pytest.fixture(scope="module")
def submission(request) -> Path:
    return request.config.stash[SUBMISSION]


@pytest.fixture(scope="module")
def exercise(request):
    return EXERCISES[request.module.EXERCISE]


@pytest.fixture(scope="module")
def gate_labels(plan: Plan):
    """For the gate: a secret relabelling of the classes, new for every run, and the training
    labels under it (what the gate's worker trains on). Weights trained elsewhere, on the true
    labels, score by chance under it; the trusted side scores the test split under it too."""
    if plan.gate is None or not plan.data_root:
        return None
    import secrets

    import numpy as np

    from grader import data

    permutation = np.array(secrets.SystemRandom().sample(range(10), 10), dtype=np.int64)
    _images, labels = data.load_split(plan.data_root, "train", verify="none", mmap=True)
    return {"permutation": permutation, "train": permutation[labels]}


@pytest.fixture(scope="module")
def gate_spec(plan: Plan, seat: Seat, submission, gate_labels) -> WorkerSpec | None:
    """For the gate: the spec of its own worker, the one that holds the training split (under
    ``gate_labels``), pinned to the cores the exercise holds."""
    if gate_labels is None:
        return None
    return WorkerSpec(
        submission=submission,
        train_images=Path(plan.data_root).resolve() / "train" / "images.npy",
        train_labels=gate_labels["train"],
        device=plan.device,
        isolation=plan.isolation,
        cores=seat.cores or None,
        background=seat.background,
    )


@pytest.fixture(scope="module")
def worker(plan: Plan, seat: Seat, submission):
    """The exercise's worker, forked where the submission has a fork server. It holds no cores
    (those an exercise holds are its gate's) and runs at the lowest priority."""
    spec = WorkerSpec(
        submission=submission,
        device=plan.device,
        isolation=plan.isolation,
        background=True,
    )
    limits = Limits()
    worker = WorkerClient(
        spec,
        start_timeout_s=WORKER_START_TIMEOUT_S,
        budget_s=limits.exercise_budget_s,
        server=seat.forkserver,
        ledger=seat.ledger,
    )
    yield worker
    worker.close()


@pytest.fixture(scope="module")
def probe(request, worker, exercise, plan: Plan, submission):
    notes = request.config.stash.get(NOTES, [])
    return Probe(worker, exercise, submission, plan.probe_timeout_s, notes, request.config)


@pytest.fixture(scope="module")
def rng():
    import numpy as np

    return np.random.default_rng(20261126)
