"""Probes for ex2_autograd."""

import torch

from grader.inside.probes import as_tensor, probe, student, with_defaults

FUNCTIONS = {
    "sin_cubed": lambda t: torch.sin(t) ** 3,
    "exp_poly": lambda t: torch.exp(0.5 * t) * (t**2 - 1),
    "log_cosh": lambda t: torch.log(torch.cosh(t)),
}


def _ex2():
    return student("ex2_autograd")


@probe
def chain_rule(w, x):
    return _ex2().chain_rule(w, x)


@probe
def weighted_backward(x, weights):
    """The gradient, and the caller's ``x`` as it is after the call (values, flags, grad)."""
    x = as_tensor(x)
    grad = _ex2().weighted_backward(x, as_tensor(weights))
    return {
        "grad": grad,
        "x_after": x.detach(),
        "x_requires_grad": x.requires_grad,
        "x_grad": x.grad,
    }


@probe
def derivatives(name, x):
    return _ex2().derivatives(FUNCTIONS[name], x)


@probe
def legendre_forward(x):
    return _ex2().LegendreP3.apply(as_tensor(x))


@probe
def legendre_backward(x, grad_output):
    x = as_tensor(x).requires_grad_(True)
    y = _ex2().LegendreP3.apply(x)
    y.backward(as_tensor(grad_output))
    return x.grad


@probe
def train_step(coeffs, x, y, lr, steps):
    """Run ``steps`` calls of train_step on one leaf tensor; report its state after each."""
    coeffs = as_tensor(coeffs).requires_grad_(True)
    x, y = as_tensor(x), as_tensor(y)
    storage = coeffs.data_ptr()
    backward = []
    coeffs.register_hook(lambda grad: backward.append(1))  # autograd computed coeffs' gradient
    reports = []
    for _ in range(steps):
        backward.clear()
        loss = _ex2().train_step(coeffs, x, y, lr)
        grad = coeffs.grad
        reports.append(
            {
                "loss": loss,
                "coeffs": coeffs.detach().clone(),
                "grad": "none" if grad is None else ("zeros" if not grad.any() else "nonzero"),
                "is_leaf": coeffs.is_leaf,
                "requires_grad": coeffs.requires_grad,
                "same_storage": coeffs.data_ptr() == storage,
                "backward_calls": len(backward),
            }
        )
    return reports


@probe
def fit_sine_autograd(steps, lr, seed):
    coeffs, losses = _ex2().fit_sine_autograd(steps=steps, lr=lr, seed=seed)
    return {"coeffs": coeffs, "losses": list(losses)}


@probe
def fit_sine_autograd_defaults():
    """fit_sine_autograd called with its default arguments, and with the values the exercise
    gives."""
    return with_defaults(_ex2().fit_sine_autograd, {"steps": 2000, "lr": 1e-6, "seed": 0})
