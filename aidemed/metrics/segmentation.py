"""Per-case segmentation metrics on label arrays: Dice, IoU, precision, recall, HD95, ASSD.

Inputs are channel-less label arrays of the same shape, 2D (H, W) or 3D (Z, X, Y), in aidemed's axis
order (see `aidemed.data.io`); `spacing` is given in the same order, so distances come out in
physical units (mm for NIfTI). Overlap metrics count voxels and ignore spacing.

Definitions (TP, FP, FN are voxel counts of one foreground class):
  dice = 2 TP / (2 TP + FP + FN)      iou = TP / (TP + FP + FN)
  precision = TP / (TP + FP)          recall = TP / (TP + FN)
  Surfaces are the border voxels of each object (the voxel is in the mask, one of its face
  neighbours is not, outside the image counts as background), as in MONAI's `get_mask_edges`.
  Directed surface distances go from each border voxel of one mask to the nearest border voxel of
  the other (exact Euclidean distance, scaled by spacing).
  hd95 = max of the two directed 95th percentiles (linear interpolation), as MONAI's
         `compute_hausdorff_distance(percentile=95)` with its default `directed=False`.
  assd = mean of both directed distance sets pooled together (not the mean of the two means), as
         MONAI's `compute_average_surface_distance(symmetric=True)`.

Empty masks (where MONAI gives NaN or inf, aidemed uses fixed rules so that every case is scored):
  both empty           dice = iou = precision = recall = 1, hd95 = assd = 0 (a correct "nothing").
  only one empty       dice = iou = 0; the ratio that is 0/0 (precision when the prediction is
                       empty, recall when the ground truth is empty) is set to 0, the other is 0 by
                       its definition, so all four overlap metrics are 0 (a complete miss or a
                       pure false alarm); hd95 = assd = NaN (there is no surface to measure from).
                       `summarize` leaves NaN out of mean/sd/median and reports how many (n_nan).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

if TYPE_CHECKING:
    import torch

OVERLAP_METRICS = ("dice", "iou", "precision", "recall")
DISTANCE_METRICS = ("hd95", "assd")
METRIC_NAMES = OVERLAP_METRICS + DISTANCE_METRICS

# One voxel of background around the union is enough for the border test; it is also what MONAI
# keeps when it crops (CropForeground margin=1).
CROP_MARGIN = 1
KDTREE_COST_IN_VOXELS = 5


def _as_spacing(spacing: float | Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * ndim
    if np.isscalar(spacing):
        spacing = (float(spacing),) * ndim
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != ndim:
        raise ValueError(f"spacing {spacing} has {len(spacing)} values for a {ndim}D array")
    if not all(s > 0 and np.isfinite(s) for s in spacing):
        raise ValueError(f"spacing must be positive and finite, got {spacing}")
    return spacing


def _check_pair(pred: np.ndarray, gt: np.ndarray) -> None:
    if pred.shape != gt.shape:
        raise ValueError(f"prediction and ground truth shapes differ: {pred.shape} vs {gt.shape}")
    if pred.ndim not in (2, 3):
        raise ValueError(f"expected 2D (H, W) or 3D (Z, X, Y) arrays, got shape {pred.shape}")


def _binary(array: np.ndarray, label: int) -> np.ndarray:
    array = np.asarray(array)
    return array if array.dtype == bool else array == label


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, ...] | None:
    """Slices of the smallest box holding every True voxel, grown by `margin` and clipped to the
    array; None when the mask is empty. Projects per axis, which is much cheaper than argwhere on
    large volumes."""
    box = []
    for axis in range(mask.ndim):
        other_axes = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=other_axes))
        if hits.size == 0:
            return None
        box.append(slice(max(int(hits[0]) - margin, 0), min(int(hits[-1]) + 1 + margin, mask.shape[axis])))
    return tuple(box)


def mask_surface(mask: np.ndarray) -> np.ndarray:
    """Border voxels of a binary mask: in the mask with a face neighbour outside it (image edges
    count as outside), i.e. MONAI's `binary_erosion(mask) ^ mask`."""
    mask = np.asarray(mask, dtype=bool)
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def surface_distances(
    pred_mask: np.ndarray,
    gt_mask: np.ndarray,
    spacing: float | Sequence[float] | None = None,
    method: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Directed surface distances (pred → gt, gt → pred) in physical units, one per border voxel.

    Both masks must be non-empty. Work happens on the bounding box of the union only: every border
    voxel lies inside it, so the nearest one is found there too and the result stays exact.
    `method` picks between two exact Euclidean searches: "edt" (scipy distance transforms of the
    box, cost ~ box voxels) and "kdtree" (nearest border voxel, cost ~ border voxels); "auto" takes
    the cheaper, which for compact 3D objects is the KD-tree by an order of magnitude.
    """
    pred_mask, gt_mask = np.asarray(pred_mask, dtype=bool), np.asarray(gt_mask, dtype=bool)
    _check_pair(pred_mask, gt_mask)
    spacing = _as_spacing(spacing, pred_mask.ndim)
    box = bounding_box(pred_mask | gt_mask, margin=CROP_MARGIN)
    if box is None or not pred_mask.any() or not gt_mask.any():
        raise ValueError("surface distances need a non-empty prediction and ground truth")
    pred_surface, gt_surface = mask_surface(pred_mask[box]), mask_surface(gt_mask[box])
    if method == "auto":
        n_surface = int(np.count_nonzero(pred_surface)) + int(np.count_nonzero(gt_surface))
        # Measured on CPU: one border voxel in a KD-tree (build + query) costs about 10 voxels of
        # an EDT; the EDT route runs twice over the whole box, hence the factor 5 on border voxels.
        method = "kdtree" if KDTREE_COST_IN_VOXELS * n_surface < pred_surface.size else "edt"
    if method == "edt":
        # The EDT of the complement of a surface gives, at every voxel, the distance to that surface.
        to_gt = ndimage.distance_transform_edt(~gt_surface, sampling=spacing)
        to_pred = ndimage.distance_transform_edt(~pred_surface, sampling=spacing)
        return to_gt[pred_surface], to_pred[gt_surface]
    if method == "kdtree":
        from scipy.spatial import cKDTree

        scale = np.asarray(spacing, dtype=np.float64)
        pred_points = np.argwhere(pred_surface) * scale
        gt_points = np.argwhere(gt_surface) * scale
        pred_to_gt = cKDTree(gt_points).query(pred_points, k=1)[0]
        gt_to_pred = cKDTree(pred_points).query(gt_points, k=1)[0]
        return pred_to_gt, gt_to_pred
    raise ValueError(f"unknown method {method!r} (expected 'auto', 'edt' or 'kdtree')")


def overlap_metrics(pred_mask: np.ndarray, gt_mask: np.ndarray) -> dict[str, float]:
    """Dice, IoU, precision and recall of two binary masks, with the module's empty-mask rules."""
    pred_mask, gt_mask = np.asarray(pred_mask, dtype=bool), np.asarray(gt_mask, dtype=bool)
    if pred_mask.shape != gt_mask.shape:
        raise ValueError(f"prediction and ground truth shapes differ: {pred_mask.shape} vs {gt_mask.shape}")
    tp = int(np.count_nonzero(pred_mask & gt_mask))
    n_pred = int(np.count_nonzero(pred_mask))
    n_gt = int(np.count_nonzero(gt_mask))
    if n_pred == 0 and n_gt == 0:
        return dict.fromkeys(OVERLAP_METRICS, 1.0)
    fp, fn = n_pred - tp, n_gt - tp
    return {
        "dice": 2.0 * tp / (n_pred + n_gt),
        "iou": tp / (tp + fp + fn),
        # 0/0 only when exactly one mask is empty: scored 0 like the other overlap metrics.
        "precision": tp / n_pred if n_pred else 0.0,
        "recall": tp / n_gt if n_gt else 0.0,
    }


def distance_metrics(
    pred_mask: np.ndarray,
    gt_mask: np.ndarray,
    spacing: float | Sequence[float] | None = None,
) -> dict[str, float]:
    """HD95 and ASSD of two binary masks in physical units, with the module's empty-mask rules."""
    pred_mask, gt_mask = np.asarray(pred_mask, dtype=bool), np.asarray(gt_mask, dtype=bool)
    _check_pair(pred_mask, gt_mask)
    pred_any, gt_any = bool(pred_mask.any()), bool(gt_mask.any())
    if not pred_any and not gt_any:
        return dict.fromkeys(DISTANCE_METRICS, 0.0)
    if pred_any != gt_any:
        return dict.fromkeys(DISTANCE_METRICS, float("nan"))
    pred_to_gt, gt_to_pred = surface_distances(pred_mask, gt_mask, spacing)
    hd = max(np.percentile(pred_to_gt, 95), np.percentile(gt_to_pred, 95))
    assd = (pred_to_gt.sum() + gt_to_pred.sum()) / (pred_to_gt.size + gt_to_pred.size)
    return {"hd95": float(hd), "assd": float(assd)}


def segmentation_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    label: int = 1,
    spacing: float | Sequence[float] | None = None,
) -> dict[str, float]:
    """All metrics of METRIC_NAMES for one foreground class of two label arrays (or two bool masks)."""
    pred, gt = np.asarray(pred), np.asarray(gt)
    _check_pair(pred, gt)
    pred_mask, gt_mask = _binary(pred, label), _binary(gt, label)
    return {**overlap_metrics(pred_mask, gt_mask), **distance_metrics(pred_mask, gt_mask, spacing)}


def present_labels(*arrays: np.ndarray) -> list[int]:
    """Foreground labels (non-zero values) found in any of the arrays, sorted."""
    found: set[int] = set()
    for array in arrays:
        array = np.asarray(array)
        if array.dtype.kind == "u" and array.itemsize <= 2:
            values = np.flatnonzero(np.bincount(array.ravel()))  # linear time; unique() sorts
        else:
            values = np.unique(array)
        found.update(int(v) for v in values if v != 0)
    return sorted(found)


def segmentation_metrics_per_class(
    pred: np.ndarray,
    gt: np.ndarray,
    labels: Iterable[int] | None = None,
    num_classes: int | None = None,
    spacing: float | Sequence[float] | None = None,
) -> dict[int, dict[str, float]]:
    """`segmentation_metrics` for each foreground class: `labels`, else 1..num_classes-1, else the
    labels present in either array. Pass labels/num_classes for datasets: a class absent from both
    arrays of one case is then scored (as a correct empty) instead of silently left out."""
    if labels is None:
        labels = range(1, num_classes) if num_classes is not None else present_labels(pred, gt)
    return {int(c): segmentation_metrics(pred, gt, label=int(c), spacing=spacing) for c in labels}


def summarize(
    per_case_rows: Iterable[Mapping[str, float]], metrics: Sequence[str] = METRIC_NAMES
) -> dict[str, dict[str, float]]:
    """mean, sd (ddof=1 when more than one value), median, n and n_nan of each metric.

    n counts every row that has the metric; NaN values (distances of one-sided empty cases) are
    left out of mean, sd and median and counted in n_nan. With no valid value the statistics are
    NaN.
    """
    rows = list(per_case_rows)
    summary = {}
    for name in metrics:
        values = np.array([float(row[name]) for row in rows if name in row], dtype=np.float64)
        valid = values[~np.isnan(values)]
        if valid.size:
            mean, median = float(valid.mean()), float(np.median(valid))
            sd = float(valid.std(ddof=1)) if valid.size > 1 else 0.0
        else:
            mean = sd = median = float("nan")
        summary[name] = {
            "mean": mean,
            "sd": sd,
            "median": median,
            "n": int(values.size),
            "n_nan": int(values.size - valid.size),
        }
    return summary


def dice_per_sample(pred_labels: torch.Tensor, target_labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Batched Dice for validation during training: the mean over classes 1..num_classes-1 of each
    sample's Dice, shape (B,), float32 on the inputs' device.

    Inputs are label tensors (argmax already taken) of shape (B, *spatial) or (B, 1, *spatial).
    Empty rules as in the numpy metrics: a class absent from both is 1, absent from one is 0.
    """
    import torch

    if pred_labels.shape != target_labels.shape:
        raise ValueError(f"prediction and target shapes differ: {tuple(pred_labels.shape)} vs {tuple(target_labels.shape)}")
    if num_classes < 2:
        raise ValueError(f"num_classes must count the background too (>= 2), got {num_classes}")
    batch = pred_labels.shape[0]
    pred = pred_labels.reshape(batch, -1)
    target = target_labels.reshape(batch, -1)
    # One sync per call: a label outside 0..C-1 means a wrong num_classes, never a valid input.
    if pred.numel() and int(torch.maximum(pred.max(), target.max())) >= num_classes:
        raise ValueError(f"labels must be below num_classes={num_classes}")
    scores = []
    for c in range(1, num_classes):
        pred_c, target_c = pred == c, target == c
        tp = (pred_c & target_c).sum(dim=1)
        total = pred_c.sum(dim=1) + target_c.sum(dim=1)
        dice = torch.where(total > 0, 2.0 * tp / total.clamp(min=1), torch.ones_like(total, dtype=torch.float32))
        scores.append(dice.float())
    return torch.stack(scores, dim=1).mean(dim=1)
