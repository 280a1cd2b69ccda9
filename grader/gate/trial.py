"""One run of the accuracy gate, measured on the trusted side from the first line of student
code that can see the training split.

The hidden suite's gate test (a submission's pipeline) and the calibration (the reference's)
both go through :func:`run`, so that both are measured the same way. Each run gets a worker
of its own, started afresh with the training split: no process or thread of an earlier
worker is in it, and nothing of the submission runs before it is ready. The gate's own
modules are imported there (``gate_ready``, the grader's cost); then the clock starts, and
everything after it counts: the import of the student's modules (``load``), building the
pipeline (``gate_prepare``: ``set_seed``, ``channel_stats``, the transforms, ``make_loaders``,
``Net()``) and training it (``gate_train``), in wall seconds and, from the kernel's
accounting of every process in the worker's control group, in CPU seconds. A run that passes
its limit is stopped as soon as it does, in whichever phase.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from grader.errors import ProbeFailure, ProbeTimeout
from grader.i18n import N_, _
from grader.sandbox.client import WorkerClient, WorkerSpec

TRANSFER_S = 10.0
"""Beyond a wall-clock limit: the weights' trip back to the trusted side."""
PHASES = {
    "import": N_("importing your ex5_train (and what it imports)"),
    "preparation": N_(
        "building your pipeline (set_seed, channel_stats, build_transform, make_loaders, Net())"
    ),
    "training": N_("training (train_one_epoch)"),
}
"""The timed window's phases, in order, and what each runs of the submission (translated
where it is said)."""


@dataclass
class Limit:
    """How much the timed window may cost: ``seconds`` of ``basis`` ("cpu" or "wall") time."""

    basis: str
    seconds: float
    wall_cap_s: float
    """Wall seconds after which the window is stopped whatever the basis (code that sleeps)."""


@dataclass
class Trial:
    prepared: dict | None
    """What the preparation reported (None when it did not finish)."""
    weights: dict | None
    """The trained state_dict and the epochs' losses (None when training did not finish)."""
    wall_s: float
    cpu_s: float | None
    stopped: str = ""
    """Why the window was stopped before it finished ("" if it finished)."""
    phase: str = ""
    """The phase that was running when it was stopped (a key of ``PHASES``)."""
    phases_cpu_s: dict = field(default_factory=dict)
    """CPU seconds of each phase that ran, from the kernel's accounting."""
    memory_peak: int | None = None

    def cost(self, basis: str) -> float | None:
        return self.cpu_s if basis == "cpu" else self.wall_s


class _Clock:
    """The window's wall and CPU time since it started, and whether they passed the limit."""

    def __init__(self, worker: WorkerClient, limit: Limit):
        self.worker, self.limit = worker, limit
        self.start_cpu, self.start = worker.cpu_seconds(), time.monotonic()
        self.cpu_s: float | None = None

    def wall_s(self) -> float:
        return time.monotonic() - self.start

    def read(self) -> float | None:
        used = self.worker.cpu_seconds()
        if used is not None and self.start_cpu is not None:
            self.cpu_s = used - self.start_cpu
        return self.cpu_s

    def over(self) -> str | None:
        """Why the window must stop now (None while it is within its limit)."""
        cpu = self.read()
        if self.limit.basis == "cpu" and cpu is not None and cpu > self.limit.seconds:
            return _(
                "the gate used {cpu:.0f} CPU s, over its limit of {limit:.0f}",
                cpu=cpu,
                limit=self.limit.seconds,
            )
        return None

    def timeout_s(self) -> float:
        """What the next call may take: the rest of the wall-clock cap or limit."""
        if self.limit.basis == "cpu":
            return max(0.1, self.limit.wall_cap_s - self.wall_s())
        return max(0.1, self.limit.seconds + TRANSFER_S - self.wall_s())


def _one_worker(worker: WorkerClient, starts: int, phase: str, *, running: bool) -> None:
    """The window is one worker's, timed by its control group: a worker that ended before
    ``phase`` (``running``), or was started again during it (after an extra message on its
    reply channel), would have the rest timed from zero in another."""
    alive = worker.process is not None and worker.process.poll() is None
    if worker.starts == starts and (alive or not running):
        return
    raise ProbeFailure(
        _(
            "the gate's worker ended (or was started again) around {phase}: the code exited, "
            "was killed, or wrote to the grader's reply channel. The gate's run is timed in one "
            "worker, from the import of your ex5_train to the end of training",
            phase=_(PHASES[phase]),
        ),
        output=worker.output(),
    )


def run(
    spec: WorkerSpec, recipe: dict, limit: Limit, *, start_timeout_s: float, ledger=None
) -> Trial:
    """One timed run of the gate in a fresh worker for ``spec`` (which holds the training
    split); raises :class:`~grader.errors.ProbeFailure` where student code fails. The sweep
    of its sandbox goes to ``ledger`` (the submission's)."""
    with WorkerClient(spec, start_timeout_s=start_timeout_s, ledger=ledger) as worker:
        worker.start()
        worker.call("ex5.gate_ready", timeout_s=start_timeout_s, outside_budget=True)
        clock, starts = _Clock(worker, limit), worker.starts
        steps = (
            ("import", "load", {"module": "ex5_train"}),
            ("preparation", "ex5.gate_prepare", {"recipe": recipe}),
            ("training", "ex5.gate_train", {}),
        )
        out, phases, before = {}, {}, 0.0
        for phase, probe, args in steps:
            _one_worker(worker, starts, phase, running=True)
            try:
                out[phase] = worker.call(
                    probe,
                    timeout_s=clock.timeout_s(),
                    outside_budget=True,
                    watch=clock.over,
                    **args,
                )
                stopped = clock.over()
            except ProbeTimeout as exc:
                stopped = exc.message
            except ProbeFailure as exc:
                exc.message = _(
                    "the gate's run failed while {phase}: {error}",
                    phase=_(PHASES[phase]),
                    error=exc.message,
                )
                raise
            _one_worker(worker, starts, phase, running=False)
            cpu = clock.read()
            if cpu is not None:
                phases[phase], before = round(cpu - before, 2), cpu
            if stopped:
                return Trial(
                    out.get("preparation"), None, clock.wall_s(), clock.cpu_s, stopped, phase,
                    phases, worker.memory_peak(),
                )  # fmt: skip
        wall = clock.wall_s()
        return Trial(
            out["preparation"], out["training"], wall, clock.read(), "", "", phases,
            worker.memory_peak(),
        )  # fmt: skip
