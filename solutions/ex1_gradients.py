"""Exercise 1: gradients by hand.

Fit the cubic ``a + b*x + c*x**2 + d*x**3`` to ``sin(x)`` with NumPy only:
you compute every gradient yourself with the chain rule, no autograd.
"""

import numpy as np


def predict(coeffs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Return ``a + b*x + c*x**2 + d*x**3`` for ``coeffs = (a, b, c, d)``, same shape as ``x``."""
    ### BEGIN SOLUTION
    # hint: tutorial 3-4, forward pass (正向传播): the same y_pred, a, b, c, d taken from coeffs
    a, b, c, d = coeffs
    return a + b * x + c * x**2 + d * x**3
    ### END SOLUTION


def sse_loss(y_pred: np.ndarray, y: np.ndarray) -> float:
    """Return the sum of squared errors ``sum((y_pred - y)**2)`` as a Python float."""
    ### BEGIN SOLUTION
    # hint: tutorial 3-4, 'Compute loss': the same sum of squares, given back as a Python float
    return float(np.sum((y_pred - y) ** 2))
    ### END SOLUTION


def sse_grads(coeffs: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return d sse_loss(predict(coeffs, x), y) / d coeffs, an array of shape (4,).

    Chain rule: d loss / d y_pred = 2 * (y_pred - y), and d y_pred / d a, b, c, d
    are 1, x, x**2, x**3.
    """
    ### BEGIN SOLUTION
    # hint: tutorial 3-4, backprop: grad_y_pred first, then one chain-rule sum per coefficient
    grad_y_pred = 2.0 * (predict(coeffs, x) - y)
    return np.array(
        [
            grad_y_pred.sum(),
            (grad_y_pred * x).sum(),
            (grad_y_pred * x**2).sum(),
            (grad_y_pred * x**3).sum(),
        ]
    )
    ### END SOLUTION


def sgd_step(coeffs: np.ndarray, grads: np.ndarray, lr: float) -> np.ndarray:
    """Return the new coefficients ``coeffs - lr * grads``; leave ``coeffs`` itself unchanged."""
    ### BEGIN SOLUTION
    # hint: tutorial 3-4, 'Update weights': all four at once, into a new array (no -= on coeffs)
    return coeffs - lr * grads
    ### END SOLUTION


def fit_sine(steps: int = 5000, lr: float = 1e-6, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """Fit the cubic to ``sin`` on ``x = np.linspace(-pi, pi, 2000)`` by gradient descent.

    Start from ``np.random.default_rng(seed).standard_normal(4)``. Return the final
    coefficients (a float64 array) and ``losses``, the loss recorded every 100 steps: at
    steps 0, 100, 200, ..., before that step's update (recording at steps 99, 199, ... as the
    PyTorch tutorials print is accepted too).
    """
    ### BEGIN SOLUTION
    # hint: tutorial 3-4's loop, built from your four functions; record the loss before the update
    x = np.linspace(-np.pi, np.pi, 2000)
    y = np.sin(x)
    coeffs = np.random.default_rng(seed).standard_normal(4)
    losses = []
    for step in range(steps):
        if step % 100 == 0:
            losses.append(sse_loss(predict(coeffs, x), y))
        coeffs = sgd_step(coeffs, sse_grads(coeffs, x, y), lr)
    return coeffs, losses
    ### END SOLUTION
