"""Fixture submissions against the hidden suites.

Every fixture in ``tests/fixtures/submissions/<name>/`` holds only the exercise file(s) it
changes; the harness stages it as a copy of ``solutions/`` overlaid with those files, in a
temporary folder. Three kinds, named by their expected outcome:

- ``bug_*``: one natural student mistake in one function; exactly the tests named in
  :data:`BUGS` fail, with feedback that names the mistake, and nothing else loses points. One
  mistake costs once: every failing test is one of that function's (its
  ``@pytest.mark.tests_function`` marker says so), whatever calls it, and its feedback names
  the function.
- ``correct_*``: a correct solution written differently; full marks wherever it differs.
- ``hostile_*``: an ex1 that exits or monkeypatches at import; 0 for ex1, full marks elsewhere.

For speed, all fixtures that touch one exercise are graded in one ``grader run`` of a folder of
submissions (``--exercises exN``, with ex5 too for ex4 since ex5 imports ex4's Net), and the
batches run side by side as subprocesses. The default run grades :func:`sampled`: for every
pointed hidden test the first bug fixture in the table that fails it (so every check still
meets a submission that must fail it), the bugs the diagnoses below name, and every correct
and hostile fixture; the other bug fixtures are marked slow and graded with ``-m slow``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import fixture_edits
import pytest
from conftest import FIXTURES, REPO, describe, fixture_submission, full_marks

from grader.grading import dependencies
from grader.submissions.notebooks import notebook_to_source

SOLUTIONS = REPO / "solutions"
SUITES = REPO / "grader" / "suites"
MODULES = {
    "ex1": "ex1_gradients.py",
    "ex2": "ex2_autograd.py",
    "ex3": "ex3_data.py",
    "ex4": "ex4_net.py",
    "ex5": "ex5_train.py",
}
GATE = "test_accuracy_gate"
RUN_TIMEOUT_S = 480
"""How long the batches graded side by side may take, at the least; where they hold more than
48 submissions in all, 10 s for each (they share the machine's cores: the whole corpus, in
the slow run, is about 135)."""
pytestmark = pytest.mark.timeout(3600)
"""The first test to ask for the graded batches waits for all of them (the whole corpus in the
slow run): more than pytest-timeout's default for one test."""


@dataclass(frozen=True)
class Bug:
    """A buggy fixture: ``fails`` maps each test that must fail to a word its feedback holds;
    ``function`` is the function the mistake is in (a tuple where one mistake is written in
    two, said beside it).

    Every other pointed test of ``exercise`` must pass, and every failing one must be a test of
    ``function`` by its marker: a mistake costs nothing in the tests of the functions that
    call the mistaken one (a wrong ``sse_grads`` does not spoil ``fit_sine``'s tests).
    """

    fixture: str
    exercise: str
    fails: dict[str, str] = field(hash=False)
    function: str | tuple[str, ...] = ""

    @property
    def functions(self) -> tuple[str, ...]:
        return (self.function,) if isinstance(self.function, str) else tuple(self.function)


BUGS = [
    # ex1: gradients by hand
    Bug(
        "bug_predict_coeffs_reversed",
        "ex1",
        {"test_predict_is_the_cubic": "in that order"},
        function="predict",
    ),
    Bug(
        "bug_sse_loss_mean",
        "ex1",
        {"test_sse_loss_is_sum_of_squares": "mean of the squared errors"},
        function="sse_loss",
    ),
    Bug(
        "bug_sse_grads_wrong_sign",
        "ex1",
        {"test_sse_grads_match_finite_differences": "the sign is wrong"},
        function="sse_grads",
    ),
    Bug(
        "bug_sse_grads_missing_factor_2",
        "ex1",
        {"test_sse_grads_match_finite_differences": "a factor 2 is missing"},
        function="sse_grads",
    ),
    Bug(
        "bug_sgd_step_in_place",
        "ex1",
        {"test_sgd_step_returns_new_array": "in-place update"},
        function="sgd_step",
    ),
    Bug(
        "bug_fit_sine_records_after_update",
        "ex1",
        {"test_fit_sine_records_loss_every_100_steps": "before that step's update"},
        function="fit_sine",
    ),
    Bug(
        "bug_fit_sine_wrong_seed",
        "ex1",
        {
            "test_fit_sine_records_loss_every_100_steps": "default_rng(seed)",
            "test_fit_sine_matches_reference": "coefficients",
        },
        function="fit_sine",
    ),
    Bug(
        "bug_fit_sine_discards_step",
        "ex1",
        {"test_fit_sine_matches_reference": "sgd_step"},
        function="fit_sine",
    ),
    # ex2: autograd
    Bug(
        "bug_chain_rule_no_product_rule",
        "ex2",
        {"test_chain_rule": "product rule"},
        function="chain_rule",
    ),
    Bug(
        "bug_weighted_backward_ignores_weights",
        "ex2",
        {"test_weighted_backward_matches_finite_differences": "ignores the weights"},
        function="weighted_backward",
    ),
    Bug(
        "bug_weighted_backward_modifies_x",
        "ex2",
        {"test_weighted_backward_leaves_input_alone": "changed the caller's x"},
        function="weighted_backward",
    ),
    Bug(
        "bug_derivatives_second_is_first",
        "ex2",
        {"test_derivatives_second": "create_graph"},
        function="derivatives",
    ),
    Bug(
        "bug_derivatives_no_create_graph",
        "ex2",
        {
            "test_derivatives_first": "does not require grad",
            "test_derivatives_second": "does not require grad",
        },
        function="derivatives",
    ),
    Bug(
        "bug_legendre_forward_precedence",
        "ex2",
        {"test_legendre_forward": "P3(x)"},
        function="LegendreP3.forward",
    ),
    Bug(
        "bug_legendre_backward_no_grad_output",
        "ex2",
        {"test_legendre_backward_matches_finite_differences": "grad_output"},
        function="LegendreP3.backward",
    ),
    Bug(
        "bug_train_step_grad_not_cleared",
        "ex2",
        {"test_train_step_clears_grad": "coeffs.grad still holds the gradient"},
        function="train_step",
    ),
    Bug(
        "bug_train_step_rebinds_coeffs",
        "ex2",
        {"test_train_step_one_step": "in place"},
        function="train_step",
    ),
    Bug(
        "bug_fit_sine_autograd_seed_ignored",
        "ex2",
        {"test_fit_sine_autograd_matches_reference": "manual_seed(seed)"},
        function="fit_sine_autograd",
    ),
    # ex3: the data pipeline
    # a tensor that gives what the array gives passes the tensor test: the statistics
    # themselves are the array test's to charge
    Bug(
        "bug_channel_stats_0_255",
        "ex3",
        {"test_channel_stats_of_array": "0-255 scale"},
        function="channel_stats",
    ),
    Bug(
        "bug_channel_stats_wrong_axis",
        "ex3",
        {"test_channel_stats_of_array": "expected shape (3,)"},
        function="channel_stats",
    ),
    Bug(
        "bug_channel_stats_array_only",
        "ex3",
        {"test_channel_stats_of_tensor": "astype"},
        function="channel_stats",
    ),
    Bug(
        "bug_channel_stats_one_mean_for_all",
        "ex3",
        {"test_channel_stats_of_array": "one mean per channel"},
        function="channel_stats",
    ),
    Bug(
        "bug_no_normalize",
        "ex3",
        {"test_eval_transform_normalises": "add Normalize(mean, std)"},
        function="build_transform",
    ),
    Bug(
        "bug_no_random_flip",
        "ex3",
        {"test_train_transform_crops_and_flips": "add RandomHorizontalFlip()"},
        function="build_transform",
    ),
    Bug(
        "bug_crop_padding_too_small",
        "ex3",
        {"test_train_transform_crops_and_flips": "RandomCrop(32, padding=4)"},
        function="build_transform",
    ),
    Bug(
        "bug_no_random_crop",
        "ex3",
        {"test_train_transform_crops_at_random_places": "add RandomCrop(32, padding=4)"},
        function="build_transform",
    ),
    Bug(
        "bug_train_loader_not_shuffled",
        "ex3",
        {"test_train_loader_reshuffles": "shuffle=True"},
        function="make_loaders",
    ),
    Bug(
        "bug_test_loader_shuffled",
        "ex3",
        {"test_test_loader_keeps_order": "shuffle=False"},
        function="make_loaders",
    ),
    Bug(
        "bug_test_loader_drop_last",
        "ex3",
        {"test_test_loader_keeps_order": "drop_last=False"},
        function="make_loaders",
    ),
    # ex4: the network (graded with ex5, which imports ex4's Net)
    Bug(
        "bug_missing_relu",
        "ex4",
        {"test_logits_match_reference_forward": "a ReLU is missing after conv2"},
        function="Net.forward",
    ),
    Bug(
        "bug_flatten_channels_last",
        "ex4",
        {"test_logits_match_reference_forward": "the flatten scrambles the features"},
        function="Net.forward",
    ),
    Bug(
        "bug_flatten_whole_batch",
        "ex4",
        {
            "test_logits_shape_for_any_batch": "expected shape (1, 10)",
            "test_logits_match_reference_forward": "shapes cannot be multiplied",
            "test_gradients_reach_every_layer": "shapes cannot be multiplied",
        },
        function="Net.forward",
    ),
    Bug(
        "bug_squeeze_logits",
        "ex4",
        {"test_logits_shape_for_any_batch": "expected shape (1, 10)"},
        function="Net.forward",
    ),
    Bug(
        "bug_softmax_output",
        "ex4",
        {"test_logits_match_reference_forward": "softmax"},
        function="Net.forward",
    ),
    Bug(
        "bug_detach_in_forward",
        "ex4",
        {"test_gradients_reach_every_layer": "conv1.weight"},
        function="Net.forward",
    ),
    # one change written in two methods: a batch norm made in __init__ and applied in forward
    Bug(
        "bug_extra_layer_in_init",
        "ex4",
        {
            "test_layers_are_the_tutorials": "keep __init__ as given",
            "test_logits_match_reference_forward": "keep __init__ as given",
        },
        function=("Net.__init__", "Net.forward"),
    ),
    # ex5: training and evaluation
    Bug(
        "bug_set_seed_only_torch",
        "ex5",
        {"test_set_seed_repeats": "seed numpy too"},
        function="set_seed",
    ),
    Bug(
        "bug_no_zero_grad",
        "ex5",
        {"test_train_one_epoch_updates_weights": "optimizer.zero_grad()"},
        function="train_one_epoch",
    ),
    Bug(
        "bug_step_before_backward",
        "ex5",
        {"test_train_one_epoch_updates_weights": "did not change"},
        function="train_one_epoch",
    ),
    Bug(
        "bug_no_optimizer_step",
        "ex5",
        {"test_train_one_epoch_updates_weights": "did not change"},
        function="train_one_epoch",
    ),
    Bug(
        "bug_mean_of_batch_means",
        "ex5",
        {"test_train_one_epoch_mean_loss": "weight each batch's loss by its number of samples"},
        function="train_one_epoch",
    ),
    Bug(
        "bug_predict_no_eval",
        "ex5",
        {"test_predict_in_eval_mode_without_graph": "net.eval()"},
        function="predict",
    ),
    Bug(
        "bug_predict_no_grad",
        "ex5",
        {"test_predict_in_eval_mode_without_graph": "torch.no_grad()"},
        function="predict",
    ),
    Bug(
        "bug_accuracy_percentage",
        "ex5",
        {"test_overall_accuracy": "percentage"},
        function="overall_accuracy",
    ),
    Bug(
        "bug_accuracy_counts_predictions_below_label",
        "ex5",
        {"test_overall_accuracy": "(predicted == labels)"},
        function="overall_accuracy",
    ),
    Bug(
        "bug_per_class_divided_by_total",
        "ex5",
        {"test_per_class_accuracy": "divided by the total number of samples"},
        function="per_class_accuracy",
    ),
    Bug(
        "bug_per_class_no_nan",
        "ex5",
        {"test_per_class_accuracy": "should be NaN"},
        function="per_class_accuracy",
    ),
    Bug(
        "bug_load_model_without_state_dict",
        "ex5",
        {"test_save_and_load_round_trip": "differs after save_model then load_model"},
        function="load_model",
    ),
    # right, and too slow: costs nothing here, fails the gate on time (tests/test_gate.py, slow)
    Bug("bug_transform_pixel_loop", "ex3", {}, function="build_transform"),
    # code as students write it from the tutorials
    Bug(
        "bug_ex3_fixed_normalize_passes_gate",
        "ex3",
        {"test_eval_transform_normalises": "normalised with mean (0.5, 0.5, 0.5)"},
        function="build_transform",
    ),
    Bug(
        "bug_ex2_train_step_without_backward",
        "ex2",
        {"test_train_step_one_step": "call loss.backward()"},
        function="train_step",
    ),
    Bug(
        "bug_ex5_no_return_passes_gate",
        "ex5",
        {"test_train_one_epoch_mean_loss": "is a `return` missing?"},
        function="train_one_epoch",
    ),
    Bug(
        "bug_ex1_fit_sine_in_torch",
        "ex1",
        {"test_fit_sine_matches_reference": "NumPy only"},
        function="fit_sine",
    ),
    Bug(
        "bug_fit_sine_default_steps",
        "ex1",
        {"test_fit_sine_defaults": "keep the defaults"},
        function="fit_sine",
    ),
    Bug(
        "bug_fit_sine_default_steps_one_short",
        "ex1",
        {"test_fit_sine_defaults": "keep the defaults"},
        function="fit_sine",
    ),
    Bug(
        "bug_build_transform_default_train",
        "ex3",
        {"test_eval_transform_normalises": "default"},
        function="build_transform",
    ),
    Bug(
        "bug_train_loader_ignores_num_workers",
        "ex3",
        {"test_train_loader_reshuffles": "pass batch_size and num_workers"},
        function="make_loaders",
    ),
    Bug(
        "bug_train_one_epoch_no_train_mode",
        "ex5",
        {"test_train_one_epoch_sets_train_mode": "net.train()"},
        function="train_one_epoch",
    ),
    Bug(
        "bug_per_class_default_classes",
        "ex5",
        {"test_per_class_accuracy": "num_classes=10"},
        function="per_class_accuracy",
    ),
    Bug(
        "bug_load_model_weights_only_false",
        "ex5",
        {"test_save_and_load_round_trip": "weights_only=True"},
        function="load_model",
    ),
    Bug(
        "bug_fit_sine_autograd_default_lr",
        "ex2",
        {"test_fit_sine_autograd_matches_reference": "keep the defaults"},
        function="fit_sine_autograd",
    ),
    Bug(
        "bug_fit_sine_autograd_default_steps_one_short",
        "ex2",
        {"test_fit_sine_autograd_matches_reference": "keep the defaults"},
        function="fit_sine_autograd",
    ),
    Bug(
        "bug_normalize_only_in_training",
        "ex3",
        {"test_eval_transform_normalises": "add Normalize(mean, std)"},
        function="build_transform",
    ),
    Bug(
        "bug_per_class_tutorial_range4",
        "ex5",
        {"test_per_class_accuracy": "only the first 4 samples were counted"},
        function="per_class_accuracy",
    ),
    Bug(
        "bug_per_class_percentages",
        "ex5",
        {"test_per_class_accuracy": "percentages"},
        function="per_class_accuracy",
    ),
    Bug(
        "bug_per_class_zero_division",
        "ex5",
        {"test_per_class_accuracy": "class 4 has no samples, and its accuracy must be NaN"},
        function="per_class_accuracy",
    ),
    Bug(
        "bug_train_step_other_model",
        "ex2",
        {"test_train_step_one_step": "the returned loss"},
        function="train_step",
    ),
    Bug(
        "bug_fit_sine_autograd_records_at_step_1",
        "ex2",
        {"test_fit_sine_autograd_matches_reference": "losses of steps 1, 101, 201"},
        function="fit_sine_autograd",
    ),
    # one mistake, in a function others call: charged in that function's tests only
    Bug(
        "bug_predict_polyval_not_reversed",
        "ex1",
        {"test_predict_is_the_cubic": "in that order"},
        function="predict",
    ),
    Bug(
        "bug_sgd_step_forgets_lr",
        "ex1",
        {"test_sgd_step_returns_new_array": "coeffs - lr * grads"},
        function="sgd_step",
    ),
    Bug(
        "bug_sse_grads_mean",
        "ex1",
        {"test_sse_grads_match_finite_differences": "finite differences give"},
        function="sse_grads",
    ),
    Bug(
        "bug_train_step_mse",
        "ex2",
        {"test_train_step_one_step": "the mean of the squared errors"},
        function="train_step",
    ),
    Bug(
        "bug_zero_grad_once_per_epoch",
        "ex5",
        {"test_train_one_epoch_updates_weights": "optimizer.zero_grad() for every batch"},
        function="train_one_epoch",
    ),
    Bug(
        "bug_conv1_one_channel",
        "ex4",
        {"test_layers_are_the_tutorials": "keep __init__ as given"},
        function="Net.__init__",
    ),
    # channel_stats as the forums compute it: each recipe named by what the grader saw
    Bug(
        "bug_channel_stats_per_image_std",
        "ex3",
        {"test_channel_stats_of_array": "that is the mean of image stds"},
        function="channel_stats",
    ),
    Bug(
        "bug_channel_stats_per_image_std_ddof0",
        "ex3",
        {"test_channel_stats_of_array": "leaves out how much the images differ"},
        function="channel_stats",
    ),
    Bug(
        "bug_channel_stats_mean_of_batch_means",
        "ex3",
        {"test_channel_stats_of_array": "mean of batch means over batches of 64 images"},
        function="channel_stats",
    ),
    Bug(
        "bug_channel_stats_std_of_image_means",
        "ex3",
        {"test_channel_stats_of_array": "how much the image averages vary"},
        function="channel_stats",
    ),
    Bug(
        "bug_channel_stats_of_normalised_images",
        "ex3",
        {"test_channel_stats_of_array": "after Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))"},
        function="channel_stats",
    ),
    Bug(
        "bug_channel_stats_std_0_255",
        "ex3",
        {"test_channel_stats_of_array": "std is on the 0-255"},
        function="channel_stats",
    ),
    # the hints say what the grader saw
    Bug(
        "bug_blitz_forward_dropout_always_on",
        "ex4",
        {"test_logits_match_reference_forward": "in eval mode too: dropout is always on"},
        function="Net.forward",
    ),
    Bug(
        "bug_blitz_predict_last_batch",
        "ex5",
        {"test_predict_in_eval_mode_without_graph": "collect every batch"},
        function="predict",
    ),
    Bug(
        "bug_blitz_train_without_train_mode",
        "ex5",
        {"test_train_one_epoch_sets_train_mode": "net.train()"},
        function="train_one_epoch",
    ),
    Bug(
        "bug_blitz_transform_fixed_normalize",
        "ex3",
        {"test_eval_transform_normalises": "not with the mean (0.49, 0.48, 0.45) and std"},
        function="build_transform",
    ),
    Bug(
        "bug_forum_channel_stats_loader",
        "ex3",
        {"test_channel_stats_of_array": "that is the mean of image stds"},
        function="channel_stats",
    ),
    # whole files as students write them, one mistake in a function the others call: its
    # callers (fit_sine, fit_sine_autograd, Net.forward, ex5 beside ex4) keep their points
    Bug(
        "bug_warmup_predict_polyval_not_reversed",
        "ex1",
        {"test_predict_is_the_cubic": "in that order"},
        function="predict",
    ),
    Bug(
        "bug_warmup_sse_grads_no_factor_2",
        "ex1",
        {"test_sse_grads_match_finite_differences": "a factor 2 is missing"},
        function="sse_grads",
    ),
    Bug(
        "bug_examples_train_step_mse_mean",
        "ex2",
        {"test_train_step_one_step": "the mean of the squared errors"},
        function="train_step",
    ),
    Bug(
        "bug_blitz_zero_grad_before_loop",
        "ex5",
        {"test_train_one_epoch_updates_weights": "optimizer.zero_grad() for every batch"},
        function="train_one_epoch",
    ),
    Bug(
        "bug_blitz_fc1_128_units",
        "ex4",
        {"test_layers_are_the_tutorials": "keep __init__ as given"},
        function="Net.__init__",
    ),
]

CORRECT = {
    "correct_alt_flatten": "ex4 flattens with x.view(x.size(0), -1)",
    "correct_alt_flatten_module": "ex4 flattens with an nn.Flatten() added in __init__",
    "correct_tutorial_view": "ex4 as the tutorial: F.max_pool2d, torch.relu, x.view(-1, 16*5*5)",
    "correct_alt_loops": "vectorised ex1 (np.polyval, np.stack, sse_loss as np.float64), "
    "channel_stats in NumPy (ddof=0), per_class_accuracy as a Python loop",
    "correct_zeroed_grads": "train_step zeroes coeffs.grad (sub_, zero_); net.zero_grad()",
    "correct_zero_grad_keep_tensors": "optimizer.zero_grad(set_to_none=False)",
    "correct_global_seed": "fit_sine_autograd seeds the global generator (same numbers)",
    "correct_float32_autograd": "chain_rule and derivatives in float32, float() not .item()",
    "correct_train_drop_last_flip_first": "flip before crop, train loader drop_last=True, "
    "test loader with shuffle left at its default",
    "correct_inference_mode": "predict under torch.inference_mode(); loss / len(dataset)",
    "correct_tutorial_style": "torch.tensor(x, requires_grad=True), torch.max(outputs.data, 1), "
    "cuda.manual_seed_all, map_location, accuracy from counts",
    "correct_tutorial_print_cadence": "losses recorded at steps 99, 199, ... (ex1 and ex2)",
    "correct_notebooks_with_tutorial_cells": "ex3 and ex5 as notebooks that keep the tutorial's "
    "plotting, download and training cells",
    "correct_independent_loops": "every function written anew, with explicit loops (also "
    "grader similarity's independent solutions)",
    "correct_independent_compact": "every function written anew, compactly: polyval, vander, "
    "a confusion matrix (also grader similarity's independent solutions)",
    "correct_float32_channel_stats": "channel_stats in float32 (np.asarray(images, np.float32) "
    "/ 255), NumPy summing pixel by pixel",
    "correct_float32_ex1": "ex1 in float32 throughout: predict, sse_loss, sse_grads and "
    "sgd_step cast what they are given, fit_sine runs in float32",
    "correct_float32_ex2": "weighted_backward, derivatives and LegendreP3 in float32",
    # written the way students write, from public tutorials and forum answers
    "correct_examples_numpy_warmup": "ex1 after Learning PyTorch with Examples' NumPy warm-up "
    "(grad_y_pred, losses printed at t % 100 == 99, np.square(...).sum() as a NumPy float)",
    "correct_examples_tensors_autograd": "ex2 after its Tensors-and-autograd and "
    "LegendrePolynomial3 sections: dtype = torch.float throughout, a.grad = None",
    "correct_so_channel_stats_numpy": "ex3 with Stack Overflow's x.mean(axis=(0, 1, 2)) / 255 "
    "(NumPy scalars in the tuples), the tutorial's transforms built in a list",
    "correct_colab_data_float32": "ex3 from a Colab notebook: astype('float32') / 255. stats, "
    "a printed line, drop_last=True on the train loader",
    "correct_colab_train_eval": "ex5 from a Colab notebook: cudnn flags in set_seed, "
    "@torch.no_grad() predict through lists, a confusion matrix for per-class accuracy",
}

HOSTILE = {
    "hostile_monkeypatch_ex1": "",
    "hostile_os_exit_at_import": "could not be imported",
    "hostile_sys_exit_in_function": "sys.exit(0)",
}


# -- staging and grading ---------------------------------------------------------------------


def fixture_files(name: str) -> dict[str, Path]:
    """Exercise key -> the fixture's edits (or file) for it."""
    files = fixture_edits.fixture_files(name)
    return {ex: files[module.removesuffix(".py")] for ex, module in MODULES.items()
            if module.removesuffix(".py") in files}  # fmt: skip


def batches() -> dict[str, tuple[list[str], str]]:
    """Batch name -> (fixtures graded in it, ``--exercises`` value)."""
    plan = {}
    for ex in MODULES:
        names = sorted(
            [b.fixture for b in BUGS if b.exercise == ex]
            + [name for name in CORRECT if ex in fixture_files(name)]
        )
        plan[ex] = (names, "ex4,ex5" if ex == "ex4" else ex)
    plan["hostile"] = (sorted(HOSTILE), ",".join(MODULES))
    return plan


DIAGNOSED = (
    "bug_no_optimizer_step",
    "bug_train_step_rebinds_coeffs",
    "bug_train_step_other_model",
)
"""Bug fixtures whose feedback the diagnoses below look at."""


def sampled() -> set[str]:
    """The bug fixtures the default run grades: for each pointed test, the first bug in the
    table that fails it, and those in :data:`DIAGNOSED`."""
    chosen = set(DIAGNOSED)
    for ex, names in suite_points().items():
        for name in sorted(names):
            chosen.update(
                next(([b.fixture] for b in BUGS if b.exercise == ex and name in b.fails), [])
            )
    return chosen


def bug_params() -> list:
    """BUGS as parameters, those outside :func:`sampled` marked slow."""
    sample = sampled()
    return [
        pytest.param(b, id=b.fixture, marks=() if b.fixture in sample else pytest.mark.slow)
        for b in BUGS
    ]


@dataclass
class BatchRun:
    returncode: int
    stderr: str
    results: dict[str, dict]
    folder: Path


@pytest.fixture(scope="module")
def graded(request, tmp_path_factory) -> dict[str, BatchRun]:
    """Stage every batch and grade them all side by side (one subprocess per batch): the whole
    corpus where a slow test of this module is selected, else the default run's sample."""
    everything = any(
        item.get_closest_marker("slow") and getattr(item, "module", None) is request.module
        for item in request.session.items
    )
    sample = sampled()
    root = tmp_path_factory.mktemp("fixture-batches")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    running = {}
    total = 0
    for batch, (names, exercises) in batches().items():
        folder = root / batch
        names = [n for n in names if everything or not n.startswith("bug_") or n in sample]
        total += len(names)
        for name in names:
            fixture_submission(name, folder / name)
        command = [sys.executable, "-m", "grader.cli", "run", str(folder), "--no-gate"]
        command += ["--format", "json", "--exercises", exercises]
        running[batch] = (
            folder,
            subprocess.Popen(
                command,
                cwd=root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
    timeout = max(RUN_TIMEOUT_S, 10 * total)
    deadline = time.monotonic() + timeout
    runs = {}
    for batch, (folder, process) in running.items():
        try:
            out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for _, other in running.values():
                other.kill()
            pytest.fail(f"grading batch {batch} took over {timeout} s")
        results = [json.loads(line) for line in out.splitlines() if line.strip()]
        runs[batch] = BatchRun(
            process.returncode, err, {r["submission"]: r for r in results}, folder
        )
    return runs


def result_of(graded, batch: str, name: str) -> dict:
    run = graded[batch]
    assert run.returncode == 0, run.stderr[-3000:]
    assert name in run.results, f"no result for {name} in batch {batch}:\n{run.stderr[-3000:]}"
    return run.results[name]


def pointed_tests(result: dict, exercise: str) -> dict[str, dict]:
    return {
        t["name"]: t
        for t in result["tests"]
        if t["exercise"] == exercise and t["max_score"] and t["name"] != GATE
    }


def suite_points() -> dict[str, set[str]]:
    """Exercise -> the names of its hidden tests that carry points (the gate aside)."""
    found = {}
    for ex in MODULES:
        tree = ast.parse((SUITES / f"test_{ex}.py").read_text())
        found[ex] = {
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef)
            and node.name.startswith("test_")
            and node.name != GATE
            and any(
                isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "points"
                for d in node.decorator_list
            )
        }
    return found


# -- the tables themselves -------------------------------------------------------------------


def test_every_pointed_test_has_a_bug_fixture_that_fails_it():
    """Is each pointed hidden test (the gate aside) named as failing by at least one bug?"""
    covered = {(b.exercise, name) for b in BUGS for name in b.fails}
    missing = [
        f"{ex}::{name}"
        for ex, names in suite_points().items()
        for name in sorted(names)
        if (ex, name) not in covered
    ]
    assert not missing, f"no bug fixture fails {missing}"
    unknown = [(ex, n) for ex, n in covered if n not in suite_points()[ex]]
    assert not unknown, f"the table names tests the suites do not have: {unknown}"


def judged_by() -> dict[tuple[str, str], tuple[str, ...]]:
    """(exercise, test) -> the functions its ``tests_function`` marker names."""
    return {
        (ex, name): functions
        for ex, rows in dependencies.declared().items()
        for name, functions, _ in rows
    }


def names_function(feedback: str, functions: tuple[str, ...]) -> bool:
    """Does the feedback name one of the functions (a method by its own name)?"""
    return any(
        re.search(rf"(?<!\w){re.escape(f.rpartition('.')[2])}\b", feedback) for f in functions
    )


def test_each_bug_fails_only_tests_of_its_function():
    """Does every bug say which function its mistake is in (one its exercise defines), and is
    every test it names as failing one of that function's, by the test's own marker? One
    mistake costs once: the tests of the functions that call it must not fail."""
    markers = judged_by()
    problems = []
    for bug in BUGS:
        defined = dependencies.defined_names(bug.exercise)
        if not bug.functions or any(f not in defined for f in bug.functions):
            problems.append(f"{bug.fixture}: function={bug.function!r} is not {bug.exercise}'s")
        for test in bug.fails:
            judged = markers.get((bug.exercise, test), ())
            if not set(judged) & set(bug.functions):
                problems.append(f"{bug.fixture}: {test} judges {judged}, not {bug.functions}")
    assert not problems, "\n".join(problems)


def harnessed_folders() -> list[str]:
    """The fixture folders this harness grades: every bug_* and correct_*, and its hostile ones.

    The other hostile_* and broken_* folders belong to tests/test_hostile.py and test_broken.py.
    """
    names = (p.name for p in FIXTURES.iterdir() if p.is_dir())
    return sorted(n for n in names if n.startswith(("bug_", "correct_")) or n in HOSTILE)


def test_tables_match_the_fixture_folders():
    """Is every bug/correct fixture folder in exactly one table, and vice versa?"""
    on_disk = set(harnessed_folders())
    tabled = [b.fixture for b in BUGS] + list(CORRECT) + list(HOSTILE)
    assert len(tabled) == len(set(tabled)), "a fixture is listed twice"
    assert on_disk == set(tabled)
    for bug in BUGS:
        assert bug.fixture.startswith("bug_") and bug.exercise in fixture_files(bug.fixture)
    assert all(name.startswith("correct_") for name in CORRECT)
    assert all(name.startswith("hostile_") for name in HOSTILE)


@pytest.mark.parametrize("name", harnessed_folders())
def test_fixture_holds_only_changed_exercise_files(name, tmp_path):
    """Does a fixture hold only edits of exercise files (or whole exercise files), each
    changing the reference and staging as valid Python, the reference everywhere else?"""
    folder = FIXTURES / name
    suffixes = (".edits", ".py", ".ipynb")
    allowed = {f"{m.removesuffix('.py')}{s}" for m in MODULES.values() for s in suffixes}
    assert {p.name for p in folder.iterdir()} <= allowed
    files = fixture_files(name)
    assert files, f"{name} holds no exercise file"
    staged = fixture_submission(name, tmp_path / name)
    for module in MODULES.values():
        reference = fixture_edits.reference_source(module.removesuffix(".py"))
        notebook = staged / module.replace(".py", ".ipynb")
        if notebook.exists():
            text = notebook_to_source(notebook.read_bytes(), notebook.name)
        else:
            text = (staged / module).read_text()
        changed = module.removesuffix(".py") in {p.stem for p in files.values()}
        assert (text != reference) == changed, module
        compile(text, str(staged / module), "exec")


# -- the grading runs ------------------------------------------------------------------------


@pytest.mark.parametrize("bug", bug_params())
def test_bug_fixture_fails_exactly_the_named_tests(graded, bug):
    """Does the mistake fail exactly the named tests, with feedback that names it, and cost
    nothing in any other exercise graded alongside?"""
    result = result_of(graded, bug.exercise, bug.fixture)
    tests = pointed_tests(result, bug.exercise)
    failing = {name for name, t in tests.items() if t["status"] != "passed"}
    markers = judged_by()
    elsewhere = {n for n in failing if not set(markers[bug.exercise, n]) & set(bug.functions)}
    assert not elsewhere, f"a mistake in {bug.function} cost points in {elsewhere}"
    assert failing == set(bug.fails), describe(result)
    for name, word in bug.fails.items():
        test = tests[name]
        assert test["score"] == 0 and test["feedback"], test
        assert word.lower() in test["feedback"].lower(), f"{name}: {test['feedback']!r}"
        assert names_function(test["feedback"], bug.functions), f"{name}: {test['feedback']!r}"
    for ex, exercise in result["exercises"].items():
        if ex != bug.exercise:
            assert full_marks(exercise), f"{ex} lost points:\n{describe(result)}"


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_variant_keeps_full_marks(graded, name):
    """Does a correct but differently written solution keep every point it is graded for?"""
    touched = fixture_files(name)
    assert touched
    for ex in touched:
        result = result_of(graded, ex, name)
        for key, exercise in result["exercises"].items():
            assert full_marks(exercise), f"{CORRECT[name]}: {key} lost points\n{describe(result)}"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_ex1_scores_zero_there_and_nowhere_else(graded, name):
    """Does an ex1 that exits or monkeypatches at import get 0 for ex1, full marks for the
    rest (each exercise has its own worker), with the run itself succeeding?"""
    result = result_of(graded, "hostile", name)
    assert set(result["exercises"]) == set(MODULES)
    assert result["exercises"]["ex1"]["score"] == 0
    ex1 = pointed_tests(result, "ex1")
    assert ex1 and all(t["status"] != "passed" and t["feedback"] for t in ex1.values())
    word = HOSTILE[name]
    assert all(word in t["feedback"] for t in ex1.values()), describe(result)
    for key in ("ex2", "ex3", "ex4", "ex5"):
        assert full_marks(result["exercises"][key]), describe(result)
    assert result["exercises"]["ex5"]["ungraded_points"] == 8
    assert result["score"] == 72 and result["max_score"] == 100


# -- diagnoses that name the mistake itself --


def test_missing_optimizer_step_is_diagnosed_as_such(graded):
    """Does a train_one_epoch without optimizer.step() hear that the weights did not change?"""
    result = result_of(graded, "ex5", "bug_no_optimizer_step")
    test = pointed_tests(result, "ex5")["test_train_one_epoch_updates_weights"]
    assert "did not change" in test["feedback"]


def test_rebinding_coeffs_is_diagnosed_as_not_in_place(graded):
    """Does a train_step that rebinds coeffs hear that the update must happen in place?"""
    result = result_of(graded, "ex2", "bug_train_step_rebinds_coeffs")
    test = pointed_tests(result, "ex2")["test_train_step_one_step"]
    assert "in place" in test["feedback"]


def test_another_model_is_not_told_that_gradients_accumulate(graded):
    """A train_step of another model that does clear .grad: is the clearing credited (the
    model is the one-step test's to charge), never told that gradients pile up?"""
    result = result_of(graded, "ex2", "bug_train_step_other_model")
    tests = pointed_tests(result, "ex2")
    assert tests["test_train_step_clears_grad"]["status"] == "passed", describe(result)
    assert "accumulate" not in tests["test_train_step_one_step"]["feedback"]


def test_skipped_notebook_cells_are_named_in_the_warnings(graded):
    """Does a notebook that keeps the tutorial's download and training cells keep full marks,
    with a warning naming each cell that was skipped and why?"""
    for ex in ("ex3", "ex5"):
        result = result_of(graded, ex, "correct_notebooks_with_tutorial_cells")
        warnings = " ".join(result["warnings"])
        assert "ex3_data.ipynb: cell 5 was skipped" in warnings or ex == "ex5", warnings
        assert "trainloader" in warnings, warnings
