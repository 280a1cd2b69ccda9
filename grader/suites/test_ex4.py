"""Hidden suite for ex4_net."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader import reference
from grader.checks import as_array, as_dict, as_state_dict, expect, expect_close, fail

EXERCISE = "ex4"
PARAMETERS = 62006


@pytest.mark.points(2)
def test_layers_are_the_tutorials(probe, rng):
    """Are the layers those of the stub (keys, shapes, 62,006 parameters), and do they run?"""
    probe("forward", x=rng.standard_normal((2, 3, 32, 32)).astype(np.float32), seed=0)
    out = as_dict(probe("describe"), "the network's description", ("shapes", "parameters"))
    want = {k: list(v.shape) for k, v in reference.load("ex4_net").Net().state_dict().items()}
    expect(
        out["shapes"] == want,
        f"the layers differ from the tutorial's: got {out['shapes']}, "
        f"expected {want}; keep __init__ as given",
    )
    expect(
        out["parameters"] == PARAMETERS, f"{out['parameters']} parameters; expected {PARAMETERS}"
    )


@pytest.mark.points(3)
def test_logits_shape_for_any_batch(probe, rng):
    """Does forward map (N, 3, 32, 32) to (N, 10) for N = 1, 3 and 16?"""
    for n in (1, 3, 16):
        out = probe("forward", x=rng.standard_normal((n, 3, 32, 32)).astype(np.float32), seed=0)
        out = as_dict(out, "the forward's report", ("logits",))
        as_array(out["logits"], f"net(x) for a batch of {n}", shape=(n, 10))


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
        "a ReLU is missing after conv1": dict(relu=(False, True, True, True)),
        "a ReLU is missing after conv2": dict(relu=(True, False, True, True)),
        "a ReLU is missing after fc1": dict(relu=(True, True, False, True)),
        "a ReLU is missing after fc2": dict(relu=(True, True, True, False)),
        "the flatten scrambles the features (flatten the (16, 5, 5) maps in that order: "
        "torch.flatten(x, 1))": dict(flatten="channels_last"),
        "the output goes through softmax; return the raw logits (CrossEntropyLoss applies "
        "log-softmax itself)": dict(softmax=True),
    }, run


@pytest.mark.points(7)
def test_logits_match_reference_forward(probe, rng):
    """With the network's own weights, are the logits those of the tutorial's forward?"""
    x = rng.standard_normal((6, 3, 32, 32)).astype(np.float32)
    out = as_dict(probe("forward", x=x, seed=1), "the forward's report", ("logits", "state_dict"))
    state = as_state_dict(out["state_dict"], "the network's state_dict")
    logits = as_array(out["logits"], "net(x)", shape=(6, 10))
    net = reference.load("ex4_net").Net()
    try:
        net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    except (RuntimeError, AttributeError, TypeError) as exc:
        fail(f"the network's weights do not fit the tutorial's layers: {exc}")
    variants, run = _variants()
    with torch.no_grad():
        expected = run(net, torch.from_numpy(x)).double().numpy()
        if not np.allclose(logits, expected, rtol=1e-4, atol=1e-5):
            for mistake, kwargs in variants.items():
                if np.allclose(
                    logits, run(net, torch.from_numpy(x), **kwargs).numpy(), rtol=1e-4, atol=1e-5
                ):
                    fail(f"the logits differ from the tutorial's forward: {mistake}")
    expect_close(
        logits,
        expected,
        "the logits",
        rtol=1e-4,
        atol=1e-5,
        hint="conv1 -> ReLU -> pool, conv2 -> ReLU -> pool, flatten, fc1 -> ReLU, fc2 -> ReLU, fc3",
    )


@pytest.mark.points(3)
def test_gradients_reach_every_layer(probe, rng):
    """Does backward from the logits reach every parameter (no detach, no no_grad)?"""
    x = rng.standard_normal((4, 3, 32, 32)).astype(np.float32)
    reached = as_dict(probe("gradient_reach", x=x, seed=2), "the gradient report")
    missing = [name for name, ok in reached.items() if ok is not True]
    expect(
        not missing,
        f"no gradient reaches {', '.join(missing)}: the forward must not "
        "detach tensors, use .data or torch.no_grad()",
    )
