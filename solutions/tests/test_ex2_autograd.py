"""Public tests for ex2."""

import math

import torch

from ex2_autograd import LegendreP3, chain_rule, derivatives, train_step, weighted_backward


def test_chain_rule_example():
    """For w=1, x=2: y = (w + x)(w + 1), dy/dw = 2w + x + 1 = 5, dy/dx = w + 1 = 2."""
    assert chain_rule(1.0, 2.0) == (5.0, 2.0)


def test_weighted_backward_example():
    """Is the gradient weights * (2x - 2)?"""
    grad = weighted_backward(torch.tensor([0.0, 1.0, 3.0]), torch.tensor([1.0, 2.0, 0.5]))
    torch.testing.assert_close(grad, torch.tensor([-2.0, 0.0, 2.0]))


def test_derivatives_of_sine():
    """sin'(x) = cos(x), sin''(x) = -sin(x)."""
    first, second = derivatives(torch.sin, 0.5)
    assert math.isclose(first, math.cos(0.5), rel_tol=1e-6)
    assert math.isclose(second, -math.sin(0.5), rel_tol=1e-6)


def test_legendre_gradcheck():
    """Does torch.autograd.gradcheck accept your backward?"""
    x = torch.linspace(-1, 1, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(LegendreP3.apply, (x,))


def test_train_step_clears_grad():
    """After train_step, is coeffs.grad cleared?"""
    coeffs = torch.zeros(4, requires_grad=True)
    x = torch.linspace(-1, 1, 10)
    train_step(coeffs, x, torch.sin(x), 1e-3)
    assert coeffs.grad is None or not coeffs.grad.any()
