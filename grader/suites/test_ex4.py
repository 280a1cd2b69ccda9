"""Hidden suite for ex4_net."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader.course import reference
from grader.i18n import N_, _
from grader.suites.assertions import as_array, as_dict, as_list, expect, expect_close, fail

EXERCISE = "ex4"
PARAMETERS = 62006


def _weights(seed: int) -> tuple[dict, dict]:
    """Weights chosen here (the reference Net's initialisation under ``seed``), as arrays to
    send and as tensors for the reference forward."""
    torch.manual_seed(seed)
    state = reference.load("ex4_net").Net().state_dict()
    return {k: v.numpy() for k, v in state.items()}, state


def _reference_net(state: dict):
    net = reference.load("ex4_net").Net()
    net.load_state_dict(state)
    return net


@pytest.mark.tests_function("Net.__init__")
@pytest.mark.points(2)
def test_layers_are_the_tutorials(probe):
    """Are the layers those of the stub (keys, shapes, 62,006 parameters), in a Net whose
    forward is written? (Whether they run is the forward's to show, in the tests after; the
    layers the stub gives earn nothing while forward is not written.)"""
    out = as_dict(probe("describe"), _("the network's description"), ("shapes", "parameters"))
    unwritten = out.get("forward_unwritten")
    expect(
        not unwritten,
        _(
            "Net.forward: {error} (the layers __init__ gives count once forward uses them)",
            error=str(unwritten)[:300],
        ),
    )
    want = {k: list(v.shape) for k, v in reference.load("ex4_net").Net().state_dict().items()}
    expect(
        out["shapes"] == want,
        _(
            "the layers differ from the tutorial's: got {got}, expected {want}; keep __init__ "
            "as given",
            got=out["shapes"],
            want=want,
        ),
    )
    expect(
        out["parameters"] == PARAMETERS,
        _(
            "{count} parameters; expected {expected}",
            count=out["parameters"],
            expected=PARAMETERS,
        ),
    )


def _logits(out, what: str, shape: tuple) -> np.ndarray:
    return as_array(
        as_dict(out, _("the forward's report"), ("logits",))["logits"], what, shape=shape
    )


@pytest.mark.tests_function("Net.forward")
@pytest.mark.points(3)
def test_logits_shape_for_any_batch(probe, rng):
    """Does forward map (N, 3, 32, 32) to (N, 10) for N = 1, 3 and 16?"""
    weights, _state = _weights(0)
    for n in (1, 3, 16):
        x = rng.standard_normal((n, 3, 32, 32)).astype(np.float32)
        out = probe("forward", x=x, state_dict=weights)
        _logits(out, _("net(x) for a batch of {n}", n=n), (n, 10))


def _variants():
    """Known wrong forwards, to name the likely mistake when the logits differ."""

    def run(net, x, *, relu=(True, True, True, True), flatten="flatten", softmax=False):
        act = [F.relu if r else (lambda t: t) for r in relu]
        x = net.pool(act[0](net.conv1(x)))
        x = net.pool(act[1](net.conv2(x)))
        x = (
            x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
            if flatten == "channels_last"
            else (torch.flatten(x, 1))
        )
        x = act[2](net.fc1(x))
        x = act[3](net.fc2(x))
        x = net.fc3(x)
        return F.softmax(x, dim=1) if softmax else x

    return {
        N_("a ReLU is missing after conv1"): dict(relu=(False, True, True, True)),
        N_("a ReLU is missing after conv2"): dict(relu=(True, False, True, True)),
        N_("a ReLU is missing after fc1"): dict(relu=(True, True, False, True)),
        N_("a ReLU is missing after fc2"): dict(relu=(True, True, True, False)),
        N_(
            "the flatten scrambles the features (flatten the (16, 5, 5) maps in that order: "
            "torch.flatten(x, 1))"
        ): dict(flatten="channels_last"),
        N_(
            "the output goes through softmax; return the raw logits (CrossEntropyLoss applies "
            "log-softmax itself)"
        ): dict(softmax=True),
    }, run


def _matching_forward(logits, x, state):
    """``(name, kwargs)`` of the forward (the tutorial's, or a known mistake) that gives
    ``logits`` with these weights, or None."""
    variants, run = _variants()
    net = _reference_net(state)
    with torch.no_grad():
        for name, kwargs in [("right", {}), *variants.items()]:
            if np.allclose(logits, run(net, torch.from_numpy(x), **kwargs).double().numpy(),
                           rtol=1e-4, atol=1e-5):  # fmt: skip
                return name, kwargs
    return None


def _expect_repeatable(out: dict, logits: np.ndarray) -> None:
    """The same input and weights twice must give the same logits; where they do not, say
    whether eval mode stops it (dropout in training mode) or not (dropout always on)."""
    again = as_array(out.get("again"), _("net(x) called again"), shape=logits.shape)
    if np.allclose(again, logits, rtol=1e-6, atol=1e-7):
        return
    in_eval = _("net(x) in eval mode")
    evals = as_list(out.get("eval"), in_eval, length=2)
    first, second = (as_array(v, in_eval, shape=logits.shape) for v in evals)
    if not np.allclose(first, second, rtol=1e-6, atol=1e-7):
        fail(
            _(
                "net(x) gave different logits on two calls with the same input and weights, in "
                "eval mode too: dropout is always on (F.dropout(x, p) drops whatever the mode, "
                "unless given training=self.training); the tutorial's forward has no dropout "
                "and nothing random"
            )
        )
    fail(
        _(
            "net(x) gave different logits on two calls with the same input and weights (in "
            "training mode; in eval mode they agree): is there a dropout?; the tutorial's "
            "forward has no dropout and nothing random"
        )
    )


@pytest.mark.tests_function("Net.forward")
@pytest.mark.points(7)
def test_logits_match_reference_forward(probe, rng):
    """With weights chosen by the grader, are the logits those of the tutorial's forward?"""
    x = rng.standard_normal((6, 3, 32, 32)).astype(np.float32)
    weights, state = _weights(1)
    out = as_dict(probe("forward", x=x, state_dict=weights), _("the forward's report"), ("logits",))
    logits = _logits(out, "net(x)", (6, 10))
    _expect_repeatable(out, logits)
    match = _matching_forward(logits, x, state)
    if match is None and (out.get("extra") or out.get("lacking")):
        fail(
            _(
                "the network's weights do not fit the tutorial's layers (lacking {lacking}, "
                "extra {extra}): keep __init__ as given",
                lacking=out.get("lacking"),
                extra=out.get("extra"),
            )
        )
    if match is not None and match[0] != "right":
        fail(_("the logits differ from the tutorial's forward: {mistake}", mistake=_(match[0])))
    _mistakes, run = _variants()
    with torch.no_grad():
        expected = run(_reference_net(state), torch.from_numpy(x)).double().numpy()
    expect_close(
        logits,
        expected,
        _("the logits"),
        rtol=1e-4,
        atol=1e-5,
        hint=_(
            "conv1 -> ReLU -> pool, conv2 -> ReLU -> pool, flatten, fc1 -> ReLU, fc2 -> ReLU, fc3"
        ),
    )


@pytest.mark.tests_function("Net.forward")
@pytest.mark.points(3)
def test_gradients_reach_every_layer(probe, rng):
    """Does backward from the logits reach every parameter (no detach, no no_grad)?

    Where the forward is the tutorial's (or a known mistake, charged by the logits test), the
    gradients are compared with that forward's own, computed here; otherwise each parameter
    must at least get a non-zero gradient.
    """
    x = rng.standard_normal((4, 3, 32, 32)).astype(np.float32)
    weights, state = _weights(2)
    report = _("the gradient report")
    out = as_dict(probe("gradients", x=x, state_dict=weights), report)
    logits = as_array(as_dict(out, report, ("logits", "grads"))["logits"],
                      "net(x)", shape=(4, 10))  # fmt: skip
    grads = as_dict(out["grads"], _("the gradients"), tuple(state))
    missing = [name for name in state if grads[name] is None or not np.any(np.asarray(grads[name]))]
    expect(
        not missing,
        _(
            "no gradient reaches {names}: the forward must not detach tensors, use .data or "
            "torch.no_grad()",
            names=", ".join(missing),
        ),
    )
    match = _matching_forward(logits, x, state)
    if match is None:
        return
    _mistakes, run = _variants()
    net = _reference_net(state)
    run(net, torch.from_numpy(x), **match[1]).sum().backward()
    for name, param in net.named_parameters():
        what = _("the gradient of {name}", name=name)
        got = as_array(grads[name], what, shape=tuple(param.shape))
        expect_close(
            got,
            param.grad.double().numpy(),
            what,
            rtol=1e-3,
            atol=1e-5,
            hint=_("the backward pass must follow the forward: no detach, .data or no_grad"),
        )
