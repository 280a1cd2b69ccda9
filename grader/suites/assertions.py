"""Trusted-side checking helpers for the hidden suites.

Everything a worker returns is validated here before use (type, shape, finiteness),
and every failure carries feedback a student can act on. Finite differences are
computed here, in float64, from forward values the worker returned.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from grader.i18n import _

MAX_FEEDBACK = 2000


def fail(message: str):
    """Fail the test with ``message`` (cut short: parts of it may come from the worker)."""
    if len(message) > MAX_FEEDBACK:
        message = _("{start} ... (cut short)", start=message[: MAX_FEEDBACK - 20])
    pytest.fail(message, pytrace=False)


def describe(value) -> str:
    """What came back, in words: ``None (is a `return` missing?)``, ``an array of shape ...``."""
    if value is None:
        return _("None (is a `return` missing?)")
    if isinstance(value, np.ndarray):
        return _(
            "an array of shape {shape} and dtype {dtype}", shape=value.shape, dtype=value.dtype
        )
    return _("a {type}", type=type(value).__name__)


def as_array(value, what: str, *, shape=None, finite: bool = True) -> np.ndarray:
    """``value`` as a float64 array, or a failure saying what came back instead."""
    not_numbers = isinstance(value, np.ndarray) and value.dtype.kind not in "biuf"
    not_array = _("{what} returned {value}; expected an array of numbers")
    if value is None or isinstance(value, str | dict | bool) or not_numbers:
        fail(not_array.format(what=what, value=describe(value)))
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        fail(not_array.format(what=what, value=describe(value)))
    if shape is not None and array.shape != tuple(shape):
        fail(
            _(
                "{what} returned shape {shape}; expected shape {expected}",
                what=what,
                shape=array.shape,
                expected=tuple(shape),
            )
        )
    if finite and not np.all(np.isfinite(array)):
        fail(_("{what} returned NaN or infinite values", what=what))
    return array


def as_float(value, what: str, *, finite: bool = True) -> float:
    """A single number (a float, an int, or an array/tensor of one element)."""
    not_number = _("{what} returned {value}; expected a single number")
    if isinstance(value, bool) or value is None or isinstance(value, str | dict | list):
        fail(not_number.format(what=what, value=describe(value)))
    if isinstance(value, np.ndarray):
        if value.size != 1:
            fail(not_number.format(what=what, value=describe(value)))
        value = value.reshape(()).item()
    if not isinstance(value, int | float):
        fail(not_number.format(what=what, value=describe(value)))
    value = float(value)
    if finite and not math.isfinite(value):
        fail(_("{what} returned {value}; expected a finite number", what=what, value=value))
    return value


def as_dict(value, what: str, keys=()) -> dict:
    """A dict holding ``keys`` (what a probe sends back), or a failure naming what came back."""
    if not isinstance(value, dict):
        fail(_("{what} came back as {value}; expected a dict", what=what, value=describe(value)))
    missing = [key for key in keys if key not in value]
    if missing:
        fail(_("{what} came back without {keys}", what=what, keys=", ".join(map(repr, missing))))
    return value


def as_list(value, what: str, *, length: int | None = None, min_length: int = 0) -> list:
    """A list (tuples arrive as lists) of the given length."""
    if not isinstance(value, list):
        fail(
            _("{what} returned {value}; expected a list or tuple", what=what, value=describe(value))
        )
    if length is not None and len(value) != length:
        fail(
            _(
                "{what} returned {count} items; expected {length}",
                what=what,
                count=len(value),
                length=length,
            )
        )
    if len(value) < min_length:
        fail(
            _(
                "{what} returned {count} items; expected at least {length}",
                what=what,
                count=len(value),
                length=min_length,
            )
        )
    return value


def as_bool(value, what: str) -> bool:
    """True or False, and nothing else."""
    if not isinstance(value, bool):
        fail(
            _(
                "{what} came back as {value}; expected True or False",
                what=what,
                value=describe(value),
            )
        )
    return value


def as_int_lists(value, what: str) -> list[list[int]]:
    """A list of lists of ints (batches of indices)."""
    value = as_list(value, what)
    for item in value:
        if not isinstance(item, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in item
        ):
            fail(
                _(
                    "{what} holds {value}; expected lists of whole numbers",
                    what=what,
                    value=describe(item),
                )
            )
    return value


def as_state_dict(value, what: str) -> dict[str, np.ndarray]:
    """A state_dict: names -> arrays of numbers."""
    value = as_dict(value, what)
    return {key: as_array(item, f"{what}[{key!r}]", finite=False) for key, item in value.items()}


def with_hint(message: str, hint: str) -> str:
    """``message``, then the ``hint`` (what to check) where there is one."""
    return _("{message}. {hint}", message=message, hint=hint) if hint else message


def expect(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


def expect_close(actual, expected, what: str, *, rtol: float, atol: float = 0.0, hint=""):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        fail(
            _(
                "{what}: shape {shape}, expected {expected}",
                what=what,
                shape=actual.shape,
                expected=expected.shape,
            )
        )
    if not np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True):
        worst = (
            np.unravel_index(np.argmax(np.abs(actual - expected)), actual.shape)
            if actual.ndim
            else ()
        )
        got = actual[worst] if actual.ndim else actual
        want = expected[worst] if expected.ndim else expected
        if actual.ndim:
            message = _(
                "{what}: expected {want:.6g} at index {index}, got {got:.6g}",
                what=what,
                want=want,
                index=tuple(int(i) for i in worst),
                got=got,
            )
        else:
            message = _("{what}: expected {want:.6g}, got {got:.6g}", what=what, want=want, got=got)
        fail(with_hint(message, hint))


def central_difference_points(point: np.ndarray, h: float) -> list[np.ndarray]:
    """The 2n points ``point ± h e_i`` at which to evaluate the forward function."""
    point = np.asarray(point, dtype=np.float64)
    points = []
    for i in range(point.size):
        step = np.zeros_like(point)
        step.flat[i] = h
        points += [point + step, point - step]
    return points


def central_differences(values, h: float) -> np.ndarray:
    """Gradient estimate from the values at :func:`central_difference_points`."""
    values = np.asarray(values, dtype=np.float64)
    return (values[0::2] - values[1::2]) / (2 * h)


def diagnose_gradient(analytic: np.ndarray, numeric: np.ndarray, names, *, rtol: float) -> str:
    """Name the first wrong component and the likely mistake (sign, factor 2), or ''."""
    for i, name in enumerate(names):
        a, n = float(analytic[i]), float(numeric[i])
        if math.isclose(a, n, rel_tol=rtol, abs_tol=rtol * (1 + abs(n))):
            continue
        values = {"name": name, "a": a, "n": n}
        if math.isclose(a, -n, rel_tol=rtol):
            return _(
                "grad for {name} is {a:.6g}, finite differences give {n:.6g}: the sign is wrong",
                **values,
            )
        if math.isclose(a, n / 2, rel_tol=rtol):
            return _(
                "grad for {name} is {a:.6g}, finite differences give {n:.6g}: a factor 2 is "
                "missing (d/du of u**2 is 2u)",
                **values,
            )
        if math.isclose(a, 2 * n, rel_tol=rtol):
            return _(
                "grad for {name} is {a:.6g}, finite differences give {n:.6g}: it is twice too "
                "large",
                **values,
            )
        return _("grad for {name} is {a:.6g}, finite differences give {n:.6g}", **values)
    return ""
