"""AdaBN beside the domain-adaptation runs: each finished run's selected model scored on its target's
test split twice, as trained and with its batch-norm statistics taken from the target's unlabelled
training images (`aidemed.engine.inference.adapt_batchnorm`; the images the adaptation run itself
was given, no target masks). Source-only + AdaBN is the cheapest adaptation baseline there is.

    python benchmarks/adabn_reference.py RUN_DIR [RUN_DIR ...] -o OUT_STEM [--flip] [--threads N]

RUN_DIR: finished `aidemed train --setting domain-adaptation` runs that still hold checkpoints/best.pt.
Rows: per method, as trained and + AdaBN; a seed's Dice is the mean over its pooled target test images
(every fold's runs of that seed), then mean ± sd over seeds. Paired Wilcoxon tests over the pooled
images (each image's difference averaged over the seeds both ran) of every row against source-only
(`supervised`) as trained and + AdaBN. Writes OUT.json and OUT.md with the command, machine, wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from aidemed.bench.harness import paired_test
from aidemed.bench.report import mean_sd, write_script_benchmark
from aidemed.data.cache import decode_case
from aidemed.data.manifest import load_dataset
from aidemed.engine.inference import Predictor
from aidemed.engine.run import score_split, summarize_split

SOURCE_ONLY = "supervised"


def score_run(run: Path, flip: bool, stats_from: str = "train") -> dict:
    """Per-image target test Dice of the run's model as trained and after AdaBN on the target's
    training images (`stats_from="test"`: on the test images themselves, as `aidemed predict --adapt-bn`
    does: transductive, still without masks)."""
    cfg = json.loads((run / "config.json").read_text())
    if cfg.get("setting") != "domain-adaptation" or not cfg.get("target_data"):
        raise SystemExit(f"{run}: not a domain-adaptation run (config.json: setting {cfg.get('setting')!r})")
    checkpoint = run / "checkpoints" / "best.pt"
    if not checkpoint.is_file():
        raise SystemExit(f"{checkpoint}: missing; the run's model is needed (results folders keep no checkpoints)")
    target = load_dataset(cfg["target_data"])
    splits = target.load_splits()
    scored = {}
    for mode in ("trained", "adabn"):
        predictor = Predictor.from_checkpoint(checkpoint)
        predictor.flip = flip
        if mode == "adabn":
            predictor.adapt_batchnorm(decode_case(target, target.case(c))[0] for c in splits[stats_from])
        rows = score_split(predictor, target, list(splits["test"]))
        scored[mode] = {"dice": summarize_split(rows)["dice"],
                        "per_image": _per_image(rows, target.root.name)}
    recorded = json.loads((run / "results.json").read_text())["test"]["dice"] if not flip else None
    return {"run": str(run), "method": cfg["method"], "seed": int(cfg["seed"]), "target": cfg["target_data"],
            "recorded_dice": recorded, **{f"{mode}_dice": s["dice"] for mode, s in scored.items()},
            "per_image": {mode: s["per_image"] for mode, s in scored.items()}}


def _per_image(rows: list[dict], prefix: str) -> dict[str, float]:
    """Each case's Dice averaged over its labels, keyed by dataset and case (folds score other images)."""
    per_case: dict[str, list[float]] = {}
    for row in rows:
        per_case.setdefault(f"{prefix}:{row['case']}", []).append(float(row["dice"]))
    return {case: float(np.mean(d)) for case, d in per_case.items()}


def pooled(runs: list[dict], method: str, mode: str) -> dict[int, dict[str, float]]:
    """Per seed, the target test images of every fold that seed ran."""
    by_seed: dict[int, dict[str, float]] = {}
    for r in runs:
        if r["method"] == method:
            by_seed.setdefault(r["seed"], {}).update(r["per_image"][mode])
    return by_seed


def build_rows(runs: list[dict]) -> tuple[list[dict], list[dict]]:
    methods = sorted({r["method"] for r in runs}, key=lambda m: (m != SOURCE_ONLY, m))
    rows, tests = [], []
    for method in methods:
        for mode in ("trained", "adabn"):
            per_image = pooled(runs, method, mode)
            per_seed = {s: float(np.mean(list(images.values()))) for s, images in per_image.items()}
            mean, sd = mean_sd(list(per_seed.values()))
            label = method + (" + AdaBN" if mode == "adabn" else "")
            rows.append({"label": label, "method": method, "mode": mode, "seeds": sorted(per_seed),
                         "n_images": max(len(v) for v in per_image.values()), "dice_mean": mean, "dice_sd": sd,
                         "per_seed": per_seed})
            for reference_mode in ("trained", "adabn"):
                if method == SOURCE_ONLY and (mode, reference_mode) != ("adabn", "trained"):
                    continue
                test = paired_test(per_image, pooled(runs, SOURCE_ONLY, reference_mode))
                if test:
                    reference = SOURCE_ONLY + (" + AdaBN" if reference_mode == "adabn" else "")
                    tests.append({"row": label, "against": reference, **test})
    return rows, tests


def markdown_body(result: dict) -> list[str]:
    lines = ["", "Target test Dice, both folds' test images pooled per seed, then mean ± sd over seeds. "
             + ("AdaBN: batch-norm statistics taken from the target's unlabelled training images of the run's fold"
              if result.get("stats_from", "train") == "train" else
              "AdaBN: batch-norm statistics taken from the target test images themselves (transductive, as "
              "`aidemed predict --adapt-bn`; no masks)")
             + (" (and their mirror images; predictions averaged with the mirrored image)" if result["flip"] else "")
             + ".", "",
             "| row | seeds | test images | target Dice | per seed |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        seeds = ", ".join(f"s{s} {d:.4f}" for s, d in sorted(r["per_seed"].items()))
        lines.append(f"| {r['label']} | {len(r['seeds'])} | {r['n_images']} | {r['dice_mean']:.4f} ± "
                     f"{r['dice_sd']:.4f} | {seeds} |")
    lines += ["", "Paired Wilcoxon signed-rank over the pooled target test images (each image's Dice difference "
              "averaged over the seeds both ran):", "",
              "| row | against | seeds | images | mean difference (points) | median | p |",
              "|---|---|---|---|---|---|---|"]
    for t in result["paired_tests"]:
        lines.append(f"| {t['row']} | {t['against']} | {len(t['seeds'])} | {t['n_images']} | "
                     f"{100 * t['mean_difference']:+.2f} | {100 * t['median_difference']:+.2f} | "
                     f"{t['p_value']:.3g} |")
    lines += ["", "| run | method | seed | recorded test Dice | as trained (re-scored) | + AdaBN |",
              "|---|---|---|---|---|---|"]
    for r in result["runs"]:
        recorded = "–" if r["recorded_dice"] is None else f"{r['recorded_dice']:.4f}"
        lines.append(f"| `{r['run']}` | {r['method']} | {r['seed']} | {recorded} | {r['trained_dice']:.4f} | "
                     f"{r['adabn_dice']:.4f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("-o", "--output", required=True, type=Path, help="OUT stem: writes OUT.json and OUT.md")
    parser.add_argument("--flip", action="store_true", help="also average with the mirrored image's prediction")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    parser.add_argument("--stats-from", choices=("train", "test"), default="train",
                        help="the target split AdaBN takes its statistics from (default train: the images the "
                             "adaptation run was given; test: the images being scored)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    began = time.perf_counter()
    runs = [score_run(run, args.flip, args.stats_from) for run in args.runs]
    if not any(r["method"] == SOURCE_ONLY for r in runs):
        raise SystemExit(f"no {SOURCE_ONLY} (source-only) run among the runs: nothing to compare against")
    rows, tests = build_rows(runs)
    result = {"flip": args.flip, "stats_from": args.stats_from, "rows": rows, "paired_tests": tests,
              "runs": [{k: v for k, v in r.items() if k != "per_image"} for r in runs]}
    print(write_script_benchmark(args.output, "adabn_reference.py", argv, began,
                                 "Domain adaptation with AdaBN beside it", markdown_body(result), **result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
