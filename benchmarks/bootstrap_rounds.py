"""Test Dice by bootstrap round: each ENTRY is LABEL=SWEEP_FOLDER:METHOD (runs in SWEEP/runs/METHOD-fF-sS).

    python benchmarks/bootstrap_rounds.py --fraction 0.1 --reference REF_SWEEP \\
        "pseudo_label, 1 round=SAME/same_machine:pseudo_label" "aide, 2 rounds=SAME/aide_r2:aide" ... \\
        --pairs "aide, 2 rounds|pseudo_label, 2 rounds" ... -o OUT_STEM

One row per entry: mean ± sd of test Dice over seeds, ÷ the reference sweep's supervised 100% and the
entry's per-seed test Dice; then paired Wilcoxon tests over test images (each image's Dice difference
averaged over the seeds both ran) for the listed pairs. Writes OUT.json and OUT.md with the command.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from aidemed.bench.harness import aggregate, load_results, paired_test, per_image_dice
from aidemed.data.manifest import atomic_write_text


def parse_entry(text: str) -> tuple[str, Path, str]:
    label, _, where = text.partition("=")
    folder, _, method = where.rpartition(":")
    if not label or not folder or not method:
        raise SystemExit(f"{text!r}: expected LABEL=SWEEP_FOLDER:METHOD")
    return label, Path(folder), method


def entry_row(label: str, folder: Path, method: str, fraction: float) -> dict:
    runs = [r for r in load_results(folder)
            if r["config"]["method"] == method and r["config"]["labelled_fraction"] == fraction]
    if not runs:
        raise SystemExit(f"{folder}: no finished {method} runs at fraction {fraction:g}")
    row = aggregate(runs)[0]
    per_seed = {r["config"]["seed"]: r["test"]["dice"] for r in runs}
    return {"label": label, "folder": str(folder), "method": method, "seeds": row["seeds"],
            "dice_mean": row["dice_mean"], "dice_sd": row["dice_sd"], "per_seed": per_seed,
            "median_epoch_seconds": row["median_epoch_seconds"]}


def supervised_full(reference: Path) -> float:
    rows = [r for r in aggregate(load_results(reference)) if r["method"] == "supervised" and r["fraction"] == 1.0]
    if not rows:
        raise SystemExit(f"{reference}: no supervised runs at fraction 1")
    return rows[0]["dice_mean"]


def markdown(result: dict) -> str:
    lines = [f"# Test Dice by bootstrap round, {result['fraction']:g} of the masks", "",
             f"Command: `{result['command']}`", "",
             f"Supervised 100% (the ratio's denominator): {result['supervised_full']:.4f} from "
             f"`{result['reference']}`.", "",
             "| entry | runs | seeds | test Dice (mean ± sd) | ÷ supervised 100% | per seed | s / epoch (median) |",
             "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        seeds = ", ".join(f"s{s} {d:.4f}" for s, d in sorted(r["per_seed"].items()))
        lines.append(f"| {r['label']} | `{r['folder']}` ({r['method']}) | {len(r['seeds'])} | "
                     f"{r['dice_mean']:.4f} ± {r['dice_sd']:.4f} | {r['dice_mean'] / result['supervised_full']:.3f} | "
                     f"{seeds} | {r['median_epoch_seconds']:.1f} |")
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
    parser.add_argument("--reference", type=Path, required=True, help="sweep with supervised at fraction 1")
    parser.add_argument("--pairs", nargs="*", default=[], help="LABEL_A|LABEL_B: test A - B")
    parser.add_argument("-o", "--out", type=Path, required=True, help="writes OUT.json and OUT.md")
    args = parser.parse_args()
    entries = {label: (folder, method) for label, folder, method in map(parse_entry, args.entries)}
    rows = [entry_row(label, folder, method, args.fraction) for label, (folder, method) in entries.items()]
    tests = []
    for pair in args.pairs:
        a, _, b = pair.partition("|")
        if a not in entries or b not in entries:
            raise SystemExit(f"{pair!r}: both sides must be entry labels ({', '.join(entries)})")
        test = paired_test(per_image_dice(entries[a][0], entries[a][1], args.fraction),
                           per_image_dice(entries[b][0], entries[b][1], args.fraction))
        if test:
            tests.append({"comparison": f"{a} - {b}", **test})
    command = " ".join(shlex.quote(w) for w in ["python", *sys.argv])
    result = {"command": command, "fraction": args.fraction, "reference": str(args.reference),
              "supervised_full": supervised_full(args.reference), "rows": rows, "paired_tests": tests}
    atomic_write_text(args.out.with_suffix(".json"), json.dumps(result, indent=2, default=float) + "\n")
    text = markdown(result)
    atomic_write_text(args.out.with_suffix(".md"), text)
    print(text)


if __name__ == "__main__":
    main()
