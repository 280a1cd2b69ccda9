"""What the kit fixes, whatever the course: its folders, the exercises and their SPEC points.

Also the names of CIFAR-10's classes and the gate recipe's fields with their types (a
course sets values through :mod:`grader.course_config`; this module says what a value may
be). The values a course may change, and their defaults, are in :mod:`grader.course_config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
EXERCISES_DIR = REPO_ROOT / "exercises"
SUITES_DIR = PACKAGE_DIR / "suites"
EXAMPLES_DIR = REPO_ROOT / "examples" / "submissions"


@dataclass(frozen=True)
class Exercise:
    key: str
    module: str
    points: int
    title: str

    @property
    def filename(self) -> str:
        return self.module + ".py"

    @property
    def suite(self) -> Path:
        return SUITES_DIR / f"test_{self.key}.py"


EXERCISES: dict[str, Exercise] = {
    e.key: e
    for e in (
        Exercise("ex1", "ex1_gradients", 20, "gradients by hand"),
        Exercise("ex2", "ex2_autograd", 20, "autograd"),
        Exercise("ex3", "ex3_data", 15, "the data pipeline"),
        Exercise("ex4", "ex4_net", 15, "the network"),
        Exercise("ex5", "ex5_train", 30, "training and evaluation"),
    )
}

WORKER_START_TIMEOUT_S = 60.0
"""Time a worker may take to start and answer its first request."""

CLASS_NAMES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
"""CIFAR-10's classes in label order, by the short names the course uses in feedback."""


def select_exercises(names: str | list[str] | None) -> list[Exercise]:
    """``"ex1,ex3"`` -> those exercises, in course order; ``None`` -> all of them."""
    if names is None:
        return list(EXERCISES.values())
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in EXERCISES]
    if unknown or not names:
        raise ValueError(
            f"unknown exercise {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(EXERCISES)}"
        )
    return [e for key, e in EXERCISES.items() if key in names]


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
    from grader.gate import RECIPES

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
