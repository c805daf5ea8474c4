"""Evaluation metrics: per-case segmentation metrics, their summary, and folder evaluation."""

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
    "distance_metrics",
    "mask_surface",
    "overlap_metrics",
    "present_labels",
    "segmentation_metrics",
    "segmentation_metrics_per_class",
    "summarize",
    "surface_distances",
]
