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

from aidemed.metrics.classification import (  # noqa: E402  (classification metrics)
    BootstrapCI,
    accuracy,
    auroc_per_finding,
    balanced_accuracy,
    bootstrap_ci,
    expected_calibration_error,
    f1_score,
    macro_auroc,
    roc_auc,
)

__all__ += [
    "BootstrapCI",
    "accuracy",
    "auroc_per_finding",
    "balanced_accuracy",
    "bootstrap_ci",
    "expected_calibration_error",
    "f1_score",
    "macro_auroc",
    "roc_auc",
]
