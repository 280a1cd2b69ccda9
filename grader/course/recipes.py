"""The accuracy gate's settings: the calibrated recipes, their fields' types, one run's values.

:data:`RECIPES` is the course-fixed recipe per device; :data:`RECIPE_TYPES` what each field
may be. :func:`resolve` applies the course's values (:mod:`grader.course.config`) and then
``--gate-set``'s to the device's recipe, each parsed by the field's type (a bad one names
where it came from); the reference's cost is measured or looked up once per run
(:func:`grader.grading.plan.resolve`). The resulting :class:`GateSettings` is part of the run's
plan and travels with it unchanged into pytest's stash, where ``test_accuracy_gate`` reads
it. No torch here: the trusted side reads the recipes without it; the worker gets the recipe
as data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

# The course-fixed recipe per device, calibrated with bench/calibrate_gate.py (raw figures and
# the reasoning in bench/results/GATE.md). ``optimizer``: "adam" or "sgd" (``momentum``,
# ``nesterov`` apply to sgd). ``schedule``: "constant", or "onecycle" (linear warm-up over the
# first ``warmup`` fraction of the steps, then linear decay to zero), stepped after every
# optimizer step. ``threads``: torch.set_num_threads in the worker (None leaves it); on 2 cores
# one thread plus one loader worker beats two threads (which oversubscribe with the worker).
# ``label_smoothing``: of the cross-entropy loss the gate hands train_one_epoch. ``ema``: the
# decay of a moving average of the weights, which is then what is evaluated (0: none).
# ``flip_eval``: the trusted evaluation averages each test image's logits with its mirror's.
# ``threshold``: minimum test accuracy. ``time_factor``: training may cost at most this many
# times what the reference's costs on the grading machine (CPU seconds on cpu, wall seconds on
# cuda; grader.gate.calibration); ``time_limit_s``, when set, replaces it by absolute wall seconds.
RECIPES: dict[str, dict] = {
    "cpu": {
        "optimizer": "adam",
        "lr": 0.003,
        "momentum": 0.0,
        "nesterov": False,
        "weight_decay": 5e-4,
        "schedule": "onecycle",
        "warmup": 0.2,
        "batch_size": 64,
        "epochs": 3,
        "num_workers": 1,
        "threads": 1,
        "seed": 0,
        "label_smoothing": 0.1,
        "ema": 0.0,
        "flip_eval": True,
        "threshold": 0.56,
        "time_factor": 2.5,
        "time_limit_s": None,
    },
    "cuda": {
        "optimizer": "adam",
        "lr": 0.003,
        "momentum": 0.0,
        "nesterov": False,
        "weight_decay": 5e-4,
        "schedule": "onecycle",
        "warmup": 0.2,
        "batch_size": 128,
        "epochs": 8,
        "num_workers": max(1, (os.cpu_count() or 2) - 1),
        "threads": None,
        "seed": 0,
        "label_smoothing": 0.0,
        "ema": 0.0,
        "flip_eval": True,
        "threshold": 0.60,
        "time_factor": 2.5,
        "time_limit_s": None,
    },
}

RECIPE_TYPES: dict[str, tuple[type, ...]] = {
    "optimizer": (str,),
    "lr": (float,),
    "momentum": (float,),
    "nesterov": (bool,),
    "weight_decay": (float,),
    "schedule": (str,),
    "warmup": (float,),
    "batch_size": (int,),
    "epochs": (int,),
    "num_workers": (int,),
    "threads": (int, type(None)),
    "seed": (int,),
    "label_smoothing": (float,),
    "ema": (float,),
    "flip_eval": (bool,),
    "threshold": (float,),
    "time_factor": (float,),
    "time_limit_s": (float, type(None)),
}
"""Each gate recipe field and the types it takes (``None``: unset)."""

_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def recipe_value(key: str, value, source: str):
    """``value`` for recipe field ``key``, parsed by the field's type (from text too); a bad
    one raises ValueError naming where it came from ("Invalid epochs 'abc' from --gate-set")."""
    if key not in RECIPE_TYPES:
        raise ValueError(
            f"unknown gate recipe field {key!r} from {source}; known: {', '.join(RECIPE_TYPES)}"
        )
    kinds = RECIPE_TYPES[key]
    text = value.strip() if isinstance(value, str) else None
    unset = value is None or (text is not None and text.lower() in ("none", ""))
    if type(None) in kinds and unset:
        return None
    kind = kinds[0]
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if text is not None and text.lower() in _TRUE + _FALSE:
                return text.lower() in _TRUE
            raise ValueError
        if kind is str:
            if not isinstance(value, str) or not text:
                raise ValueError
            return text
        if isinstance(value, bool):
            raise ValueError
        number = kind(text if text is not None else value)
        if kind is int and not isinstance(value, str) and number != value:
            raise ValueError
        return number
    except (TypeError, ValueError):
        raise ValueError(
            f"Invalid {key} {value!r} from {source}: expected {kind.__name__}"
            + (" or none" if type(None) in kinds else "")
        ) from None


def gate_recipe(device: str, overrides: dict | None = None, source: str = "--gate-set") -> dict:
    """The accuracy gate's training recipe, threshold and time limit for ``device``."""
    if device not in RECIPES:
        raise ValueError(f"no gate recipe for device {device!r}")
    recipe = dict(RECIPES[device])
    for key, value in (overrides or {}).items():
        recipe[key] = recipe_value(key, value, source)
    return recipe


def parse_overrides(pairs: list[str] | None) -> dict:
    """``["epochs=1", "threshold=0.1"]`` -> ``{"epochs": 1, "threshold": 0.1}`` (typed)."""
    overrides = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--gate-set takes KEY=VALUE, got {pair!r}")
        overrides[key.strip()] = recipe_value(key.strip(), value, "--gate-set")
    return overrides


@dataclass(frozen=True)
class GateSettings:
    """What the gate trains with and against. Read only: built once by :func:`resolve`."""

    recipe: dict
    """The device's recipe with every override applied, typed: epochs, batch size, optimizer,
    ``threshold``, ``time_factor``, ``time_limit_s`` (``None``: relative to the reference)."""
    reference: dict = field(default_factory=dict)
    """The reference's training cost here (:mod:`grader.gate.calibration`); ``{}`` where the
    limit is absolute; ``{"error": why}`` where it could not be measured."""

    @property
    def threshold(self) -> float:
        return self.recipe["threshold"]

    @property
    def reference_error(self) -> str:
        """Why the reference's cost is unknown here ("" when it is known or not needed)."""
        return self.reference.get("error", "")


def resolve(device: str, course_overrides: dict, source: str, flag_overrides: dict) -> dict:
    """The recipe for ``device``: the calibrated one, the course's values (from ``source``)
    over it, then the command line's (``--gate-set``) over those."""
    recipe = gate_recipe(device, course_overrides, source)
    for key, value in flag_overrides.items():
        recipe[key] = recipe_value(key, value, "--gate-set")
    return recipe
