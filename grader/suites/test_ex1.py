"""Hidden suite for ex1_gradients: gradients by hand, NumPy only."""

import numpy as np
import pytest

from grader import reference
from grader.checks import (
    as_array,
    as_dict,
    as_float,
    central_difference_points,
    central_differences,
    diagnose_gradient,
    expect,
    expect_close,
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


@pytest.mark.points(3)
def test_predict_is_the_cubic(probe, data):
    """Does predict compute a + b*x + c*x**2 + d*x**3 elementwise?"""
    got = as_array(
        probe("predict", coeffs=data["coeffs"], x=data["x"]),
        "predict(coeffs, x)",
        shape=data["x"].shape,
    )
    expect_close(
        got,
        cubic(data["coeffs"], data["x"]),
        "predict(coeffs, x)",
        rtol=1e-9,
        atol=1e-12,
        hint="coeffs = (a, b, c, d) multiply 1, x, x**2, x**3 in that order",
    )


@pytest.mark.points(3)
def test_sse_loss_is_sum_of_squares(probe, rng):
    """Is sse_loss the sum (not the mean) of squared errors, as one number?"""
    y_pred, y = rng.standard_normal(50), rng.standard_normal(50)
    got = as_float(probe("sse_loss", y_pred=y_pred, y=y), "sse_loss(y_pred, y)")
    expected = float(np.sum((y_pred - y) ** 2))
    if np.isclose(got, expected / y.size, rtol=1e-9):
        pytest.fail(
            "sse_loss returned the mean of the squared errors; it should be the sum", pytrace=False
        )
    expect_close(
        got,
        expected,
        "sse_loss(y_pred, y)",
        rtol=1e-9,
        hint="square the differences y_pred - y, then add them all up",
    )


@pytest.mark.points(5)
def test_sse_grads_match_finite_differences(probe, data):
    """Do the hand-written gradients agree with float64 central differences of the loss?

    The differences are taken here, of the grader's own float64 loss: a wrong forward
    (predict, sse_loss) is charged by its own tests, not twice.
    """
    coeffs, x, y = data["coeffs"], data["x"], data["y"]
    analytic = as_array(
        probe("sse_grads", coeffs=coeffs, x=x, y=y), "sse_grads(coeffs, x, y)", shape=(4,)
    )
    h = 1e-5
    values = [np.sum((cubic(p, x) - y) ** 2) for p in central_difference_points(coeffs, h)]
    numeric = central_differences(np.array(values), h)
    problem = diagnose_gradient(analytic, numeric, COEFF_NAMES, rtol=1e-5)
    expect(not problem, problem + ": check the chain rule, d loss/d y_pred = 2 * (y_pred - y)")


@pytest.mark.points(3)
def test_sgd_step_returns_new_array(probe, rng):
    """Does sgd_step return coeffs - lr * grads and leave the input array unchanged?"""
    coeffs, grads = rng.standard_normal(4), rng.standard_normal(4)
    out = as_dict(
        probe("sgd_step", coeffs=coeffs, grads=grads, lr=0.1),
        "sgd_step's report",
        ("result", "coeffs_after"),
    )
    got = as_array(out["result"], "sgd_step(coeffs, grads, lr)", shape=(4,))
    expect_close(
        got,
        coeffs - 0.1 * grads,
        "sgd_step(coeffs, grads, 0.1)",
        rtol=1e-12,
        hint="the step goes against the gradient: coeffs - lr * grads",
    )
    after = as_array(out["coeffs_after"], "the coeffs array after the call", shape=(4,))
    expect(
        np.array_equal(after, coeffs),
        "sgd_step changed the coeffs array it was given (an in-place update such as "
        "`coeffs -= lr * grads`); return a new array: `coeffs - lr * grads`",
    )


@pytest.mark.points(2)
def test_fit_sine_records_loss_every_100_steps(probe):
    """Does fit_sine start from default_rng(seed) and record the loss every 100 steps?"""
    out = as_dict(probe("fit_sine", steps=300, lr=1e-6, seed=3), "fit_sine", ("losses",))
    losses = as_array(out["losses"], "fit_sine(steps=300)'s losses")
    expect(
        losses.shape == (3,),
        f"fit_sine(steps=300) recorded {losses.size} losses; expected 3 (at steps 0, 100 and 200)",
    )
    x = np.linspace(-np.pi, np.pi, 2000)
    start = np.random.default_rng(3).standard_normal(4)
    expect_close(
        losses[0],
        np.sum((cubic(start, x) - np.sin(x)) ** 2),
        "the first loss",
        rtol=1e-6,
        hint="start from np.random.default_rng(seed).standard_normal(4) on "
        "x = np.linspace(-np.pi, np.pi, 2000), and record before the first update",
    )


@pytest.mark.points(4)
def test_fit_sine_matches_reference(probe):
    """After 2000 steps, are the coefficients those of plain gradient descent?"""
    out = as_dict(probe("fit_sine", steps=2000, lr=1e-6, seed=0), "fit_sine", ("coeffs", "losses"))
    coeffs = as_array(out["coeffs"], "fit_sine's coefficients", shape=(4,))
    expected, expected_losses = reference.load("ex1_gradients").fit_sine(
        steps=2000, lr=1e-6, seed=0
    )
    expect_close(
        coeffs,
        expected,
        "fit_sine(steps=2000) coefficients",
        rtol=1e-6,
        atol=1e-9,
        hint="each step should be coeffs = sgd_step(coeffs, sse_grads(coeffs, x, y), lr)",
    )
    losses = as_array(out["losses"], "fit_sine's losses")
    expect(
        losses.shape == (20,) and losses[-1] < losses[0],
        "the recorded losses should number 20 and go down",
    )
