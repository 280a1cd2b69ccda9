"""Probes for ex1_gradients (NumPy only: this worker never imports torch)."""

import numpy as np

from grader.probes import probe, student


def _ex1():
    return student("ex1_gradients")


@probe
def predict(coeffs, x):
    return _ex1().predict(np.array(coeffs), np.array(x))


@probe
def sse_loss(y_pred, y):
    return _ex1().sse_loss(np.array(y_pred), np.array(y))


@probe
def losses_at(points, x, y):
    """``sse_loss(predict(c, x), y)`` for every coefficient vector in ``points``."""
    ex1 = _ex1()
    return [ex1.sse_loss(ex1.predict(np.array(c), np.array(x)), np.array(y)) for c in points]


@probe
def sse_grads(coeffs, x, y):
    return _ex1().sse_grads(np.array(coeffs), np.array(x), np.array(y))


@probe
def sgd_step(coeffs, grads, lr):
    coeffs = np.array(coeffs)
    before = coeffs.copy()
    result = _ex1().sgd_step(coeffs, np.array(grads), lr)
    return {
        "result": result,
        "input_changed": not np.array_equal(before, coeffs),
        "same_object": result is coeffs,
    }


@probe
def fit_sine(steps, lr, seed):
    coeffs, losses = _ex1().fit_sine(steps=steps, lr=lr, seed=seed)
    return {"coeffs": coeffs, "losses": list(losses)}
