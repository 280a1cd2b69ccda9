"""The accuracy gate's time limit and the words of its verdicts, from the trial's evidence.

Helpers of ``test_ex5.py``'s gate test (trusted side): the normalisation the trained network
is evaluated with, and what a slow or inaccurate run shows (the limit itself is
:func:`grader.gate.rules.time_limit`).
"""

from __future__ import annotations

import math

import numpy as np

from grader.gate import trial as gate_trial
from grader.i18n import N_, _
from grader.kit import CLASS_NAMES


def eval_normalisation(prepared: dict) -> tuple[list, list, str]:
    """What the eval transform applies, else (with a note) channel_stats' numbers."""
    measured = prepared.get("eval")
    if isinstance(measured, dict) and "mean" in measured and "std" in measured:
        return measured["mean"], measured["std"], ""
    why = measured.get("error") if isinstance(measured, dict) else None
    note = _(" ({why}: evaluated with channel_stats' mean and std instead)", why=why) if why else ""
    return prepared.get("mean"), prepared.get("std"), note


def time_feedback(trial, limit: gate_trial.Limit, metrics: dict, device: str) -> str:
    """What a gate run over its limit is told: the ratio (or seconds), and the phase that was
    running when it was stopped."""
    during = (
        _(", stopped while {phase}", phase=_(gate_trial.PHASES[trial.phase]))
        if trial.stopped and trial.phase in gate_trial.PHASES
        else ""
    )
    if metrics.get("time_factor"):
        cost = trial.cost(limit.basis)
        said = {"factor": metrics["time_factor"], "during": during}
        if cost is None:
            said["ratio"] = _("more than")
        else:
            said["ratio"] = "{:.1f}x".format(cost / metrics["reference_s"])
        cpu = limit.basis == "cpu"
        if trial.stopped and cpu:
            message = N_(
                "your pipeline was stopped at {ratio} the reference's CPU time on this machine "
                "(limit {factor:g}x){during}; the time counted runs from the import of your "
                "ex5_train to the end of training. The reference's make_loaders, build_transform "
                "and train_one_epoch do no work per sample in Python beyond the transforms: "
                "compare yours"
            )
        elif trial.stopped:
            message = N_(
                "your pipeline was stopped at {ratio} the reference's time on this machine "
                "(limit {factor:g}x){during}; the time counted runs from the import of your "
                "ex5_train to the end of training. The reference's make_loaders, build_transform "
                "and train_one_epoch do no work per sample in Python beyond the transforms: "
                "compare yours"
            )
        elif cpu:
            message = N_(
                "your pipeline took {ratio} the reference's CPU time on this machine (limit "
                "{factor:g}x){during}; the time counted runs from the import of your ex5_train "
                "to the end of training. The reference's make_loaders, build_transform and "
                "train_one_epoch do no work per sample in Python beyond the transforms: compare "
                "yours"
            )
        else:
            message = N_(
                "your pipeline took {ratio} the reference's time on this machine (limit "
                "{factor:g}x){during}; the time counted runs from the import of your ex5_train "
                "to the end of training. The reference's make_loaders, build_transform and "
                "train_one_epoch do no work per sample in Python beyond the transforms: compare "
                "yours"
            )
        return _(message, **said)
    return _(
        "your pipeline took {seconds:.3g} s, over the course's limit of {limit:g} s on "
        "{device}{during}; the time counted runs from the import of your ex5_train to the end "
        "of training",
        seconds=trial.wall_s,
        limit=limit.seconds,
        device=device,
        during=during,
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
                _(
                    "your training and evaluation transforms normalise differently (train mean "
                    "{train_mean}, std {train_std}; eval mean {eval_mean}, std {eval_std}): the "
                    "network sees other numbers at test time than it learned from",
                    train_mean=np.round(train["mean"], 3).tolist(),
                    train_std=np.round(train["std"], 3).tolist(),
                    eval_mean=np.round(test["mean"], 3).tolist(),
                    eval_std=np.round(test["std"], 3).tolist(),
                )
            )
    confusion = np.asarray(scores["confusion"], dtype=float)
    share = confusion.sum(axis=0) / max(1.0, confusion.sum())
    if share.max() > 0.5:
        found.append(
            _(
                "the network answers '{name}' for {share:.0%} of the test images: a training "
                "loader that keeps the data set's order (sorted by class) ends on one class; "
                "updates that never happen or pile up (zero_grad, step) learn nothing",
                name=CLASS_NAMES[int(share.argmax())],
                share=share.max(),
            )
        )
    losses = [v for v in trained.get("epoch_losses", []) if isinstance(v, int | float)]
    if len(losses) >= 2 and all(math.isfinite(v) for v in losses) and losses[-1] > 0.95 * losses[0]:
        found.append(
            _(
                "the training loss hardly went down ({first:.3f} to {last:.3f}): check that the "
                "gradients are zeroed and optimizer.step() comes after backward()",
                first=losses[0],
                last=losses[-1],
            )
        )
    if found:
        return _("What the run shows: {findings}.", findings=_("; ").join(found))
    return _(
        "Check the training pipeline against the exercises: gradients zeroed every batch, "
        "the step after backward, a shuffled training loader, the same Normalize for "
        "training and evaluation, and the forward of ex4."
    )
