"""`aidemed evaluate PRED_DIR GT_DIR`: per-case segmentation metrics and their summary."""

from __future__ import annotations

import argparse


def _foreground_label(text: str) -> int:
    label = int(text)
    if label <= 0:
        raise argparse.ArgumentTypeError(f"{text}: labels are foreground classes (> 0); background is not scored")
    return label


def register(subparsers) -> None:
    evaluate = subparsers.add_parser(
        "evaluate",
        help="score predicted masks against ground truth (Dice, IoU, precision, recall, HD95, ASSD)",
        description=(
            "Pair the masks of PRED_DIR and GT_DIR by file name without suffix (.png, .nii.gz, ...), "
            "score every ground-truth case and print mean ± sd and median per label. Distances are in "
            "physical units: NIfTI spacing comes from the ground truth's header, 2D images use --spacing "
            "(default 1). Empty-mask rules: see docs/metrics.md."
        ),
    )
    evaluate.add_argument("pred_dir", metavar="PRED_DIR")
    evaluate.add_argument("gt_dir", metavar="GT_DIR")
    evaluate.add_argument("-o", "--output", metavar="CSV", help="write one row per case and label to this CSV")
    evaluate.add_argument("--json", metavar="PATH", help="write the summary (NaN as null) to this JSON file")
    evaluate.add_argument(
        "--labels", type=_foreground_label, nargs="+", metavar="LABEL",
        help="foreground labels to score (default: every non-zero label found in the files)",
    )
    evaluate.add_argument(
        "--spacing", type=float, nargs=2, metavar=("SY", "SX"),
        help="pixel spacing of 2D image masks (PNG etc.); NIfTI files use their header",
    )
    evaluate.add_argument(
        "--allow-missing", action="store_true",
        help="score ground-truth cases without a prediction as empty predictions instead of failing",
    )
    evaluate.set_defaults(func=_evaluate)


def _evaluate(args) -> int:
    import sys

    from aidemed.metrics.evaluate import evaluate_folders, format_summary, write_rows_csv, write_summary_json

    result = evaluate_folders(
        args.pred_dir, args.gt_dir, labels=args.labels, spacing_2d=args.spacing, allow_missing=args.allow_missing
    )
    print(f"{result.n_cases} cases, labels {' '.join(map(str, result.labels))}")
    if result.missing:
        print(f"{len(result.missing)} cases had no prediction and were scored as empty: {', '.join(result.missing)}")
    if result.unmatched_predictions:
        print(
            f"note: {len(result.unmatched_predictions)} predictions have no ground truth and were ignored: "
            f"{', '.join(result.unmatched_predictions[:10])}{' ...' if len(result.unmatched_predictions) > 10 else ''}",
            file=sys.stderr,
        )
    print(format_summary(result.summary))
    if args.output:
        print(f"per-case results: {write_rows_csv(result.rows, args.output)}")
    if args.json:
        path = write_summary_json(result, args.json, pred_dir=str(args.pred_dir), gt_dir=str(args.gt_dir))
        print(f"summary: {path}")
    return 0
