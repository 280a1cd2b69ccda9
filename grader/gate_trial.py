"""One training run of the accuracy gate, measured on the trusted side.

The hidden suite's gate test (the student's pipeline) and the calibration (the reference's)
both train through :func:`train`, so that both are measured the same way: the worker builds
the pipeline (``gate_prepare``, not timed), then trains (``gate_train``), timed here in wall
seconds and, from the kernel's accounting of the worker's processes, in CPU seconds. A
training that passes its limit is stopped as soon as it does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from grader.errors import ProbeTimeout

PREPARE_TIMEOUT_S = 300.0
"""Loading the split, channel_stats on 50,000 images, the transforms, loaders and Net."""
TRANSFER_S = 10.0
"""Beyond a wall-clock limit: the weights' trip back to the trusted side."""


@dataclass
class Limit:
    """How much training may cost: ``seconds`` of ``basis`` ("cpu" or "wall") time."""

    basis: str
    seconds: float
    wall_cap_s: float
    """Wall seconds after which training is stopped whatever the basis (a worker that sleeps)."""


@dataclass
class Trial:
    prepared: dict
    weights: dict | None
    """The trained state_dict (None when training was stopped)."""
    wall_s: float
    cpu_s: float | None
    stopped: str = ""
    """Why training was stopped before it finished ("" if it finished)."""

    def cost(self, basis: str) -> float | None:
        return self.cpu_s if basis == "cpu" else self.wall_s


def train(probe, worker, recipe: dict, limit: Limit) -> Trial:
    """Prepare and train in ``worker`` through ``probe`` (the suite's calls into it)."""
    prepared = probe(
        "gate_prepare", recipe=recipe, timeout_s=PREPARE_TIMEOUT_S, outside_budget=True
    )
    start_cpu, start = worker.cpu_seconds(), time.monotonic()
    spent = {"cpu": None}

    def watch():
        used = worker.cpu_seconds()
        if used is not None and start_cpu is not None:
            spent["cpu"] = used - start_cpu
            if limit.basis == "cpu" and spent["cpu"] > limit.seconds:
                return (
                    f"training used {spent['cpu']:.0f} CPU s, over its limit of {limit.seconds:.0f}"
                )
        return None

    timeout = limit.wall_cap_s if limit.basis == "cpu" else limit.seconds + TRANSFER_S
    try:
        out = probe("gate_train", timeout_s=timeout, outside_budget=True, watch=watch)
    except ProbeTimeout as exc:
        return Trial(prepared, None, time.monotonic() - start, spent["cpu"], stopped=exc.message)
    wall = time.monotonic() - start
    used = worker.cpu_seconds()
    cpu = used - start_cpu if used is not None and start_cpu is not None else None
    return Trial(prepared, out, wall, cpu)
