import math
import warnings

import numpy as np
import pytest
import torch
from scipy import ndimage

from aidemed.metrics import (
    METRIC_NAMES,
    bounding_box,
    dice_per_sample,
    mask_surface,
    segmentation_metrics,
    segmentation_metrics_per_class,
    summarize,
    surface_distances,
)


def square(shape, top_left, size, label=1):
    array = np.zeros(shape, np.uint8)
    array[tuple(slice(start, start + size) for start in top_left)] = label
    return array


def disc(shape, center, radius):
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    return (sum((g - c) ** 2 for g, c in zip(grid, center)) <= radius**2).astype(np.uint8)


def blob(shape, seed, smooth=3.0, level=0.5):
    noise = np.random.default_rng(seed).standard_normal(shape)
    field = ndimage.gaussian_filter(noise, smooth)
    return (field > level * field.std()).astype(np.uint8)


# Concentric squares: 16x16 prediction inside a 20x20 ground truth (2 px margin on each side).
# pred -> gt: all 60 border pixels are 2 px from the gt border. gt -> pred: of the 76 gt border
# pixels, 64 are 2 px away, the 8 next to a corner sqrt(5) and the 4 corners sqrt(8).
INNER_TO_OUTER = [2.0] * 60
OUTER_TO_INNER = sorted([2.0] * 64 + [math.sqrt(5)] * 8 + [math.sqrt(8)] * 4)
# Linear-interpolated 95th percentile of the 76 sorted values: position 0.95 * 75 = 71.25.
CONCENTRIC_HD95 = OUTER_TO_INNER[71] + 0.25 * (OUTER_TO_INNER[72] - OUTER_TO_INNER[71])
CONCENTRIC_ASSD = (sum(INNER_TO_OUTER) + sum(OUTER_TO_INNER)) / (60 + 76)


@pytest.mark.parametrize(
    "pred, gt, spacing, expected",
    [
        pytest.param(
            square((40, 40), (10, 10), 10), square((40, 40), (10, 10), 10), None,
            dict(dice=1, iou=1, precision=1, recall=1, hd95=0, assd=0), id="identical-squares",
        ),
        pytest.param(
            square((40, 40), (10, 13), 10), square((40, 40), (10, 10), 10), None,
            dict(dice=0.7, iou=7 / 13, precision=0.7, recall=0.7), id="square-shifted-3px",
        ),
        pytest.param(
            square((40, 40), (12, 12), 16), square((40, 40), (10, 10), 20), None,
            dict(dice=2 * 256 / 656, iou=256 / 400, precision=1.0, recall=256 / 400,
                 hd95=CONCENTRIC_HD95, assd=CONCENTRIC_ASSD),
            id="concentric-squares",
        ),
        pytest.param(
            square((40, 40), (12, 12), 16), square((40, 40), (10, 10), 20), (0.5, 0.5),
            dict(hd95=0.5 * CONCENTRIC_HD95, assd=0.5 * CONCENTRIC_ASSD), id="concentric-squares-half-mm",
        ),
        # Single pixels isolate the axis order of spacing: 2D (sy, sx), 3D (sz, sx, sy).
        pytest.param(
            square((10, 10), (5, 8), 1), square((10, 10), (5, 5), 1), (2.0, 3.0),
            dict(dice=0, iou=0, precision=0, recall=0, hd95=9.0, assd=9.0), id="2d-x-offset-uses-sx",
        ),
        pytest.param(
            square((10, 10), (8, 5), 1), square((10, 10), (5, 5), 1), (2.0, 3.0),
            dict(hd95=6.0, assd=6.0), id="2d-y-offset-uses-sy",
        ),
        pytest.param(
            square((6, 10, 10), (4, 5, 5), 1), square((6, 10, 10), (2, 5, 5), 1), (2.5, 0.7, 0.8),
            dict(hd95=5.0, assd=5.0), id="3d-z-offset-uses-sz",
        ),
        pytest.param(
            square((6, 10, 10), (2, 5, 7), 1), square((6, 10, 10), (2, 5, 5), 1), (2.5, 0.7, 0.8),
            dict(hd95=1.6, assd=1.6), id="3d-y-offset-uses-sy",
        ),
        pytest.param(
            square((12, 12, 12), (3, 3, 3), 6), square((12, 12, 12), (3, 3, 3), 6), (3.0, 1.0, 1.0),
            dict(dice=1, iou=1, hd95=0, assd=0), id="3d-identical-cubes",
        ),
    ],
)
def test_hand_made_examples(pred, gt, spacing, expected):
    metrics = segmentation_metrics(pred, gt, spacing=spacing)
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, abs=1e-12), name


def test_shifted_discs_distances_bounded_by_the_shift():
    # Translating a shape by t moves every border pixel by exactly t, so no directed distance
    # exceeds t; a 4 px shift of a radius-12 disc leaves most of the surface 3-4 px away.
    gt = disc((64, 64), (32, 30), 12)
    pred = disc((64, 64), (32, 34), 12)
    metrics = segmentation_metrics(pred, gt)
    assert 3.0 <= metrics["hd95"] <= 4.0
    assert 1.0 < metrics["assd"] < metrics["hd95"]
    pred_to_gt, gt_to_pred = surface_distances(pred, gt)
    assert pred_to_gt.max() <= 4.0 and gt_to_pred.max() <= 4.0


@pytest.mark.parametrize("ndim", [2, 3])
def test_empty_rules(ndim):
    shape = (16,) * ndim
    empty = np.zeros(shape, np.uint8)
    full = square(shape, (4,) * ndim, 6)

    both = segmentation_metrics(empty, empty)
    assert both == dict(dice=1.0, iou=1.0, precision=1.0, recall=1.0, hd95=0.0, assd=0.0)

    for pred, gt in ((empty, full), (full, empty)):
        one = segmentation_metrics(pred, gt, spacing=(2.0,) * ndim)
        assert [one[k] for k in ("dice", "iou", "precision", "recall")] == [0.0, 0.0, 0.0, 0.0]
        assert math.isnan(one["hd95"]) and math.isnan(one["assd"])


def test_label_selects_class_and_per_class_helper():
    pred = square((30, 30), (2, 2), 8, label=1) + square((30, 30), (15, 15), 10, label=2)
    gt = square((30, 30), (2, 4), 8, label=1) + square((30, 30), (15, 15), 10, label=2)
    per_class = segmentation_metrics_per_class(pred, gt)
    assert sorted(per_class) == [1, 2]
    assert per_class[1] == segmentation_metrics(pred == 1, gt == 1)
    assert per_class[2]["dice"] == 1.0 and per_class[1]["dice"] == pytest.approx(0.75)
    # A class absent from both arrays is scored only when asked for, then as a correct empty.
    with_absent = segmentation_metrics_per_class(pred, gt, num_classes=4)
    assert sorted(with_absent) == [1, 2, 3] and with_absent[3]["dice"] == 1.0 and with_absent[3]["hd95"] == 0.0
    assert sorted(segmentation_metrics_per_class(pred, gt, labels=[2])) == [2]


def test_input_validation():
    with pytest.raises(ValueError, match="shapes differ"):
        segmentation_metrics(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="spacing"):
        segmentation_metrics(np.ones((4, 4)), np.ones((4, 4)), spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="2D"):
        segmentation_metrics(np.zeros(4), np.zeros(4))


def test_bounding_box_and_surface():
    mask = np.zeros((10, 12), bool)
    mask[3:6, 4:9] = True
    assert bounding_box(mask) == (slice(3, 6), slice(4, 9))
    assert bounding_box(mask, margin=4) == (slice(0, 10), slice(0, 12))
    assert bounding_box(np.zeros((3, 3), bool)) is None
    surface = mask_surface(mask)
    assert surface.sum() == 3 * 5 - 1 * 3  # everything but the 1x3 interior
    # Objects touching the image edge have their border on the edge (MONAI pads with background).
    assert mask_surface(np.ones((4, 4), bool)).sum() == 12


BLOB_CASES = [
    pytest.param((64, 72), (0.7, 1.3), 1, id="2d-aniso"),
    pytest.param((96, 96), (1.0, 1.0), 2, id="2d-iso"),
    pytest.param((18, 30, 26), (2.5, 0.8, 0.9), 3, id="3d-aniso"),
]


def _monai_metrics(pred, gt, spacing):
    from monai.metrics import (
        compute_average_surface_distance,
        compute_dice,
        compute_hausdorff_distance,
        compute_iou,
    )

    def one_hot(array):
        return torch.from_numpy(np.stack([array == 0, array == 1])[None].astype(np.float32))

    p, g = one_hot(pred), one_hot(gt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "dice": compute_dice(p, g, include_background=False, ignore_empty=False).item(),
            "iou": compute_iou(p, g, include_background=False, ignore_empty=False).item(),
            "hd95": compute_hausdorff_distance(p, g, percentile=95, spacing=spacing).item(),
            "assd": compute_average_surface_distance(p, g, symmetric=True, spacing=spacing).item(),
        }


@pytest.mark.parametrize("shape, spacing, seed", BLOB_CASES)
def test_agrees_with_monai_on_random_blobs(shape, spacing, seed):
    pred, gt = blob(shape, seed), blob(shape, seed + 100)
    assert 0 < pred.sum() < pred.size and 0 < gt.sum() < gt.size
    ours = segmentation_metrics(pred, gt, spacing=spacing)
    theirs = _monai_metrics(pred, gt, spacing)
    for name, value in theirs.items():
        assert ours[name] == pytest.approx(value, rel=1e-5, abs=1e-5), name


@pytest.mark.parametrize("shape, spacing, seed", BLOB_CASES)
def test_distance_methods_agree(shape, spacing, seed):
    pred, gt = blob(shape, seed), blob(shape, seed + 100)
    by_edt = surface_distances(pred, gt, spacing, method="edt")
    by_kdtree = surface_distances(pred, gt, spacing, method="kdtree")
    for a, b in zip(by_edt, by_kdtree):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_cropping_does_not_change_distances():
    # A small object pair far from the origin in a large image: the crop must not shift anything.
    small_pred, small_gt = blob((24, 24), 7, smooth=2.0), blob((24, 24), 8, smooth=2.0)
    pred, gt = np.zeros((200, 200), np.uint8), np.zeros((200, 200), np.uint8)
    pred[150:174, 90:114], gt[150:174, 90:114] = small_pred, small_gt
    padded = lambda a: np.pad(a, 1)  # noqa: E731 - background frame so edges stay borders in both
    assert segmentation_metrics(pred, gt, spacing=(0.5, 2.0)) == pytest.approx(
        segmentation_metrics(padded(small_pred), padded(small_gt), spacing=(0.5, 2.0)), nan_ok=True
    )


def test_summarize():
    rows = [
        {"dice": 0.5, "hd95": 2.0},
        {"dice": 0.7, "hd95": float("nan")},
        {"dice": 0.9, "hd95": 4.0},
    ]
    summary = summarize(rows, metrics=("dice", "hd95"))
    assert summary["dice"] == pytest.approx(dict(mean=0.7, sd=0.2, median=0.7, n=3, n_nan=0))
    assert summary["hd95"] == pytest.approx(dict(mean=3.0, sd=math.sqrt(2), median=3.0, n=3, n_nan=1))
    single = summarize([{"dice": 0.4}], metrics=("dice",))["dice"]
    assert single == dict(mean=0.4, sd=0.0, median=0.4, n=1, n_nan=0)
    only_nan = summarize([{"hd95": float("nan")}], metrics=("hd95",))["hd95"]
    assert math.isnan(only_nan["mean"]) and only_nan["n"] == 1 and only_nan["n_nan"] == 1
    assert set(summarize([segmentation_metrics(np.ones((3, 3)), np.ones((3, 3)))])) == set(METRIC_NAMES)


def test_dice_per_sample_agrees_with_numpy():
    rng = np.random.default_rng(0)
    num_classes = 4
    target = np.stack([blob((40, 48), s) + blob((40, 48), s + 50) * 2 for s in range(5)]).astype(np.int64)
    pred = np.where(rng.random(target.shape) < 0.15, rng.integers(0, num_classes, target.shape), target)
    pred[1] = 0  # empty prediction: classes present in the target score 0, absent ones 1
    target[2] = 0
    pred[2] = 0  # both empty: every class scores 1
    pred[3][pred[3] == 3] = 0
    ours = dice_per_sample(torch.from_numpy(pred), torch.from_numpy(target), num_classes)
    expected = [
        np.mean([segmentation_metrics(p, t, label=c)["dice"] for c in range(1, num_classes)])
        for p, t in zip(pred, target)
    ]
    assert ours.shape == (5,) and ours.dtype == torch.float32
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6)
    assert ours[2].item() == 1.0
    # A channel dimension of 1 (MONAI's label layout) gives the same result.
    with_channel = dice_per_sample(torch.from_numpy(pred)[:, None], torch.from_numpy(target)[:, None], num_classes)
    torch.testing.assert_close(with_channel, ours)


def test_dice_per_sample_rejects_bad_input():
    labels = torch.zeros(2, 8, 8, dtype=torch.long)
    with pytest.raises(ValueError, match="shapes differ"):
        dice_per_sample(labels, labels[:, :4], 2)
    with pytest.raises(ValueError, match="below num_classes"):
        dice_per_sample(labels + 2, labels, 2)
