"""Hidden suite for ex1_gradients: gradients by hand, NumPy only."""

import numpy as np
import pytest

from grader.course import reference
from grader.i18n import _
from grader.inside.channel import Tensor
from grader.suites.assertions import (
    as_array,
    as_dict,
    as_float,
    as_list,
    central_difference_points,
    central_differences,
    diagnose_gradient,
    expect,
    expect_close,
    fail,
)

EXERCISE = "ex1"
COEFF_NAMES = ("a", "b", "c", "d")


def cubic(coeffs, x):
    a, b, c, d = coeffs
    return a + b * x + c * x**2 + d * x**3


@pytest.fixture(scope="module")
def data(rng):
    x = np.linspace(-np.pi, np.pi, 200)
    return {"coeffs": rng.standard_normal(4), "x": x, "y": np.sin(x)}


@pytest.mark.tests_function("predict")
@pytest.mark.points(3)
def test_predict_is_the_cubic(probe, data):
    """Does predict compute a + b*x + c*x**2 + d*x**3 elementwise?"""
    out = probe("predict", coeffs=data["coeffs"], x=data["x"])
    expect_numpy(out, "predict(coeffs, x)")
    got = as_array(out, "predict(coeffs, x)", shape=data["x"].shape)
    # a cubic computed in float32 is right too: its rounding, some 1e-7 of the terms' size,
    # is allowed where the terms cancel (near the roots)
    a, b, c, d = np.abs(data["coeffs"])
    x = np.abs(data["x"])
    terms = float(np.max(a + b * x + c * x**2 + d * x**3))
    expect_close(
        got,
        cubic(data["coeffs"], data["x"]),
        "predict(coeffs, x)",
        rtol=1e-5,
        atol=1e-6 * terms,
        hint=_("coeffs = (a, b, c, d) multiply 1, x, x**2, x**3 in that order"),
    )


@pytest.mark.tests_function("sse_loss")
@pytest.mark.points(3)
def test_sse_loss_is_sum_of_squares(probe, rng):
    """Is sse_loss the sum (not the mean) of squared errors, as one number?"""
    y_pred, y = rng.standard_normal(50), rng.standard_normal(50)
    got = as_float(probe("sse_loss", y_pred=y_pred, y=y), "sse_loss(y_pred, y)")
    expected = float(np.sum((y_pred - y) ** 2))
    if np.isclose(got, expected / y.size, rtol=1e-5):
        fail(_("sse_loss returned the mean of the squared errors; it should be the sum"))
    expect_close(
        got,
        expected,
        "sse_loss(y_pred, y)",
        rtol=1e-5,  # a float32 sum of 50 squares is some 1e-6 off
        hint=_("square the differences y_pred - y, then add them all up"),
    )


@pytest.mark.tests_function("sse_grads")
@pytest.mark.points(5)
def test_sse_grads_match_finite_differences(probe, data):
    """Do the hand-written gradients agree with float64 central differences of the loss?

    The differences are taken here, of the grader's own float64 loss: a wrong forward
    (predict, sse_loss) is charged by its own tests, not twice.
    """
    coeffs, x, y = data["coeffs"], data["x"], data["y"]
    out = probe("sse_grads", coeffs=coeffs, x=x, y=y)
    expect_numpy(out, "sse_grads(coeffs, x, y)")
    analytic = as_array(out, "sse_grads(coeffs, x, y)", shape=(4,))
    h = 1e-5
    values = [np.sum((cubic(p, x) - y) ** 2) for p in central_difference_points(coeffs, h)]
    numeric = central_differences(np.array(values), h)
    problem = diagnose_gradient(analytic, numeric, COEFF_NAMES, rtol=1e-5)
    expect(
        not problem,
        _(
            "{problem}: check the chain rule, d loss/d y_pred = 2 * (y_pred - y)",
            problem=problem,
        ),
    )


@pytest.mark.tests_function("sgd_step")
@pytest.mark.points(3)
def test_sgd_step_returns_new_array(probe, rng):
    """Does sgd_step return coeffs - lr * grads and leave the input array unchanged?"""
    coeffs, grads = rng.standard_normal(4), rng.standard_normal(4)
    out = as_dict(
        probe("sgd_step", coeffs=coeffs, grads=grads, lr=0.1),
        _("sgd_step's report"),
        ("result", "coeffs_after"),
    )
    expect_numpy(out["result"], "sgd_step(coeffs, grads, lr)")
    got = as_array(out["result"], "sgd_step(coeffs, grads, lr)", shape=(4,))
    expect_close(
        got,
        coeffs - 0.1 * grads,
        "sgd_step(coeffs, grads, 0.1)",
        rtol=1e-6,  # float32 is right too
        hint=_("the step goes against the gradient: coeffs - lr * grads"),
    )
    after = as_array(out["coeffs_after"], _("the coeffs array after the call"), shape=(4,))
    expect(
        np.array_equal(after, coeffs),
        _(
            "sgd_step changed the coeffs array it was given (an in-place update such as "
            "`coeffs -= lr * grads`); return a new array: `coeffs - lr * grads`"
        ),
    )


def loss_trajectory(steps: int, lr: float, seed: int) -> np.ndarray:
    """The loss at every step of plain gradient descent from default_rng(seed), before that
    step's update, computed here in float64 (the exercise's fit, step by step)."""
    x = np.linspace(-np.pi, np.pi, 2000)
    y = np.sin(x)
    coeffs = np.random.default_rng(seed).standard_normal(4)
    losses = np.empty(steps)
    for t in range(steps):
        residual = cubic(coeffs, x) - y
        losses[t] = np.sum(residual**2)
        grads = np.array([np.sum(2 * residual * x**k) for k in range(4)])
        coeffs = coeffs - lr * grads
    return losses


CADENCES = {"steps 0, 100, 200, ...": 0, "steps 99, 199, 299, ... (the tutorials')": 99}
"""The two ways of recording "every 100 steps" that are accepted."""


def check_cadence(losses: np.ndarray, trajectory: np.ndarray, what: str, *, rtol: float):
    """``losses`` must be the trajectory's every 100th loss, from step 0 or from step 99; else
    say which steps they are, where that can be seen. Losses in proportion to the right ones
    (a mean where a sum is asked) pass here: that mistake is sse_loss's, charged there."""
    count = len(trajectory) // 100
    expect(
        losses.shape == (count,),
        _(
            "{what} recorded {size} losses; expected {count} (one every 100 steps)",
            what=what,
            size=losses.size,
            count=count,
        ),
    )
    for first in CADENCES.values():
        want = trajectory[first::100][:count]
        if np.allclose(losses, want, rtol=rtol):
            return
        ratio = losses / want
        if np.all(np.isfinite(ratio)) and np.allclose(ratio, ratio[0], rtol=rtol):
            return
    steps = [int(np.argmin(np.abs(trajectory - value))) for value in losses[:3]]
    seen = ", ".join(map(str, steps))
    fail(
        _(
            "{what} recorded the losses of steps {seen}, ...: record the loss every 100 steps, "
            "at steps 0, 100, 200, ... (or 99, 199, 299, ...), before that step's update",
            what=what,
            seen=seen,
        )
    )


def expect_numpy(value, what: str) -> None:
    """ex1 is NumPy only: a torch tensor where an array is asked is a failure."""
    expect(
        not isinstance(value, Tensor),
        _(
            "{what} is a torch tensor: ex1 is done with NumPy only (np.ndarray of float64)",
            what=what,
        ),
    )


def trajectory_coeffs(steps: int, lr: float, seed: int) -> np.ndarray:
    """The coefficients after ``steps`` steps of the exercise's fit, computed here."""
    x = np.linspace(-np.pi, np.pi, 2000)
    y = np.sin(x)
    coeffs = np.random.default_rng(seed).standard_normal(4)
    for _step in range(steps):
        residual = cubic(coeffs, x) - y
        coeffs = coeffs - lr * np.array([np.sum(2 * residual * x**k) for k in range(4)])
    return coeffs


def reference_fit_sine(steps: int, lr: float, seed: int):
    return reference.load("ex1_gradients").fit_sine(steps=steps, lr=lr, seed=seed)


@pytest.mark.tests_function("fit_sine")
@pytest.mark.points(2)
def test_fit_sine_records_loss_every_100_steps(probe):
    """Does fit_sine start from default_rng(seed) and record the loss every 100 steps?

    Where the fit itself is right, the recorded losses must be those of steps 0, 100, 200 (or
    99, 199, 299). Where it is not (a wrong gradient, charged by its own tests), only the
    count and the first loss, that of the starting coefficients, can be checked.
    """
    out = as_dict(probe("fit_sine", steps=300, lr=1e-6, seed=3), "fit_sine", ("coeffs", "losses"))
    losses = as_array(out["losses"], _("fit_sine(steps=300)'s losses"))
    trajectory = reference.once(loss_trajectory, 300, 1e-6, 3)
    expect(
        losses.shape == (3,),
        _(
            "{what} recorded {size} losses; expected {count} (one every 100 steps)",
            what="fit_sine(steps=300)",
            size=losses.size,
            count=3,
        ),
    )
    coeffs = as_array(out["coeffs"], _("fit_sine(steps=300)'s coefficients"), shape=(4,))
    if np.allclose(coeffs, reference.once(trajectory_coeffs, 300, 1e-6, 3), rtol=1e-6, atol=1e-9):
        check_cadence(losses, trajectory, "fit_sine(steps=300)", rtol=1e-6)
        return
    expect(
        np.isclose(losses[0], trajectory[0], rtol=1e-6),
        _(
            "the first loss is {got:.6g}, not that of the starting coefficients ({want:.6g}): "
            "start from np.random.default_rng(seed).standard_normal(4) on "
            "x = np.linspace(-np.pi, np.pi, 2000), and record before the first update",
            got=losses[0],
            want=trajectory[0],
        ),
    )


@pytest.mark.tests_function("fit_sine")
@pytest.mark.points(3)
def test_fit_sine_matches_reference(probe):
    """After 2000 steps, are the coefficients those of plain gradient descent, in NumPy?"""
    out = as_dict(probe("fit_sine", steps=2000, lr=1e-6, seed=0), "fit_sine", ("coeffs", "losses"))
    expect_numpy(out["coeffs"], _("fit_sine's coefficients"))
    coeffs = as_array(out["coeffs"], _("fit_sine's coefficients"), shape=(4,))
    expected, expected_losses = reference.once(reference_fit_sine, 2000, 1e-6, 0)
    expect_close(
        coeffs,
        expected,
        _("fit_sine(steps=2000) coefficients"),
        rtol=1e-6,
        atol=1e-9,
        hint=_("each step should be coeffs = sgd_step(coeffs, sse_grads(coeffs, x, y), lr)"),
    )
    losses = as_array(out["losses"], _("fit_sine's losses"))
    expect(
        losses.shape == (20,),
        _(
            "{what} recorded {size} losses; expected {count} (one every 100 steps)",
            what="fit_sine(steps=2000)",
            size=losses.size,
            count=20,
        ),
    )


@pytest.mark.tests_function("fit_sine")
@pytest.mark.points(1)
def test_fit_sine_defaults(probe):
    """Called with no arguments, does fit_sine do what fit_sine(5000, 1e-6, 0) does (the
    defaults the exercise gives)?"""
    out = as_dict(probe("fit_sine_defaults"), "fit_sine()", ("defaults", "explicit", "other"))
    defaults = as_dict(out["defaults"], "fit_sine()", ("coeffs", "losses"))
    explicit = as_dict(out["explicit"], "fit_sine(5000, 1e-6, 0)", ("coeffs", "losses"))
    other = as_dict(out["other"], "fit_sine(300, 2e-6, 1)", ("coeffs", "losses"))
    expect(
        len(
            as_list(
                other["losses"], _("{call}'s {key}", call="fit_sine(300, 2e-6, 1)", key="losses")
            )
        )
        != len(
            as_list(
                explicit["losses"],
                _("{call}'s {key}", call="fit_sine(5000, 1e-6, 0)", key="losses"),
            )
        ),
        _(
            "fit_sine(steps=300) and fit_sine(steps=5000) record as many losses: it does not run "
            "the steps it is given"
        ),
    )
    for key in ("coeffs", "losses"):
        got = as_array(defaults[key], _("{call}'s {key}", call="fit_sine()", key=key), finite=False)
        want = as_array(
            explicit[key],
            _("{call}'s {key}", call="fit_sine(5000, 1e-6, 0)", key=key),
            finite=False,
        )
        # the same function with the same values in one process gives the same bits; one
        # step more or less moves the smallest coefficients by less than allclose's tolerance
        expect(
            got.shape == want.shape and np.array_equal(got, want, equal_nan=True),
            _(
                "fit_sine() with no arguments does not do what fit_sine(steps=5000, lr=1e-6, "
                "seed=0) does: keep the defaults steps=5000, lr=1e-6, seed=0"
            ),
        )
