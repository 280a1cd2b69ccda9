"""Probes for ex4_net: the student's ``Net`` runs with weights the trusted side chose."""

import torch

from grader.inside.probes import as_tensor, probe, student


def load_weights(net, state_dict) -> dict:
    """Load the trusted side's weights into ``net`` where its layers have them; return the
    names that did not fit (a Net with other layers is charged where its logits differ)."""
    weights = {k: as_tensor(v, torch.float32) for k, v in state_dict.items()}
    own = net.state_dict()
    fitting = {k: v for k, v in weights.items() if k in own and own[k].shape == v.shape}
    net.load_state_dict(fitting, strict=False)
    return {
        "extra": sorted(set(own) - set(fitting)),
        "lacking": sorted(set(weights) - set(fitting)),
    }


def _net(state_dict=None):
    """The student's Net, with the trusted side's ``state_dict`` loaded where it fits."""
    torch.manual_seed(0)
    net = student("ex4_net").Net()
    fit = load_weights(net, state_dict) if state_dict is not None else {}
    return net, fit


@probe
def describe():
    """The layers' shapes and parameter count, and what ``forward`` said if it is not written
    (the stub's raises NotImplementedError; any other error is the forward tests' to judge)."""
    net, _ = _net()
    unwritten = ""
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, 32, 32))
    except NotImplementedError as exc:
        unwritten = str(exc)[:500] or "NotImplementedError"
    except Exception:  # noqa: BLE001 - a forward that fails is charged by the forward's tests
        pass
    return {
        "shapes": {k: list(v.shape) for k, v in net.state_dict().items()},
        "parameters": sum(p.numel() for p in net.parameters()),
        "forward_unwritten": unwritten,
    }


@probe
def forward(x, state_dict):
    """The logits for ``x`` with the given weights, and which weights did not fit; then the
    logits of a second call (``again``) and of two calls in eval mode (``eval``), for the
    trusted side to see whether the forward is random."""
    net, fit = _net(state_dict)
    inputs = as_tensor(x, torch.float32)
    with torch.no_grad():
        logits, again = net(inputs), net(inputs)
        net.eval()
        return {"logits": logits, "again": again, "eval": [net(inputs), net(inputs)], **fit}


@probe
def gradients(x, state_dict):
    """The logits for ``x``, and each parameter's gradient of ``net(x).sum()`` (None: none)."""
    net, _ = _net(state_dict)
    logits = net(as_tensor(x, torch.float32))
    logits.sum().backward()
    return {
        "logits": logits.detach(),
        "grads": {name: param.grad for name, param in net.named_parameters()},
    }
