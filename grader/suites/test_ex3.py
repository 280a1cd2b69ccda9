"""Hidden suite for ex3_data."""

import numpy as np
import pytest

from grader.errors import ProbeFailure
from grader.i18n import N_, _
from grader.suites.assertions import (
    as_array,
    as_dict,
    as_int_lists,
    as_list,
    describe,
    expect,
    expect_close,
    fail,
)

EXERCISE = "ex3"


IMAGE_COUNT = 101
"""Images channel_stats is graded on: a prime number, so that however a submission cuts them
into batches (of 4, 64, 100, ...) the last batch is smaller than the others."""


@pytest.fixture(scope="module")
def images(rng):
    """Photos in miniature: each image has a brightness and a contrast of its own (the later
    ones brighter), the channels differ, pixels clip at 0 and 255. An average of per-image
    (or per-batch) statistics then differs from the statistics of all pixels, as on CIFAR-10,
    where the average per-image std is a quarter below the data set's."""
    brightness = np.linspace(40, 190, IMAGE_COUNT) + rng.uniform(-25, 25, IMAGE_COUNT)
    contrast = rng.uniform(10, 70, IMAGE_COUNT)
    noise = rng.standard_normal((IMAGE_COUNT, 32, 32, 3))
    pixels = brightness[:, None, None, None] + np.array([20.0, 0.0, -25.0])
    pixels = pixels + contrast[:, None, None, None] * noise
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def _stats(out, what):
    expect(
        isinstance(out, list) and len(out) == 2,
        _("{what} returned {value}; expected a pair (mean, std)", what=what, value=describe(out)),
    )
    mean = as_array(out[0], _("{call}'s {key}", call=what, key="mean"), shape=(3,))
    std = as_array(out[1], _("{call}'s {key}", call=what, key="std"), shape=(3,))
    return mean, std


STATS_RTOL = 2e-3
"""Tolerance of the mean and std: a float32 mean summed by NumPy one pixel after another (as
``np.asarray(images, np.float32) / 255`` then ``.mean(axis=(0, 1, 2))`` does) is 3.6e-4 off
on these images, and every wrong recipe the checks name is at least 1.8% off."""


def _batch_recipes(images: np.ndarray) -> dict[int, dict[str, np.ndarray]]:
    """Batch size -> the statistics a submission gets by averaging per-batch ones over batches
    of that size (size 1: per image): the mean of the batch means, the mean of the batch stds
    (ddof 0 and 1), the root of the mean batch variance, the std of the batch means."""
    pixels = images.reshape(len(images), -1, 3).astype(np.float64) / 255
    sums, squares, count = pixels.sum(axis=1), (pixels**2).sum(axis=1), pixels.shape[1]
    recipes = {}
    for size in range(1, len(images)):
        starts = range(0, len(images), size)
        n = np.array([min(size, len(images) - s) * count for s in starts])[:, None]
        total = np.array([sums[s : s + size].sum(axis=0) for s in starts])
        square = np.array([squares[s : s + size].sum(axis=0) for s in starts])
        means = total / n
        variances = np.maximum(square / n - means**2, 0)
        recipes[size] = {
            "mean of batch means": means.mean(axis=0),
            "mean of batch stds": np.sqrt(variances).mean(axis=0),
            "mean of batch stds (ddof=1)": np.sqrt(variances * n / (n - 1)).mean(axis=0),
            "root of the mean batch variance": np.sqrt(variances.mean(axis=0)),
            "std of batch means": means.std(axis=0),
            "std of batch means (ddof=1)": means.std(axis=0, ddof=1),
        }
    return recipes


def _recipe_of(got: np.ndarray, images: np.ndarray, kind: str, want: np.ndarray):
    """``(batch size, recipe)`` of the first per-batch recipe for the ``kind`` ("mean" or
    "std") that gives ``got`` (and not ``want``), or None."""
    for size, recipes in _batch_recipes(images).items():
        for name, value in recipes.items():
            if (name == "mean of batch means") != (kind == "mean"):
                continue
            if np.allclose(got, value, rtol=STATS_RTOL) and not np.allclose(
                value, want, rtol=STATS_RTOL
            ):
                return size, name
    return None


RECIPE_NAMES = {
    "mean of batch means": (N_("mean of image means"), N_("mean of batch means")),
    "mean of batch stds": (N_("mean of image stds"), N_("mean of batch stds")),
    "mean of batch stds (ddof=1)": (
        N_("mean of image stds (ddof=1)"),
        N_("mean of batch stds (ddof=1)"),
    ),
    "root of the mean batch variance": (
        N_("root of the mean image variance"),
        N_("root of the mean batch variance"),
    ),
    "std of batch means": (N_("std of image means"), N_("std of batch means")),
    "std of batch means (ddof=1)": (
        N_("std of image means (ddof=1)"),
        N_("std of batch means (ddof=1)"),
    ),
}
"""Each recipe of :func:`_batch_recipes` as the feedback names it, per image and per batch."""
STATS_SEEN = {
    "mean": N_("the mean is {got}, expected {want}"),
    "std": N_("the std is {got}, expected {want}"),
}
STATS_0_255 = {
    "mean": N_("the mean is on the 0-255 scale; divide by 255 first, as ToTensor does"),
    "std": N_("the std is on the 0-255 scale; divide by 255 first, as ToTensor does"),
}
STATS_WHAT = {"mean": N_("channel means"), "std": N_("channel stds")}
STATS_HINTS = {
    "mean": N_("average over every image and pixel, separately for R, G and B"),
    "std": N_("the std over every pixel of every image at once, around the channel's mean"),
}
"""The words of the statistics' checks, for the mean and for the std."""


def _recipe_feedback(size: int, recipe: str, what: str, got, want, images) -> str:
    """What the grader saw (the statistics match a per-image or per-batch recipe), and why
    that recipe is not the statistics of all pixels."""
    seen = _(STATS_SEEN[what], got=np.round(got, 4).tolist(), want=np.round(want, 4).tolist())
    per_image = size == 1
    where = _(RECIPE_NAMES[recipe][0 if per_image else 1])
    if not per_image:
        where = _(
            "{recipe} over batches of {size} images (the last one holds {last})",
            recipe=where,
            size=size,
            last=len(images) % size,
        )
    if recipe == "mean of batch means":
        why = _(
            "a smaller last batch weighs as much as a full one; add up every pixel and divide "
            "by their number"
        )
    elif recipe.startswith("std of") and per_image:
        why = _(
            "that is how much the image averages vary, not how much the pixels do; compute "
            "the std over every pixel of every image at once"
        )
    elif recipe.startswith("std of"):
        why = _(
            "that is how much the batch averages vary, not how much the pixels do; compute "
            "the std over every pixel of every image at once"
        )
    elif per_image:
        why = _(
            "each image's own spread leaves out how much the images differ from one another "
            "in brightness and contrast (on CIFAR-10 the average per-image std is 26% too "
            "small); compute the std over every pixel of every image at once (or sum the "
            "pixels and their squares over all batches and combine them at the end)"
        )
    else:
        why = _(
            "each batch's own spread leaves out how much the batches differ from one another "
            "in brightness and contrast (on CIFAR-10 the average per-image std is 26% too "
            "small); compute the std over every pixel of every image at once (or sum the "
            "pixels and their squares over all batches and combine them at the end)"
        )
    return _("{seen}: that is the {where}, and {why}", seen=seen, where=where, why=why)


def _check_stats(mean, std, images):
    pixels = images.reshape(-1, 3).astype(np.float64) / 255
    want_mean, want_std = pixels.mean(axis=0), pixels.std(axis=0)
    for what, got, want in (("mean", mean, want_mean), ("std", std, want_std)):
        if np.allclose(got, want * 255, rtol=STATS_RTOL):
            fail(_(STATS_0_255[what]))
    if np.allclose(mean, np.full(3, pixels.mean()), rtol=STATS_RTOL):
        fail(_("the three means are equal: compute one mean per channel (the last axis)"))
    for centre, spread in (
        ((0.5,) * 3, (0.5,) * 3),
        ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    ):
        centre, spread = np.array(centre), np.array(spread)
        if np.allclose(mean, (want_mean - centre) / spread, rtol=STATS_RTOL, atol=1e-4):
            fail(
                _(
                    "the mean is {got}, that of the images after Normalize({centre}, {spread}) "
                    "(expected {want}): compute the statistics on the [0, 1] scale that "
                    "ToTensor gives, before any Normalize",
                    got=np.round(mean, 4).tolist(),
                    centre=tuple(centre.tolist()),
                    spread=tuple(spread.tolist()),
                    want=np.round(want_mean, 4).tolist(),
                )
            )
    for what, got, want in (("mean", mean, want_mean), ("std", std, want_std)):
        found = (
            None
            if np.allclose(got, want, rtol=STATS_RTOL)
            else (_recipe_of(got, images, what, want))
        )
        if found:
            fail(_recipe_feedback(*found, what, got, want, images))
        expect_close(got, want, _(STATS_WHAT[what]), rtol=STATS_RTOL, hint=_(STATS_HINTS[what]))


@pytest.mark.tests_function("channel_stats")
@pytest.mark.points(3)
def test_channel_stats_of_array(probe, images):
    """Are the per-channel mean and std right, on the [0, 1] scale, for a uint8 array?"""
    mean, std = _stats(probe("channel_stats", images=images, as_torch=False), "channel_stats")
    _check_stats(mean, std, images)


def _same_output(one, other) -> bool:
    """Did two calls give the same (mean, std), whatever their form?"""
    try:
        pairs = [np.asarray(part, dtype=np.float64) for part in (*one, *other)]
    except (TypeError, ValueError, OverflowError):
        return False
    return len(pairs) == 4 and all(
        a.shape == b.shape and np.allclose(a, b, rtol=1e-6, equal_nan=True)
        for a, b in zip(pairs[:2], pairs[2:], strict=True)
    )


@pytest.mark.tests_function("channel_stats")
@pytest.mark.points(2)
def test_channel_stats_of_tensor(probe, images):
    """Does channel_stats accept a uint8 tensor too, giving what it gives for the array?

    Where the array's statistics are wrong, that is the array test's to charge: a tensor that
    gives the same passes here.
    """
    out = probe("channel_stats", images=images, as_torch=True)
    try:
        from_array = probe("channel_stats", images=images, as_torch=False)
    except ProbeFailure:
        from_array = None
    if isinstance(out, list) and isinstance(from_array, list) and _same_output(out, from_array):
        return
    mean, std = _stats(out, "channel_stats")
    _check_stats(mean, std, images)


def _normalised(image, mean, std):
    chw = image.astype(np.float64).transpose(2, 0, 1) / 255
    return (chw - np.asarray(mean)[:, None, None]) / np.asarray(std)[:, None, None]


MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


@pytest.mark.tests_function("build_transform")
@pytest.mark.points(3)
def test_eval_transform_normalises(probe, images):
    """Does build_transform(mean, std), train left at its default (False), give ToTensor then
    Normalize(mean, std), nothing else?"""
    out = probe("transform", images=images[:4], mean=MEAN, std=STD, train=None, seed=0)
    out = as_list(out, _("the transformed images"), length=4)
    for i, tensor in enumerate(out):
        got = as_array(tensor, _("the transformed image"), shape=(3, 32, 32))
        expected = _normalised(images[i], MEAN, STD)
        raw = images[i].astype(np.float64).transpose(2, 0, 1) / 255
        if np.allclose(got, raw, atol=1e-4):
            fail(_("the images are not normalised: add Normalize(mean, std) after ToTensor"))
        _expect_given_normalisation(_affine(got, raw))
        expect_close(
            got,
            expected,
            _("the normalised image"),
            rtol=1e-4,
            atol=1e-4,
            hint=_(
                "ToTensor() then Normalize(mean, std); with train=False (the default) no "
                "random steps"
            ),
        )


def _expect_given_normalisation(fit) -> None:
    """Where the image is ToTensor's scaled and shifted per channel (``fit``), it must be by
    the mean and std passed in; say which ones were used where they are others."""
    if fit is None:
        return
    scale, shift = fit[:, 0], fit[:, 1]
    if np.all(np.abs(scale) > 1e-6):
        used_std, used_mean = 1 / scale, -shift / scale
        if not np.allclose(used_std, STD, rtol=1e-3) or not np.allclose(used_mean, MEAN, atol=1e-3):
            fail(
                _(
                    "the images were normalised with mean {used_mean} and std {used_std}, not "
                    "with the mean {mean} and std {std} passed to build_transform: use its "
                    "arguments, Normalize(mean, std)",
                    used_mean=tuple(np.round(used_mean, 4).tolist()),
                    used_std=tuple(np.round(used_std, 4).tolist()),
                    mean=MEAN,
                    std=STD,
                )
            )


def _affine(got: np.ndarray, raw: np.ndarray):
    """Per channel, the (scale, shift) with got = scale * raw + shift, or None if none fits."""
    fits = []
    for channel in range(3):
        x, y = raw[channel].ravel(), got[channel].ravel()
        spread = x - x.mean()
        variance = spread @ spread
        if variance > 0:  # the least-squares line in closed form (what lstsq finds, cheaper)
            scale = (spread @ (y - y.mean())) / variance
            shift = y.mean() - scale * x.mean()
        else:
            design = np.stack([x, np.ones_like(x)], axis=1)
            (scale, shift), *_rest = np.linalg.lstsq(design, y, rcond=None)
        if not np.allclose(scale * x + shift, y, atol=1e-4 * max(1.0, abs(scale))):
            return None
        fits.append((scale, shift))
    return np.array(fits)


def _crop_of(got: np.ndarray, image: np.ndarray):
    """``(flip, top, left, affine)`` of the crop of ``image`` padded by 4 (maybe flipped) that
    ``got`` is, up to a per-channel normalisation; None if it is none of them."""
    padded = np.zeros((3, 40, 40))
    padded[:, 4:36, 4:36] = image.astype(np.float64).transpose(2, 0, 1) / 255
    for flip in (False, True):
        source = padded[:, :, ::-1] if flip else padded
        for top in range(9):
            for left in range(9):
                fit = _affine(got, source[:, top : top + 32, left : left + 32])
                if fit is not None:
                    return flip, top, left, fit
    return None


DRAWS = 64
"""Augmented copies of one image drawn by the crop-and-flip test (with padding 4, the chance
that none reaches the padding's edge is below 1e-13)."""


@pytest.mark.tests_function("build_transform")
@pytest.mark.points(1)
def test_train_transform_crops_and_flips(probe, images):
    """With train=True, is each output a padded random crop, sometimes flipped, normalised as
    with train=False? (Whether that normalisation is the right one is the eval test's.)"""
    image = images[5]
    out = probe("transform", images=[image] * DRAWS, mean=MEAN, std=STD, train=True, seed=1)
    out = as_list(out, _("the augmented images"), length=DRAWS)
    plain = as_list(probe("transform", images=[image], mean=MEAN, std=STD, train=False, seed=0),
                    _("the transformed image"), length=1)  # fmt: skip
    eval_fit = _affine(
        as_array(plain[0], _("the transformed image"), shape=(3, 32, 32)),
        image.astype(np.float64).transpose(2, 0, 1) / 255,
    )
    # where train=False normalises right, train=True must do the same (a wrong eval
    # normalisation is charged by the eval test, not again here)
    given = np.stack([1 / np.asarray(STD), -np.asarray(MEAN) / np.asarray(STD)], axis=1)
    eval_right = eval_fit is not None and np.allclose(eval_fit, given, rtol=1e-3, atol=1e-3)
    seen = set()
    for tensor in out:
        got = as_array(tensor, _("the augmented image"), shape=(3, 32, 32))
        match = _crop_of(got, image)
        expect(
            match is not None,
            _(
                "an augmented image is not a 32x32 crop of the image padded by 4 (maybe "
                "flipped): RandomCrop(32, padding=4) and RandomHorizontalFlip() on the PIL "
                "image, then ToTensor and Normalize"
            ),
        )
        flip, top, left, fit = match
        if eval_right and not np.allclose(fit, eval_fit, rtol=1e-3, atol=1e-3):
            fail(
                _(
                    "with train=True the images are normalised differently from train=False "
                    "(scale {train} against {eval}): use the same Normalize(mean, std)",
                    train=np.round(fit[:, 0], 3).tolist(),
                    eval=np.round(eval_fit[:, 0], 3).tolist(),
                )
            )
        seen.add((flip, top, left))
    expect(
        len(seen) > 1,
        _("with train=True every call gave the same image: the crop and flip must be random"),
    )
    expect(
        any(flip for flip, _, _ in seen),
        _("no output was ever flipped in {draws} tries: add RandomHorizontalFlip()", draws=DRAWS),
    )
    # a crop reaches the padding's edge in 40% of the draws with padding 4, never with less
    # (a crop that never moves is the next test's to charge)
    places = {(top, left) for _, top, left in seen}
    expect(
        len(places) == 1 or any(0 in place or 8 in place for place in places),
        _(
            "in {draws} tries no crop reached the edge of a 4-pixel padding: the padding is "
            "smaller than RandomCrop(32, padding=4)'s",
            draws=DRAWS,
        ),
    )


@pytest.mark.tests_function("build_transform")
@pytest.mark.points(1)
def test_train_transform_crops_at_random_places(probe, images):
    """With train=True, does the crop move from image to image, not only the flip?

    Only outputs that are crops of the padded image count: what is not a crop at all is the
    crop-and-flip test's to charge.
    """
    image = images[5]
    out = probe("transform", images=[image] * 16, mean=MEAN, std=STD, train=True, seed=2)
    matches = [
        _crop_of(as_array(tensor, _("the augmented image"), shape=(3, 32, 32)), image)
        for tensor in as_list(out, _("the augmented images"), length=16)
    ]
    places = {(top, left) for _, top, left, _ in filter(None, matches)}
    if len(places) == 1:
        ((top, left),) = places
        crops = sum(match is not None for match in matches)
        where = (
            _("not cropped at all")
            if (top, left) == (4, 4)
            else _("top {top}, left {left}", top=top, left=left)
        )
        fail(
            _(
                "with train=True all {crops} crops were taken at the same place ({where}, in "
                "the image padded by 4): add RandomCrop(32, padding=4) before the flip, so each "
                "epoch sees shifted images",
                crops=crops,
                where=where,
            )
        )


@pytest.fixture(scope="module")
def loaders(probe):
    out = as_dict(
        probe("loaders", n_train=50, n_test=23, batch_size=8, epochs=2),
        _("the loaders' report"),
        ("train", "test", "test_labels", "settings"),
    )
    out["settings"] = [
        as_dict(entry, _("a loader's settings"), ("batch_size", "num_workers"))
        for entry in as_list(out["settings"], _("the loaders' settings"), length=4)
    ]
    epochs = as_list(out["train"], _("the train loader's epochs"), length=2)
    out["train"] = [as_int_lists(e, _("the train loader's batches")) for e in epochs]
    out["test"] = as_int_lists(out["test"], _("the test loader's batches"))
    out["test_labels"] = as_int_lists(out["test_labels"], _("the test loader's labels"))
    return out


@pytest.mark.tests_function("make_loaders")
@pytest.mark.points(3)
def test_train_loader_reshuffles(loaders):
    """Does the train loader give batches of batch_size in a new order every epoch?"""
    epochs = [[i for batch in epoch for i in batch] for epoch in loaders["train"]]
    sizes = [len(batch) for batch in loaders["train"][0]]
    expect(
        sizes and all(size == 8 for size in sizes[:-1]),
        _("train batches have sizes {sizes}; expected batch_size=8", sizes=sizes),
    )
    expect(
        len(set(epochs[0])) == len(epochs[0]) and len(epochs[0]) >= 48,
        _(
            "in one epoch the train loader gave {count} images, {different} of them different, "
            "from a training set of 50: each image should come once per epoch (only a last "
            "partial batch may be dropped); is it built on train_set with a sampler or a subset "
            "of its own?",
            count=len(epochs[0]),
            different=len(set(epochs[0])),
        ),
    )
    expect(
        epochs[0] != sorted(epochs[0]),
        _(
            "the train loader keeps the data set's order: "
            "pass shuffle=True so each epoch sees a new order"
        ),
    )
    expect(
        epochs[0] != epochs[1],
        _(
            "the train loader gave the same order in both epochs (it starts {start}): a fixed "
            "permutation or a generator seeded anew each epoch? shuffle=True reshuffles",
            start=epochs[0][:5],
        ),
    )
    _expect_settings(loaders["settings"][0], loaders["settings"][2], _("the train loader"))


def _expect_settings(default: dict, given: dict, loader: str) -> None:
    """The loader takes batch_size and num_workers from make_loaders' arguments (0 workers
    when num_workers is not given)."""
    expect(
        (default["num_workers"], given["num_workers"], given["batch_size"]) == (0, 1, 5),
        _(
            "{loader} does not take its settings from make_loaders: with num_workers left out "
            "it has {default} workers (expected 0), with batch_size=5 and num_workers=1 it has "
            "batch_size {batch_size} and {workers} workers: pass batch_size and num_workers to "
            "both loaders",
            loader=loader,
            default=default["num_workers"],
            batch_size=given["batch_size"],
            workers=given["num_workers"],
        ),
    )


@pytest.mark.tests_function("make_loaders")
@pytest.mark.points(2)
def test_test_loader_keeps_order(loaders):
    """Does the test loader keep the order and drop nothing?"""
    order = [i for batch in loaders["test"] for i in batch]
    if sorted(order) == list(range(23)) and order != list(range(23)):
        fail(_("the test loader shuffles: evaluation should see the data in order (shuffle=False)"))
    expect(
        order == list(range(23)),
        _(
            "the test loader gave {count} of 23 images: keep the last partial batch "
            "(drop_last=False)",
            count=len(order),
        ),
    )
    labels = [label for batch in loaders["test_labels"] for label in batch]
    wrong = sum(label != index % 10 for label, index in zip(labels, order, strict=False))
    expect(
        labels == [index % 10 for index in order],
        _(
            "the test loader's labels do not match its images: {wrong} of {labels} differ and "
            "{labels} labels came with {images} images; is it built on test_set, as given?",
            wrong=wrong,
            labels=len(labels),
            images=len(order),
        ),
    )
    _expect_settings(loaders["settings"][1], loaders["settings"][3], _("the test loader"))


@pytest.mark.tests_function("CIFAR10_CLASSES")
def test_classes_are_given(probe):
    """Is CIFAR10_CLASSES still the ten names in torchvision's order (worth no points)?"""
    names = probe("classes")
    expect(
        isinstance(names, list) and len(names) == 10,
        _(
            "CIFAR10_CLASSES must list the 10 class names as given in the stub; it is {value} "
            "of {count}",
            value=describe(names),
            count=len(names),
        )
        if isinstance(names, list)
        else _(
            "CIFAR10_CLASSES must list the 10 class names as given in the stub; it is {value}",
            value=describe(names),
        ),
    )
