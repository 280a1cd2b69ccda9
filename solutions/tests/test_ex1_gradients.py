"""Public tests for ex1: a few of the checks the grader makes, with small inputs."""

import numpy as np

from ex1_gradients import fit_sine, predict, sgd_step, sse_grads, sse_loss


def test_predict_small_example():
    """Is predict((1, 2, 3, 4), x) = 1 + 2x + 3x**2 + 4x**3?"""
    x = np.array([0.0, 1.0, -1.0, 2.0])
    np.testing.assert_allclose(predict(np.array([1.0, 2, 3, 4]), x), [1, 10, -2, 49])


def test_sse_loss_small_example():
    """Is sse_loss the sum of squared errors?"""
    assert sse_loss(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0])) == 13.0


def test_sse_grads_match_finite_differences():
    """Do your gradients agree with central differences of your loss?"""
    rng = np.random.default_rng(0)
    coeffs, x = rng.standard_normal(4), np.linspace(-1, 1, 20)
    y = np.sin(x)
    h = 1e-6
    numeric = []
    for i in range(4):
        step = np.zeros(4)
        step[i] = h
        plus = sse_loss(predict(coeffs + step, x), y)
        minus = sse_loss(predict(coeffs - step, x), y)
        numeric.append((plus - minus) / (2 * h))
    np.testing.assert_allclose(sse_grads(coeffs, x, y), numeric, rtol=1e-5)


def test_sgd_step_leaves_input_unchanged():
    """Does sgd_step return a new array?"""
    coeffs = np.array([1.0, 1.0, 1.0, 1.0])
    out = sgd_step(coeffs, np.array([1.0, 2.0, 3.0, 4.0]), 0.5)
    np.testing.assert_allclose(out, [0.5, 0.0, -0.5, -1.0])
    np.testing.assert_array_equal(coeffs, [1.0, 1.0, 1.0, 1.0])


def test_fit_sine_records_the_loss_every_100_steps():
    """Are fit_sine's losses those of steps 0, 100, 200 (or 99, 199, 299), computed with your
    own predict, sse_loss, sse_grads and sgd_step?"""
    x = np.linspace(-np.pi, np.pi, 2000)
    y = np.sin(x)
    coeffs = np.random.default_rng(3).standard_normal(4)
    trajectory = []
    for _ in range(300):
        trajectory.append(sse_loss(predict(coeffs, x), y))
        coeffs = sgd_step(coeffs, sse_grads(coeffs, x, y), 1e-6)
    _, losses = fit_sine(steps=300, lr=1e-6, seed=3)
    assert len(losses) == 3, f"{len(losses)} losses for 300 steps; expected 3"
    assert np.allclose(losses, trajectory[0::100]) or np.allclose(losses, trajectory[99::100])
