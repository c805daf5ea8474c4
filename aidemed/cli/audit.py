"""`aidemed audit RUN_DIR`: rank a run's training masks for expert review (see aidemed.audit)."""

from __future__ import annotations

RANK_BY = ("disagreement", "confident", "edges", "disagreement+edges", "confident+edges")  # aidemed.audit.RANK_BY's keys; importing it here would load torch for every command


def register(subparsers) -> None:
    audit = subparsers.add_parser(
        "audit", help="rank a run's training masks by the model's disagreement; gallery for expert review",
        description="Rank the given (non-trusted) training masks of a finished run by 1 - Dice between the "
                    "model's mask and the given mask together with how far the mask's outline strays from the "
                    "image's edges, list which labels AIDE replaced and when, and write "
                    "audit.csv, audit.json, gallery/*.png and gallery.html. audit.csv also holds the soft score and "
                    "the confident disagreement (each differing pixel weighted by the model's margin) and the "
                    "outline's fit to the image's edges. On a "
                    "dataset from `aidemed data corrupt`, also report precision@k of each ranking at finding "
                    "the corrupted masks (and cleanlab's, when installed: pip install aidemed[audit]).")
    audit.add_argument("run", metavar="RUN_DIR", help="a finished training run folder")
    audit.add_argument("-o", "--output", default=None, help="output folder (default RUN_DIR/audit)")
    audit.add_argument("--top", type=int, default=12, help="gallery images for the N most suspect masks")
    audit.add_argument("--model", default="best", choices=("best", "last"),
                       help="best: the selected model (best.pt); last: all networks of last.pt averaged")
    audit.add_argument("--all-given", action="store_true",
                       help="also audit trusted (ground-truth) masks, e.g. of a semi-supervised run")
    audit.add_argument("--gross-below", type=float, default=0.9,
                       help="on a corrupted dataset, also score the rankings on the corruptions whose mask has "
                            "Dice below this against the clean mask (default 0.9)")
    audit.add_argument("--cross-fit", type=int, default=0, metavar="K",
                       help="rank with out-of-sample probabilities: K supervised models (the run's network and "
                            "schedule), each trained without one fold of the audited masks, predict that fold; "
                            "fold runs are kept in OUT/crossfit (default 0: the run's own model)")
    audit.add_argument("--ensemble", nargs="+", default=[], metavar="RUN_DIR",
                       help="more finished runs on the same training data (other seeds or methods) whose models "
                            "are averaged with the run's: fewer of one model's own mistakes on right masks")
    audit.add_argument("--flip", action="store_true",
                       help="average each prediction with the horizontally mirrored image's (test-time "
                            "augmentation; measured to raise every ranking's precision@k, docs/robustness.md)")
    audit.add_argument("--rank-by", default="disagreement+edges", choices=RANK_BY,
                       help="order of audit.csv and the gallery: disagreement+edges (default: the ranks of the "
                            "model's disagreement and of the outline's misfit to the image's edges summed; measured "
                            "best on BUSI, docs/robustness.md), disagreement, confident (the disagreement weighted by "
                            "the model's confidence), edges (worst fit first) or confident+edges")
    audit.add_argument("--device", default="auto")
    audit.set_defaults(func=_audit)


def _audit(args) -> int:
    from pathlib import Path

    from aidemed.audit import RANK_BY as RANKINGS, audit_run

    out = Path(args.output) if args.output else Path(args.run) / "audit"
    summary = audit_run(args.run, out, top=args.top, model=args.model, device=args.device,
                        include_trusted=args.all_given, gross_below=args.gross_below,
                        cross_fit=args.cross_fit, ensemble=args.ensemble, flip=args.flip,
                        rank_by=args.rank_by)
    print(f"{out}: {summary['n_audited']} masks ranked (audit.csv) with {summary['probabilities']} probabilities"
          f"{' (with the mirrored image)' if summary['flip'] else ''}, "
          f"{len(summary['gallery'])} in gallery.html; "
          f"{summary['n_corrected_by_aide']} corrected by AIDE")
    if "precision_at_k" in summary:
        parts = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in summary["precision_at_k"].items())
        print(f"{summary['n_corrupted']} corrupted masks; precision@{summary['k']}: {parts}")
        if "precision_at_k_gross" in summary:
            parts = ", ".join(f"{k} {v:.3f}" for k, v in summary["precision_at_k_gross"].items() if isinstance(v, float))
            print(f"{summary['n_gross']} of them gross (Dice vs clean < {summary['gross_below']}); "
                  f"precision@{summary['n_gross']} on those, the subtler ones left out: {parts}")
        ranking = RANKINGS[summary["rank_by"]][0]
        found = summary["recall_at_k_by_corruption"][ranking]
        print(f"found in the top k by corruption ({ranking}): "
              + ", ".join(f"{kind} {e['found']}/{e['n']}" for kind, e in found.items()))
    elif summary["cleanlab"] != "installed":
        print("cleanlab not installed (pip install aidemed[audit]): no cleanlab comparison")
    return 0
