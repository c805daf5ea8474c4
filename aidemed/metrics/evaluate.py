"""Score a folder of predicted masks against a folder of ground-truth masks.

Files are paired by case id, the file name without its suffix (`strip_suffix`: .png, .nii.gz, ...),
so `case_001.png` in one folder matches `case_001.png` or `case_001.nii.gz` in the other. When an
exact match is missing, an nnU-Net channel suffix `_0000` is ignored on either side.

`score_case` (arrays in, one row per class out) and `summarize_by_label` are what training code
reuses; `evaluate_folders` adds the file handling for `aidemed evaluate`.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aidemed.data.io import SUPPORTED_SUFFIXES, DataError, file_suffix, is_nifti, read_mask, strip_suffix
from aidemed.metrics.segmentation import METRIC_NAMES, present_labels, segmentation_metrics, summarize

CHANNEL_SUFFIX = "_0000"  # nnU-Net names image channels case_0000.nii.gz; labels have no suffix
CSV_COLUMNS = ("case", "label", *METRIC_NAMES, "gt_voxels", "pred_voxels", "missing_prediction")


@dataclass
class CasePair:
    case_id: str
    gt_path: Path
    pred_path: Path | None  # None: no prediction for this case


@dataclass
class Pairing:
    pairs: list[CasePair]
    unmatched_predictions: list[Path] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [pair.case_id for pair in self.pairs if pair.pred_path is None]


@dataclass
class EvaluationResult:
    rows: list[dict]  # one per (case, label), sorted by case then label
    summary: dict[int, dict[str, dict[str, float]]]  # label -> metric -> statistics
    labels: list[int]
    missing: list[str] = field(default_factory=list)  # scored as empty predictions
    unmatched_predictions: list[str] = field(default_factory=list)  # predictions without ground truth

    @property
    def n_cases(self) -> int:
        return len({row["case"] for row in self.rows})


def list_mask_files(folder: str | Path) -> dict[str, Path]:
    """Case id -> path of every supported mask file directly in `folder` (hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a directory")
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or file_suffix(path) not in SUPPORTED_SUFFIXES:
            continue
        case_id = strip_suffix(path.name)
        if case_id in files:
            raise DataError(f"{folder}: two files for case {case_id!r}: {files[case_id].name} and {path.name}")
        files[case_id] = path
    return files


def _without_channel_suffix(case_id: str) -> str:
    return case_id[: -len(CHANNEL_SUFFIX)] if case_id.endswith(CHANNEL_SUFFIX) else case_id


def pair_cases(pred_dir: str | Path, gt_dir: str | Path) -> Pairing:
    """Pair every ground-truth file with its prediction (pred_path None when there is none)."""
    gt_files = list_mask_files(gt_dir)
    if not gt_files:
        raise DataError(f"{gt_dir}: no mask files found (supported: {', '.join(SUPPORTED_SUFFIXES)})")
    pred_files = list_mask_files(pred_dir)
    # Fallback keys with `_0000` dropped; only unambiguous ones, so a rename can never pair two cases.
    pred_by_base: dict[str, Path | None] = {}
    for case_id, path in pred_files.items():
        base = _without_channel_suffix(case_id)
        pred_by_base[base] = None if base in pred_by_base else path
    exact = {case_id: pred_files.get(case_id) for case_id in gt_files}
    used = {path for path in exact.values() if path is not None}
    pairs = []
    for case_id, gt_path in gt_files.items():
        pred_path = exact[case_id]
        if pred_path is None:
            candidate = pred_by_base.get(_without_channel_suffix(case_id))
            if candidate is not None and candidate not in used:
                pred_path = candidate
                used.add(candidate)
        pairs.append(CasePair(case_id=case_id, gt_path=gt_path, pred_path=pred_path))
    unmatched = [path for path in pred_files.values() if path not in used]
    return Pairing(pairs=pairs, unmatched_predictions=unmatched)


def score_case(
    pred: np.ndarray,
    gt: np.ndarray,
    labels: Iterable[int],
    spacing: float | Sequence[float] | None = None,
    case_id: str | None = None,
) -> list[dict]:
    """One row per label: {"case", "label", <METRIC_NAMES>, "gt_voxels", "pred_voxels"}."""
    pred, gt = np.asarray(pred), np.asarray(gt)
    rows = []
    for label in labels:
        row = {"case": case_id, "label": int(label)}
        row.update(segmentation_metrics(pred, gt, label=int(label), spacing=spacing))
        row["gt_voxels"] = int(np.count_nonzero(gt == label))
        row["pred_voxels"] = int(np.count_nonzero(pred == label))
        rows.append(row)
    return rows


def summarize_by_label(rows: Iterable[Mapping], metrics: Sequence[str] = METRIC_NAMES) -> dict[int, dict]:
    """`summarize` of the rows of each label, labels in increasing order."""
    by_label: dict[int, list[Mapping]] = {}
    for row in rows:
        by_label.setdefault(int(row["label"]), []).append(row)
    return {label: summarize(by_label[label], metrics) for label in sorted(by_label)}


def _spacing_of(path: Path, geometry, spacing_2d: Sequence[float] | None) -> tuple[float, ...]:
    # PNG/TIFF carry no usable physical spacing; NIfTI headers do and always win.
    if not is_nifti(path) and spacing_2d is not None:
        if len(spacing_2d) != len(geometry.shape):
            raise DataError(f"{path}: --spacing has {len(spacing_2d)} values for a {len(geometry.shape)}D mask")
        return tuple(float(s) for s in spacing_2d)
    return tuple(geometry.spacing)


def evaluate_folders(
    pred_dir: str | Path,
    gt_dir: str | Path,
    labels: Iterable[int] | None = None,
    spacing_2d: Sequence[float] | None = None,
    allow_missing: bool = False,
) -> EvaluationResult:
    """Score every ground-truth case of `gt_dir` against its prediction in `pred_dir`.

    labels: classes to score; by default every non-zero label found in any file, and a case in
        which a class is absent from both masks gets that class's both-empty scores.
    spacing_2d: physical spacing (sy, sx) of 2D image masks, which have none of their own.
    allow_missing: score a case without prediction as an empty prediction instead of failing.
    """
    pairing = pair_cases(pred_dir, gt_dir)
    if pairing.missing and not allow_missing:
        shown = ", ".join(pairing.missing[:20]) + (", ..." if len(pairing.missing) > 20 else "")
        raise DataError(
            f"{len(pairing.missing)} of {len(pairing.pairs)} ground-truth cases have no prediction in "
            f"{pred_dir}: {shown} (use --allow-missing to score them as empty predictions)"
        )
    fixed_labels = None if labels is None else sorted({int(label) for label in labels})
    rows: list[dict] = []
    for pair in pairing.pairs:
        gt, gt_geometry = read_mask(pair.gt_path)
        if pair.pred_path is None:
            pred = np.zeros_like(gt)
        else:
            pred, pred_geometry = read_mask(pair.pred_path)
            if pred.shape != gt.shape:
                raise DataError(
                    f"shape mismatch for case {pair.case_id!r}: prediction {pair.pred_path} has shape "
                    f"{pred.shape}, ground truth {pair.gt_path} has shape {gt.shape}"
                )
            if not np.allclose(pred_geometry.spacing, gt_geometry.spacing, rtol=1e-3):
                warnings.warn(
                    f"case {pair.case_id!r}: prediction spacing {pred_geometry.spacing} differs from ground-truth "
                    f"spacing {gt_geometry.spacing}; distances use the ground truth's",
                    stacklevel=2,
                )
        spacing = _spacing_of(pair.gt_path, gt_geometry, spacing_2d)
        case_labels = fixed_labels if fixed_labels is not None else present_labels(pred, gt)
        for row in score_case(pred, gt, case_labels, spacing=spacing, case_id=pair.case_id):
            row["missing_prediction"] = pair.pred_path is None
            rows.append(row)

    if fixed_labels is None:
        # Labels found only in some cases are absent from both masks of the others: score those
        # as correct empties without reading the files again.
        fixed_labels = sorted({row["label"] for row in rows}) or [1]
        both_empty = segmentation_metrics(np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.uint8))
        scored = {(row["case"], row["label"]) for row in rows}
        for pair in pairing.pairs:
            for label in fixed_labels:
                if (pair.case_id, label) not in scored:
                    rows.append(
                        {"case": pair.case_id, "label": label, **both_empty, "gt_voxels": 0, "pred_voxels": 0,
                         "missing_prediction": pair.pred_path is None}
                    )
    rows.sort(key=lambda row: (row["case"], row["label"]))
    return EvaluationResult(
        rows=rows,
        summary=summarize_by_label(rows),
        labels=fixed_labels,
        missing=pairing.missing,
        unmatched_predictions=[path.name for path in pairing.unmatched_predictions],
    )


def write_rows_csv(rows: Iterable[Mapping], path: str | Path, columns: Sequence[str] = CSV_COLUMNS) -> Path:
    """Per-case CSV; NaN is written as `nan` (read back by csv/pandas/numpy as NaN)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: (int(value) if isinstance(value, bool) else value) for key, value in row.items()})
    return path


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; null reads back as "no value"
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def summary_record(result: EvaluationResult, **context) -> dict:
    """JSON-ready summary (NaN as null): context, counts and per-label statistics."""
    return _json_safe(
        {
            **context,
            "n_cases": result.n_cases,
            "labels": result.labels,
            "missing_predictions": result.missing,
            "unmatched_predictions": result.unmatched_predictions,
            "summary": result.summary,
        }
    )


def write_summary_json(result: EvaluationResult, path: str | Path, **context) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary_record(result, **context), indent=2) + "\n")
    return path


def format_summary(summary: Mapping[int, Mapping[str, Mapping[str, float]]]) -> str:
    """Human-readable table: one line per label and metric, mean ± sd and median."""
    lines = []
    for label, metrics in summary.items():
        n = max((stats["n"] for stats in metrics.values()), default=0)
        lines.append(f"label {label} ({n} cases)")
        for name, stats in metrics.items():
            note = f"  ({stats['n_nan']} NaN: one mask empty)" if stats["n_nan"] else ""
            lines.append(f"  {name:<10} {stats['mean']:.4f} ± {stats['sd']:.4f}   median {stats['median']:.4f}{note}")
    return "\n".join(lines)
