"""Evaluation metrics: per-case segmentation metrics, their summary, and folder evaluation."""

from aidemed.metrics.evaluate import evaluate_folders, score_case, summarize_by_label
from aidemed.metrics.segmentation import (
    DISTANCE_METRICS,
    METRIC_NAMES,
    OVERLAP_METRICS,
    bounding_box,
    dice_per_sample,
    distance_metrics,
    mask_surface,
    overlap_metrics,
    present_labels,
    segmentation_metrics,
    segmentation_metrics_per_class,
    summarize,
    surface_distances,
)

__all__ = [
    "DISTANCE_METRICS",
    "METRIC_NAMES",
    "OVERLAP_METRICS",
    "bounding_box",
    "dice_per_sample",
    "evaluate_folders",
    "distance_metrics",
    "mask_surface",
    "overlap_metrics",
    "present_labels",
    "score_case",
    "segmentation_metrics",
    "segmentation_metrics_per_class",
    "summarize",
    "summarize_by_label",
    "surface_distances",
]
