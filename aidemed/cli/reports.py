"""`aidemed reports ...`: label radiology reports with graded certainty."""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    reports = subparsers.add_parser("reports", help="label radiology reports (CheXpert-style, graded)")
    sub = reports.add_subparsers(dest="reports_command", metavar="ACTION")

    label = sub.add_parser(
        "label",
        help="label every report of a CSV file",
        description="Label every row of INPUT.csv; one output row per input row, in order. "
        "One --text-col is read as a free-text report split into sections (see --sections); "
        "several are read as sections already, each labelled whole.",
    )
    label.add_argument("input", metavar="INPUT.csv")
    label.add_argument("--text-col", action="append", default=[], metavar="COLUMN",
                       help="column holding report text; repeat for several (default: report/text)")
    label.add_argument("-o", "--output", default="-", help="output file (default: standard output)")
    label.add_argument("--format", choices=("chexpert", "graded", "jsonl"), default="chexpert",
                       help="chexpert: 1/0/-1/blank; graded: scores in [0, 1]; jsonl: labels, scores and evidence")
    label.add_argument("--vocab", default="chexpert",
                       help="built-in vocabulary (chexpert, chestxray14, breast_ultrasound) or a YAML file")
    label.add_argument("--sections", default="findings,impression",
                       help="sections of a free-text report to label, comma-separated, or 'all'")
    label.add_argument("--id-col", default=None, help="copy this input column as the first output column")
    label.add_argument("--jobs", type=int, default=1, help="worker processes (0: one per core)")
    label.set_defaults(func=_label)


def _label(args) -> int:
    from aidemed.data.io import DataError
    from aidemed.reports.io import label_csv
    from aidemed.reports.vocab import VocabularyError

    sections = None if args.sections.strip().lower() == "all" else tuple(
        s.strip().lower() for s in args.sections.split(",") if s.strip()
    )
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8", newline="")
    try:
        stats = label_csv(
            args.input,
            out,
            text_columns=tuple(args.text_col),
            fmt=args.format,
            vocabulary=args.vocab,
            sections=sections,
            id_column=args.id_col,
            jobs=args.jobs,
        )
    except VocabularyError as exc:
        raise DataError(str(exc)) from None
    except BrokenPipeError:  # `... | head`: the reader has seen enough
        sys.stderr.close()
        return 0
    finally:
        if out is not sys.stdout:
            out.close()
    if stats.replaced_bytes:
        print(
            f"aidemed: warning: {args.input}: {stats.replaced_bytes} undecodable byte(s) replaced with U+FFFD",
            file=sys.stderr,
        )
    where = "" if args.output == "-" else f" -> {args.output}"
    print(f"labelled {stats.rows} report(s){where}", file=sys.stderr)
    return 0
