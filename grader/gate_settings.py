"""The accuracy gate's settings for one run, resolved once: the recipe and the reference's cost.

:func:`resolve` applies the course's values and then ``--gate-set``'s to the device's
calibrated recipe (each parsed by the recipe field's type, a bad one naming its source); the
reference's cost is measured or looked up once per run (:mod:`grader.run`). The resulting
:class:`GateSettings` travels unchanged to the suite: in :class:`~grader.suite_runner.SuiteOptions`,
through the batch's plan, into pytest's stash, where ``test_accuracy_gate`` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.kit import gate_recipe, recipe_value


@dataclass(frozen=True)
class GateSettings:
    """What the gate trains with and against. Read only: built once by :func:`resolve`."""

    recipe: dict
    """The device's recipe with every override applied, typed: epochs, batch size, optimizer,
    ``threshold``, ``time_factor``, ``time_limit_s`` (``None``: relative to the reference)."""
    reference: dict = field(default_factory=dict)
    """The reference's training cost here (:mod:`grader.calibration`); ``{}`` where the
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
