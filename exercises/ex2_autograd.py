"""Exercise 2: autograd.

Let PyTorch build the graph and compute the gradients: leaf tensors,
``backward()``, ``torch.autograd.grad`` and a custom ``autograd.Function``.
"""

import math

import torch


def chain_rule(w: float, x: float) -> tuple[float, float]:
    """Build ``y = (w + x) * (w + 1)`` from leaf tensors, call ``backward()``.

    Return ``(dy/dw, dy/dx)`` as Python floats (``.item()``; a one-element tensor is
    accepted too).
    """
    raise NotImplementedError('chain_rule is not written yet: replace this line with your code (hint: tutorial 3-1 builds this y from leaf tensors (叶子节点) w and x; then read their .grad)')


def weighted_backward(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Compute ``y = x**2 - 2*x + 1`` elementwise and call ``y.backward(gradient=weights)``.

    Return the gradient with respect to ``x`` (same shape as ``x``). Do not modify the
    caller's ``x``; it need not require grad.
    """
    raise NotImplementedError("weighted_backward is not written yet: replace this line with your code (hint: tutorial 3-3, case 2: backward on a non-scalar y; work on a copy, not the caller's x)")


def derivatives(f, x: float) -> tuple[float, float]:
    """Return ``(f'(x), f''(x))`` as floats for a scalar function ``f`` built from torch ops.

    Use ``torch.autograd.grad(..., create_graph=True)`` so that the first derivative can
    itself be differentiated.
    """
    raise NotImplementedError('derivatives is not written yet: replace this line with your code (hint: tutorial 3-3, case 3: torch.autograd.grad twice, keeping the graph the first time)')


class LegendreP3(torch.autograd.Function):
    """The Legendre polynomial P3(x) = 0.5 * (5x**3 - 3x) with a hand-written backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        """Save ``x`` for backward and return P3(x)."""
        raise NotImplementedError('forward is not written yet: replace this line with your code (hint: tutorial 3-3 lets autograd find gradients; here keep x on ctx for your own backward)')

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        """Return ``grad_output * P3'(x)``, with P3'(x) = 1.5 * (5x**2 - 1)."""
        raise NotImplementedError("backward is not written yet: replace this line with your code (hint: the chain rule (链式法则) of tutorial 3-4: the incoming gradient times P3'(x))")


def train_step(coeffs: torch.Tensor, x: torch.Tensor, y: torch.Tensor, lr: float) -> float:
    """One gradient-descent step on the cubic model ``a + b*x + c*x**2 + d*x**3``.

    ``coeffs`` is a leaf tensor of shape (4,) with ``requires_grad=True``. Forward, SSE
    loss, ``backward()``, update ``coeffs`` in place under ``torch.no_grad()``, clear
    ``coeffs.grad``. Return the loss before the update as a float.
    """
    raise NotImplementedError("train_step is not written yet: replace this line with your code (hint: one pass of tutorial 3-6's loop, with the four weights held in coeffs)")


def fit_sine_autograd(
    steps: int = 2000, lr: float = 1e-6, seed: int = 0
) -> tuple[torch.Tensor, list[float]]:
    """Fit the cubic to ``sin`` on ``linspace(-pi, pi, 2000)`` through ``train_step``.

    Start from ``torch.randn(4, generator=torch.Generator().manual_seed(seed))``.
    Return the final coefficients (detached) and the loss every 100 steps: at steps 0, 100,
    200, ... (or 99, 199, ... as the PyTorch tutorials print), as ``train_step`` returns it.
    """
    raise NotImplementedError("fit_sine_autograd is not written yet: replace this line with your code (hint: tutorial 3-6's loop around your train_step, from the generator the docstring names)")
