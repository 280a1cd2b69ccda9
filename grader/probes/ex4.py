"""Probes for ex4_net."""

import torch

from grader.probes import as_tensor, probe, student


def _net(seed):
    torch.manual_seed(seed)
    return student("ex4_net").Net()


@probe
def describe():
    net = _net(0)
    return {
        "shapes": {k: list(v.shape) for k, v in net.state_dict().items()},
        "parameters": sum(p.numel() for p in net.parameters()),
    }


@probe
def forward(x, seed):
    """The network's own initial weights and its logits for ``x``."""
    net = _net(seed)
    with torch.no_grad():
        logits = net(as_tensor(x, torch.float32))
    return {"state_dict": net.state_dict(), "logits": logits}


@probe
def gradient_reach(x, seed):
    """Which parameters get a non-zero gradient from ``net(x).sum().backward()``."""
    net = _net(seed)
    net(as_tensor(x, torch.float32)).sum().backward()
    return {
        name: param.grad is not None and bool(param.grad.abs().sum() > 0)
        for name, param in net.named_parameters()
    }
