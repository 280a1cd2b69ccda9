"""Hidden suite for ex2_autograd."""

import math

import numpy as np
import pytest

from grader.course import reference
from grader.i18n import _
from grader.suites.assertions import (
    as_array,
    as_bool,
    as_dict,
    as_float,
    as_list,
    describe,
    expect,
    expect_close,
    fail,
)

EXERCISE = "ex2"


FUNCTIONS = {
    "sin_cubed": lambda t: math.sin(t) ** 3,
    "exp_poly": lambda t: math.exp(0.5 * t) * (t**2 - 1),
    "log_cosh": lambda t: math.log(math.cosh(t)),
}
"""The test functions, here in float64 (the worker builds the same from torch ops)."""


def legendre_p3(x):
    return 0.5 * (5 * x**3 - 3 * x)


def cubic(coeffs, x):
    return coeffs[0] + coeffs[1] * x + coeffs[2] * x**2 + coeffs[3] * x**3


def sse_and_grad(coeffs, x, y):
    residual = 2 * (cubic(coeffs, x) - y)
    grad = np.array(
        [residual.sum(), (residual * x).sum(), (residual * x**2).sum(), (residual * x**3).sum()]
    )
    return float(np.sum((cubic(coeffs, x) - y) ** 2)), grad


@pytest.mark.tests_function("chain_rule")
@pytest.mark.points(2)
def test_chain_rule(probe):
    """Are dy/dw and dy/dx of y = (w + x) * (w + 1) right, as floats?"""
    w, x = 1.5, -0.75
    out = probe("chain_rule", w=w, x=x)
    expect(
        isinstance(out, list) and len(out) == 2,
        _("chain_rule returned {value}; expected a pair (dy_dw, dy_dx)", value=describe(out)),
    )
    dy_dw, dy_dx = as_float(out[0], "dy_dw"), as_float(out[1], "dy_dx")
    expect_close(
        dy_dw,
        2 * w + x + 1,
        "dy/dw",
        rtol=1e-6,
        hint=_("w appears in both factors: the product rule gives (w + 1) + (w + x)"),
    )
    expect_close(dy_dx, w + 1, "dy/dx", rtol=1e-6)


def _weighted_gradient(x, weights):
    """weights * dy/dx of y = x**2 - 2*x + 1, from float64 central differences."""
    h = 1e-6
    y = lambda t: t**2 - 2 * t + 1  # noqa: E731 - the function the exercise defines
    return (y(x + h) - y(x - h)) / (2 * h) * weights


def _check_weighted_gradient(grad, x, weights):
    numeric = _weighted_gradient(x, weights)
    if np.allclose(grad, numeric / weights, rtol=1e-5):
        fail(_("the gradient ignores the weights: pass them as y.backward(gradient=weights)"))
    expect_close(
        grad,
        numeric,
        _("the gradient of y = x**2 - 2*x + 1 weighted by `weights`"),
        rtol=1e-5,
        atol=1e-7,
        hint=_("dy/dx = 2x - 2, times the weight of each element"),
    )


@pytest.mark.tests_function("weighted_backward")
@pytest.mark.points(3)
def test_weighted_backward_matches_finite_differences(probe, rng):
    """Is the gradient weights * dy/dx, with dy/dx from central differences of y?"""
    x, weights = rng.standard_normal(7), rng.uniform(0.5, 2.0, 7)
    out = as_dict(probe("weighted_backward", x=x, weights=weights), "weighted_backward", ("grad",))
    _check_weighted_gradient(
        as_array(out["grad"], "weighted_backward(x, weights)", shape=x.shape), x, weights
    )


@pytest.mark.tests_function("weighted_backward")
@pytest.mark.points(1)
def test_weighted_backward_leaves_input_alone(probe, rng):
    """Is the caller's x left as it was (values, requires_grad, .grad)?

    Credited with a gradient of y at x (weighted, or the known mistake of ignoring the
    weights, which its own test charges): the state of x is reported by the worker.
    """
    x, weights = rng.standard_normal(5), rng.uniform(0.5, 2.0, 5)
    out = as_dict(
        probe("weighted_backward", x=x, weights=weights),
        _("weighted_backward's report"),
        ("grad", "x_after", "x_requires_grad", "x_grad"),
    )
    grad = as_array(out["grad"], "weighted_backward(x, weights)", shape=x.shape)
    numeric = _weighted_gradient(x, weights)
    if not np.allclose(grad, numeric / weights, rtol=1e-5):
        _check_weighted_gradient(grad, x, weights)
    after = as_array(out["x_after"], _("the caller's x after the call"), shape=x.shape)
    expect(
        np.array_equal(after, x)
        and not as_bool(out["x_requires_grad"], "x.requires_grad")
        and out["x_grad"] is None,
        _(
            "weighted_backward changed the caller's x (its values, requires_grad or .grad); "
            "work on a copy: x = x.detach().clone().requires_grad_(True)"
        ),
    )


def _derivative_pairs(probe, name, x):
    """The student's (f'(x), f''(x)) and the grader's float64 central differences."""
    out = probe("derivatives", name=name, x=x)
    expect(
        isinstance(out, list) and len(out) == 2,
        _("derivatives returned {value}; expected a pair (first, second)", value=describe(out)),
    )
    f = FUNCTIONS[name]
    h = 1e-4
    above, at, below = f(x + h), f(x), f(x - h)
    return out, (above - below) / (2 * h), (above - 2 * at + below) / h**2


@pytest.mark.tests_function("derivatives")
@pytest.mark.points(2)
def test_derivatives_first(probe):
    """Is f'(x) right for functions built from torch ops?"""
    for name, x in [("sin_cubed", 0.7), ("exp_poly", -1.3)]:
        out, first, _second = _derivative_pairs(probe, name, x)
        what = _("f'({x}) of {name}", x=x, name=name)
        expect_close(as_float(out[0], "f'(x)"), first, what, rtol=1e-5, atol=1e-7)


@pytest.mark.tests_function("derivatives")
@pytest.mark.points(2)
def test_derivatives_second(probe):
    """Is f''(x) right (the derivative of the first derivative)?"""
    for name, x in [("sin_cubed", 0.7), ("log_cosh", 0.4)]:
        out, _first, second = _derivative_pairs(probe, name, x)
        expect_close(
            as_float(out[1], "f''(x)"),
            second,
            _("f''({x}) of {name}", x=x, name=name),
            rtol=1e-4,
            atol=1e-6,
            hint=_(
                "take torch.autograd.grad of the first derivative, which "
                "needs create_graph=True in the first call"
            ),
        )


@pytest.mark.tests_function("LegendreP3.forward")
@pytest.mark.points(2)
def test_legendre_forward(probe):
    """Does LegendreP3.apply compute 0.5 * (5x**3 - 3x)?"""
    x = np.linspace(-1.2, 1.2, 9)
    got = as_array(probe("legendre_forward", x=x), "LegendreP3.apply(x)", shape=x.shape)
    # float32 (torch's default dtype) is right too: its rounding, some 1e-7 of the terms'
    # size, is allowed where the terms cancel (near the roots)
    terms = 2.5 * np.abs(x) ** 3 + 1.5 * np.abs(x)
    expect_close(got, legendre_p3(x), "P3(x)", rtol=1e-5, atol=1e-6 * float(terms.max()))


@pytest.mark.tests_function("LegendreP3.backward")
@pytest.mark.points(3)
def test_legendre_backward_matches_finite_differences(probe, rng):
    """Is the hand-written backward grad_output * P3'(x), checked against differences?"""
    x, grad_output = np.linspace(-1.1, 0.9, 6), rng.uniform(0.5, 2.0, 6)
    grad = as_array(
        probe("legendre_backward", x=x, grad_output=grad_output),
        _("x.grad after LegendreP3.apply(x).backward(g)"),
        shape=x.shape,
    )
    h = 1e-6
    numeric = (legendre_p3(x + h) - legendre_p3(x - h)) / (2 * h) * grad_output
    expect_close(
        grad,
        numeric,
        _("the backward of LegendreP3"),
        rtol=1e-5,
        atol=1e-7,
        hint=_("P3'(x) = 1.5 * (5x**2 - 1); multiply it by grad_output"),
    )


@pytest.fixture(scope="module")
def steps(probe):
    x = np.linspace(-math.pi, math.pi, 50)
    coeffs = np.array([0.1, -0.3, 0.2, 0.05])
    reports = as_list(
        probe("train_step", coeffs=coeffs, x=x, y=np.sin(x), lr=1e-3, steps=2),
        _("train_step's reports"),
        length=2,
    )
    keys = ("loss", "coeffs", "grad", "is_leaf", "requires_grad", "same_storage", "backward_calls")
    return coeffs, x, np.sin(x), [as_dict(r, _("a train_step report"), keys) for r in reports]


@pytest.mark.tests_function("train_step")
@pytest.mark.points(2)
def test_train_step_one_step(steps):
    """Does one step return the loss before the update and update coeffs in place?"""
    coeffs, x, y, reports = steps
    first = reports[0]
    loss, grad = sse_and_grad(coeffs, x, y)
    expect(
        first["backward_calls"] != 0,
        _(
            "train_step never had autograd compute the gradient of coeffs: call loss.backward() "
            "and use coeffs.grad (this exercise is about autograd, not gradients by hand)"
        ),
    )
    got_loss = as_float(first["loss"], _("train_step's loss"))
    if np.isclose(got_loss, loss / len(x), rtol=1e-5):
        fail(
            _(
                "the returned loss is {got:.6g}, the mean of the squared errors (the sum is "
                "{sum:.6g}): this exercise's loss is their sum, ((y_pred - y) ** 2).sum()",
                got=got_loss,
                sum=loss,
            )
        )
    expect_close(
        got_loss,
        loss,
        _("the returned loss"),
        rtol=1e-6,
        hint=_("return the SSE loss computed before the update, as loss.item()"),
    )
    expect(
        as_bool(first["is_leaf"], "is_leaf")
        and as_bool(first["requires_grad"], "requires_grad")
        and as_bool(first["same_storage"], "same_storage"),
        _(
            "coeffs is no longer the same leaf tensor that requires grad: update it in place "
            "(coeffs -= lr * coeffs.grad) inside `with torch.no_grad():`"
        ),
    )
    after = as_array(first["coeffs"], _("coeffs after one step"), shape=(4,))
    expect(
        not np.array_equal(after, coeffs),
        _(
            "the caller's coeffs did not change: `coeffs = coeffs - ...` makes a new tensor and "
            "leaves the caller's one alone; update in place with `coeffs -= lr * coeffs.grad` "
            "inside `with torch.no_grad():`"
        ),
    )
    expect_close(
        after,
        coeffs - 1e-3 * grad,
        _("coeffs after one step"),
        rtol=1e-6,
        atol=1e-9,
        hint=_("the update is coeffs - lr * coeffs.grad"),
    )


@pytest.mark.tests_function("train_step")
@pytest.mark.points(2)
def test_train_step_clears_grad(steps):
    """Is coeffs.grad cleared, so that a second step uses only its own gradient?

    Judged against the student's own first step: where that step is a multiple of the SSE
    gradient (a mean in place of the sum, say), the second must be the same multiple of its
    own gradient alone; a first step that is no such multiple, or that never reached the
    caller's tensor, is the one-step test's to charge, and this test looks at .grad only."""
    coeffs, x, y, reports = steps
    after_one = as_array(reports[0]["coeffs"], _("coeffs after one step"), shape=(4,))
    if np.array_equal(after_one, coeffs):
        return
    expect(
        reports[0]["grad"] in ("none", "zeros"),
        _(
            "coeffs.grad still holds the gradient after train_step: set coeffs.grad = None "
            "(or zero it) so the next backward() does not add to it"
        ),
    )
    got = as_array(reports[1]["coeffs"], _("coeffs after two steps"), shape=(4,))
    first_grad = sse_and_grad(coeffs, x, y)[1]
    step = after_one - coeffs
    scale = -float(step @ first_grad) / float(first_grad @ first_grad)
    if scale <= 0 or not np.allclose(step, -scale * first_grad, rtol=1e-4, atol=1e-12):
        return
    second_grad = sse_and_grad(after_one, x, y)[1]
    accumulated = after_one - scale * (second_grad + first_grad)
    cleared = after_one - scale * second_grad
    if np.allclose(got, accumulated, rtol=1e-6, atol=1e-9) and not np.allclose(
        got, cleared, rtol=1e-6, atol=1e-9
    ):
        fail(
            _(
                "the second step used the first step's gradient too: gradients accumulate in "
                ".grad unless you clear them after each step"
            )
        )
    expect_close(
        got,
        cleared,
        _("coeffs after two steps"),
        rtol=1e-6,
        atol=1e-9,
        hint=_("the second step did not follow the first one's rule with its own gradient"),
    )


def autograd_trajectory(steps: int, lr: float, seed: int) -> np.ndarray:
    """The loss at every step of the reference's fit (its train_step, before each update)."""
    import torch

    module = reference.load("ex2_autograd")
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)
    coeffs = torch.randn(4, generator=torch.Generator().manual_seed(seed)).requires_grad_(True)
    return np.array([module.train_step(coeffs, x, y, lr) for _step in range(steps)])


def reference_fit_sine_autograd(steps: int, lr: float, seed: int):
    return reference.load("ex2_autograd").fit_sine_autograd(steps, lr, seed)


def _check_autograd_losses(losses, trajectory, what: str) -> None:
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
    if not any(np.allclose(losses, trajectory[first::100][:count], rtol=1e-4) for first in (0, 99)):
        steps = [int(np.argmin(np.abs(trajectory - value))) for value in losses[:3]]
        fail(
            _(
                "{what} recorded the losses of steps {seen}, ...: record the loss every 100 "
                "steps, at steps 0, 100, 200, ... (or 99, 199, 299, ...)",
                what=what,
                seen=", ".join(map(str, steps)),
            )
        )


@pytest.mark.tests_function("fit_sine_autograd")
@pytest.mark.points(1)
def test_fit_sine_autograd_matches_reference(probe):
    """Does fit_sine_autograd reach the reference's coefficients, recording the loss every
    100 steps, with its defaults (2000 steps, lr 1e-6, seed 0) too?"""
    out = as_dict(
        probe("fit_sine_autograd", steps=300, lr=1e-6, seed=1),
        "fit_sine_autograd",
        ("coeffs", "losses"),
    )
    expected, _losses = reference.once(reference_fit_sine_autograd, 300, 1e-6, 1)
    expect_close(
        as_array(
            out["coeffs"], _("{call}'s {key}", call="fit_sine_autograd", key="coeffs"), shape=(4,)
        ),
        expected.numpy(),
        _("coefficients after 300 steps"),
        rtol=1e-4,
        atol=1e-6,
        hint=_("start from torch.randn(4, generator=torch.Generator().manual_seed(seed))"),
    )
    losses = as_array(out["losses"], _("{call}'s {key}", call="fit_sine_autograd", key="losses"))
    trajectory = reference.once(autograd_trajectory, 300, 1e-6, 1)
    _check_autograd_losses(losses, trajectory, "fit_sine_autograd(300)")
    out = as_dict(probe("fit_sine_autograd_defaults"), "fit_sine_autograd()",
                  ("defaults", "explicit"))  # fmt: skip
    defaults = as_dict(out["defaults"], "fit_sine_autograd()", ("coeffs", "losses"))
    explicit = as_dict(out["explicit"], "fit_sine_autograd(2000, 1e-6, 0)", ("coeffs", "losses"))
    losses = as_array(
        defaults["losses"],
        _("{call}'s {key}", call="fit_sine_autograd()", key="losses"),
        finite=False,
    )
    trajectory = reference.once(autograd_trajectory, 2000, 1e-6, 0)
    # the same function with the same values in one process gives the same bits: one step
    # more or less moves the coefficients by less than any tolerance across solutions
    same = all(
        np.array_equal(
            as_array(
                defaults[key],
                _("{call}'s {key}", call="fit_sine_autograd()", key=key),
                finite=False,
            ),
            as_array(
                explicit[key],
                _("{call}'s {key}", call="fit_sine_autograd(2000, 1e-6, 0)", key=key),
                finite=False,
            ),
            equal_nan=True,
        )
        for key in ("coeffs", "losses")
    )
    expect(
        same
        and losses.shape == (20,)
        and any(np.allclose(losses, trajectory[first::100], rtol=1e-4) for first in (0, 99)),
        _(
            "fit_sine_autograd() with no arguments does not do what fit_sine_autograd(steps=2000, "
            "lr=1e-6, seed=0) does: keep the defaults steps=2000, lr=1e-6, seed=0"
        ),
    )
