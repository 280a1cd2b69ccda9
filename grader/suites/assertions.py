"""Trusted-side checking helpers for the hidden suites.

Everything a worker returns is validated here before use (type, shape, finiteness),
and every failure carries feedback a student can act on. Finite differences are
computed here, in float64, from forward values the worker returned.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

MAX_FEEDBACK = 2000


def fail(message: str):
    """Fail the test with ``message`` (cut short: parts of it may come from the worker)."""
    if len(message) > MAX_FEEDBACK:
        message = message[: MAX_FEEDBACK - 20] + " ... (cut short)"
    pytest.fail(message, pytrace=False)


def describe(value) -> str:
    """What came back, in words: ``None (is a `return` missing?)``, ``an array of shape ...``."""
    if value is None:
        return "None (is a `return` missing?)"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def as_array(value, what: str, *, shape=None, finite: bool = True) -> np.ndarray:
    """``value`` as a float64 array, or a failure saying what came back instead."""
    not_numbers = isinstance(value, np.ndarray) and value.dtype.kind not in "biuf"
    if value is None or isinstance(value, str | dict | bool) or not_numbers:
        fail(f"{what} returned {describe(value)}; expected an array of numbers")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        fail(f"{what} returned {describe(value)}; expected an array of numbers")
    if shape is not None and array.shape != tuple(shape):
        fail(f"{what} returned shape {array.shape}; expected shape {tuple(shape)}")
    if finite and not np.all(np.isfinite(array)):
        fail(f"{what} returned NaN or infinite values")
    return array


def as_float(value, what: str, *, finite: bool = True) -> float:
    """A single number (a float, an int, or an array/tensor of one element)."""
    if isinstance(value, bool) or value is None or isinstance(value, str | dict | list):
        fail(f"{what} returned {describe(value)}; expected a single number")
    if isinstance(value, np.ndarray):
        if value.size != 1:
            fail(f"{what} returned {describe(value)}; expected a single number")
        value = value.reshape(()).item()
    if not isinstance(value, int | float):
        fail(f"{what} returned {describe(value)}; expected a single number")
    value = float(value)
    if finite and not math.isfinite(value):
        fail(f"{what} returned {value}; expected a finite number")
    return value


def as_dict(value, what: str, keys=()) -> dict:
    """A dict holding ``keys`` (what a probe sends back), or a failure naming what came back."""
    if not isinstance(value, dict):
        fail(f"{what} came back as {describe(value)}; expected a dict")
    missing = [key for key in keys if key not in value]
    if missing:
        fail(f"{what} came back without {', '.join(map(repr, missing))}")
    return value


def as_list(value, what: str, *, length: int | None = None, min_length: int = 0) -> list:
    """A list (tuples arrive as lists) of the given length."""
    if not isinstance(value, list):
        fail(f"{what} returned {describe(value)}; expected a list or tuple")
    if length is not None and len(value) != length:
        fail(f"{what} returned {len(value)} items; expected {length}")
    if len(value) < min_length:
        fail(f"{what} returned {len(value)} items; expected at least {min_length}")
    return value


def as_bool(value, what: str) -> bool:
    """True or False, and nothing else."""
    if not isinstance(value, bool):
        fail(f"{what} came back as {describe(value)}; expected True or False")
    return value


def as_int_lists(value, what: str) -> list[list[int]]:
    """A list of lists of ints (batches of indices)."""
    value = as_list(value, what)
    for item in value:
        if not isinstance(item, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in item
        ):
            fail(f"{what} holds {describe(item)}; expected lists of whole numbers")
    return value


def as_state_dict(value, what: str) -> dict[str, np.ndarray]:
    """A state_dict: names -> arrays of numbers."""
    value = as_dict(value, what)
    return {key: as_array(item, f"{what}[{key!r}]", finite=False) for key, item in value.items()}


def expect(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


def expect_close(actual, expected, what: str, *, rtol: float, atol: float = 0.0, hint=""):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        fail(f"{what}: shape {actual.shape}, expected {expected.shape}")
    if not np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True):
        worst = (
            np.unravel_index(np.argmax(np.abs(actual - expected)), actual.shape)
            if actual.ndim
            else ()
        )
        got = actual[worst] if actual.ndim else actual
        want = expected[worst] if expected.ndim else expected
        where = f" at index {tuple(int(i) for i in worst)}" if actual.ndim else ""
        fail(f"{what}: expected {want:.6g}{where}, got {got:.6g}" + (f". {hint}" if hint else ""))


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
        text = f"grad for {name} is {a:.6g}, finite differences give {n:.6g}"
        if math.isclose(a, -n, rel_tol=rtol):
            return text + ": the sign is wrong"
        if math.isclose(a, n / 2, rel_tol=rtol):
            return text + ": a factor 2 is missing (d/du of u**2 is 2u)"
        if math.isclose(a, 2 * n, rel_tol=rtol):
            return text + ": it is twice too large"
        return text
    return ""
