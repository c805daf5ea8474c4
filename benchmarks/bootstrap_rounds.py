"""Test Dice by bootstrap round: each ENTRY is LABEL=SWEEP_FOLDER:METHOD (runs in SWEEP/runs/METHOD-fF-sS),
or LABEL=FOLDER_A+FOLDER_B:METHOD to pool the test images of several sweeps (the folds of an adaptation
benchmark, each scoring other images), or LABEL=A0+A1,B0+B1:METHOD to take the seeds of A0+A1 and those
of B0+B1 together (seeds run in different sessions; a seed in both is an error).

    python benchmarks/bootstrap_rounds.py --fraction 0.1 --reference REF_SWEEP \\
        "pseudo_label, 1 round=SAME/same_machine:pseudo_label" "aide, 2 rounds=SAME/aide_r2:aide" ... \\
        --pairs "aide, 2 rounds|pseudo_label, 2 rounds" ... -o OUT_STEM

One row per entry: mean ± sd of test Dice over seeds (a seed's Dice: the mean over its pooled test images),
÷ the reference sweep's supervised 100% (when --reference is given) and the entry's per-seed test Dice;
then paired Wilcoxon tests over test images (each image's Dice difference averaged over the seeds both
ran) for the listed pairs. Writes OUT.json and OUT.md with the command.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from aidemed.bench.harness import aggregate, load_results, paired_test, per_image_dice
from aidemed.bench.report import mean_sd
from aidemed.data.manifest import atomic_write_text


def parse_entry(text: str) -> tuple[str, list[list[Path]], str]:
    """LABEL, the groups of folders (comma-separated groups of '+'-joined folders) and METHOD."""
    label, _, where = text.partition("=")
    folders, _, method = where.rpartition(":")
    if not label or not folders or not method:
        raise SystemExit(f"{text!r}: expected LABEL=SWEEP_FOLDER:METHOD")
    return label, [[Path(f) for f in group.split("+")] for group in folders.split(",")], method


def _folders_text(groups: list[list[Path]]) -> str:
    return ",".join("+".join(map(str, group)) for group in groups)


def pooled_per_image_dice(groups: list[list[Path]], method: str, fraction: float) -> dict[int, dict[str, float]]:
    """Per seed, the test Dice of every image of a group's folders (seeds that all of them ran), the
    groups' seeds side by side."""
    pooled: dict[int, dict[str, float]] = {}
    for group in groups:
        per_folder = [per_image_dice(folder, method, fraction) for folder in group]
        for seed in sorted(set.intersection(*(set(d) for d in per_folder))):
            if seed in pooled:
                raise SystemExit(f"{_folders_text(groups)}: seed {seed} of {method} is in more than one group")
            pooled[seed] = {f"{i}:{case}": dice for i, d in enumerate(per_folder) for case, dice in d[seed].items()}
    return pooled


def entry_row(label: str, groups: list[list[Path]], method: str, fraction: float) -> dict:
    runs = [r for group in groups for folder in group for r in load_results(folder)
            if r["config"]["method"] == method and r["config"]["labelled_fraction"] == fraction]
    per_image = pooled_per_image_dice(groups, method, fraction)
    if not runs or not per_image:
        raise SystemExit(f"{_folders_text(groups)}: no finished {method} runs at fraction {fraction:g}"
                         + (" for a seed that every folder ran" if runs else ""))
    if len({len(images) for images in per_image.values()}) > 1:
        raise SystemExit(f"{_folders_text(groups)}: the seeds of {method} score different numbers of test images")
    per_seed = {seed: float(np.mean(list(images.values()))) for seed, images in per_image.items()}
    dice_mean, dice_sd = mean_sd(list(per_seed.values()))
    return {"label": label, "folder": _folders_text(groups), "method": method, "seeds": sorted(per_seed),
            "n_images": len(next(iter(per_image.values()))), "dice_mean": dice_mean, "dice_sd": dice_sd,
            "per_seed": per_seed, "median_epoch_seconds": aggregate(runs)[0]["median_epoch_seconds"]}


def supervised_full(reference: Path) -> float:
    rows = [r for r in aggregate(load_results(reference)) if r["method"] == "supervised" and r["fraction"] == 1.0]
    if not rows:
        raise SystemExit(f"{reference}: no supervised runs at fraction 1")
    return rows[0]["dice_mean"]


def markdown(result: dict) -> str:
    full = result["supervised_full"]
    title = result.get("title") or f"Test Dice by bootstrap round, {result['fraction']:g} of the masks"
    lines = [f"# {title}", "",
             f"Command: `{result['command']}`", ""]
    if full is not None:
        lines += [f"Supervised 100% (the ratio's denominator): {full:.4f} from `{result['reference']}`.", ""]
    lines += ["| entry | runs | seeds | test images | test Dice (mean ± sd) | ÷ supervised 100% | per seed | "
              "s / epoch (median) |", "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        seeds = ", ".join(f"s{s} {d:.4f}" for s, d in sorted(r["per_seed"].items()))
        ratio = f"{r['dice_mean'] / full:.3f}" if full is not None else "–"
        lines.append(f"| {r['label']} | `{r['folder']}` ({r['method']}) | {len(r['seeds'])} | {r['n_images']} | "
                     f"{r['dice_mean']:.4f} ± {r['dice_sd']:.4f} | {ratio} | {seeds} | "
                     f"{r['median_epoch_seconds']:.1f} |")
    lines += ["", "Paired Wilcoxon signed-rank tests over test images (seeds both ran):", "",
              "| comparison | seeds | images | mean Dice difference | median | p |", "|---|---|---|---|---|---|"]
    for t in result["paired_tests"]:
        lines.append(f"| {t['comparison']} | {' '.join(map(str, t['seeds']))} | {t['n_images']} | "
                     f"{t['mean_difference']:+.4f} | {t['median_difference']:+.4f} | {t['p_value']:.3g} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("entries", nargs="+", help="LABEL=SWEEP_FOLDER:METHOD")
    parser.add_argument("--fraction", type=float, required=True)
    parser.add_argument("--reference", type=Path, default=None,
                        help="sweep with supervised at fraction 1, the ratio's denominator")
    parser.add_argument("--title", default="", help="the table's heading (default: by bootstrap round at the fraction)")
    parser.add_argument("--pairs", nargs="*", default=[], help="LABEL_A|LABEL_B: test A - B")
    parser.add_argument("-o", "--out", type=Path, required=True, help="writes OUT.json and OUT.md")
    args = parser.parse_args()
    entries = {label: (folders, method) for label, folders, method in map(parse_entry, args.entries)}
    rows = [entry_row(label, folders, method, args.fraction) for label, (folders, method) in entries.items()]
    tests = []
    for pair in args.pairs:
        a, _, b = pair.partition("|")
        if a not in entries or b not in entries:
            raise SystemExit(f"{pair!r}: both sides must be entry labels ({', '.join(entries)})")
        test = paired_test(pooled_per_image_dice(*entries[a], args.fraction),
                           pooled_per_image_dice(*entries[b], args.fraction))
        if test:
            tests.append({"comparison": f"{a} - {b}", **test})
    command = " ".join(shlex.quote(w) for w in ["python", *sys.argv])
    result = {"command": command, "title": args.title, "fraction": args.fraction,
              "reference": str(args.reference or ""),
              "supervised_full": supervised_full(args.reference) if args.reference else None,
              "rows": rows, "paired_tests": tests}
    atomic_write_text(args.out.with_suffix(".json"), json.dumps(result, indent=2, default=float) + "\n")
    text = markdown(result)
    atomic_write_text(args.out.with_suffix(".md"), text)
    print(text)


if __name__ == "__main__":
    main()
