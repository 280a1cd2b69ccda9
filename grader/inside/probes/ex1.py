"""Probes for ex1_gradients (NumPy only: this module never imports torch)."""

import numpy as np

from grader.inside.probes import probe, student, with_defaults


def _ex1():
    return student("ex1_gradients")


@probe
def predict(coeffs, x):
    return _ex1().predict(np.array(coeffs), np.array(x))


@probe
def sse_loss(y_pred, y):
    return _ex1().sse_loss(np.array(y_pred), np.array(y))


@probe
def sse_grads(coeffs, x, y):
    return _ex1().sse_grads(np.array(coeffs), np.array(x), np.array(y))


@probe
def sgd_step(coeffs, grads, lr):
    """The step's result, and the caller's ``coeffs`` array as it is after the call."""
    coeffs = np.array(coeffs)
    result = _ex1().sgd_step(coeffs, np.array(grads), lr)
    return {"result": result, "coeffs_after": coeffs}


@probe
def fit_sine(steps, lr, seed):
    coeffs, losses = _ex1().fit_sine(steps=steps, lr=lr, seed=seed)
    return {"coeffs": coeffs, "losses": list(losses)}


@probe
def fit_sine_defaults():
    """fit_sine called with its default arguments, with the values the exercise gives, and
    with others."""
    return with_defaults(
        _ex1().fit_sine,
        {"steps": 5000, "lr": 1e-6, "seed": 0},
        other_call={"steps": 300, "lr": 2e-6, "seed": 1},
    )
