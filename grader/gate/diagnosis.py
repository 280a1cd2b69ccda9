"""The accuracy gate's time limit and the words of its verdicts, from the trial's evidence.

Helpers of ``test_ex5.py``'s gate test (trusted side): the normalisation the trained network
is evaluated with, and what a slow or inaccurate run shows (the limit itself is
:func:`grader.gate.rules.time_limit`).
"""

from __future__ import annotations

import math

import numpy as np

from grader.gate import trial as gate_trial
from grader.kit import CLASS_NAMES

COUNTED = "the time counted runs from the import of your ex5_train to the end of training"


def eval_normalisation(prepared: dict) -> tuple[list, list, str]:
    """What the eval transform applies, else (with a note) channel_stats' numbers."""
    measured = prepared.get("eval")
    if isinstance(measured, dict) and "mean" in measured and "std" in measured:
        return measured["mean"], measured["std"], ""
    why = measured.get("error") if isinstance(measured, dict) else None
    note = f" ({why}: evaluated with channel_stats' mean and std instead)" if why else ""
    return prepared.get("mean"), prepared.get("std"), note


def time_feedback(trial, limit: gate_trial.Limit, metrics: dict, device: str) -> str:
    """What a gate run over its limit is told: the ratio (or seconds), and the phase that was
    running when it was stopped."""
    during = (
        f", stopped while {gate_trial.PHASES[trial.phase]}"
        if trial.stopped and trial.phase in gate_trial.PHASES
        else ""
    )
    if metrics.get("time_factor"):
        kind = "CPU time" if limit.basis == "cpu" else "time"
        cost = trial.cost(limit.basis)
        ratio = f"{cost / metrics['reference_s']:.1f}x" if cost is not None else "more than"
        how = "was stopped at" if trial.stopped else "took"
        return (
            f"your pipeline {how} {ratio} the reference's {kind} on this machine (limit "
            f"{metrics['time_factor']:g}x){during}; {COUNTED}. The reference's make_loaders, "
            "build_transform and train_one_epoch do no work per sample in Python beyond the "
            "transforms: compare yours"
        )
    return (
        f"your pipeline took {trial.wall_s:.3g} s, over the course's limit of "
        f"{limit.seconds:g} s on {device}{during}; {COUNTED}"
    )


def accuracy_diagnosis(scores: dict, prepared: dict, trained: dict) -> str:
    """What the evidence says about a low accuracy (else what to check)."""
    found = []
    train, test = prepared.get("train"), prepared.get("eval")
    if isinstance(train, dict) and isinstance(test, dict) and "mean" in train and "mean" in test:
        same = np.allclose(train["mean"], test["mean"], atol=1e-3) and np.allclose(
            train["std"], test["std"], atol=1e-3
        )
        if not same:
            found.append(
                "your training and evaluation transforms normalise differently (train mean "
                f"{np.round(train['mean'], 3).tolist()}, std {np.round(train['std'], 3).tolist()}"
                f"; eval mean {np.round(test['mean'], 3).tolist()}, std "
                f"{np.round(test['std'], 3).tolist()}): the network sees other numbers at test "
                "time than it learned from"
            )
    confusion = np.asarray(scores["confusion"], dtype=float)
    share = confusion.sum(axis=0) / max(1.0, confusion.sum())
    if share.max() > 0.5:
        name = CLASS_NAMES[int(share.argmax())]
        found.append(
            f"the network answers '{name}' for {share.max():.0%} of the test images: a "
            "training loader that keeps the data set's order (sorted by class) ends on one "
            "class; updates that never happen or pile up (zero_grad, step) learn nothing"
        )
    losses = [v for v in trained.get("epoch_losses", []) if isinstance(v, int | float)]
    if len(losses) >= 2 and all(math.isfinite(v) for v in losses) and losses[-1] > 0.95 * losses[0]:
        found.append(
            f"the training loss hardly went down ({losses[0]:.3f} to {losses[-1]:.3f}): "
            "check that the gradients are zeroed and optimizer.step() comes after backward()"
        )
    if found:
        return "What the run shows: " + "; ".join(found) + "."
    return (
        "Check the training pipeline against the exercises: gradients zeroed every batch, "
        "the step after backward, a shuffled training loader, the same Normalize for "
        "training and evaluation, and the forward of ex4."
    )
