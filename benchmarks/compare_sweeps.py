"""Two label-efficiency sweeps of the same runs under different settings (e.g. the training augmentation),
run by run: test Dice of each (mean ± sd over seeds), the change, a paired Wilcoxon test over test images,
and AIDE's ratio to supervised at 100% within each sweep.

    python benchmarks/compare_sweeps.py BASE_SWEEP VARIANT_SWEEP --base-name default --variant-name strong -o OUT

Writes OUT.md and OUT.json (with the command, the machine and the wall time). Only (method, fraction) pairs
that both sweeps finished are compared, on the seeds both ran; the others are listed as missing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from aidemed.bench.harness import aggregate, load_results, paired_test, per_image_dice
from aidemed.bench.report import write_script_benchmark


def by_key(rows: list[dict]) -> dict[tuple[str, float], dict]:
    return {(r["method"], r["fraction"]): r for r in rows}


def ratio_to_full(rows: dict, method: str, fraction: float) -> float | None:
    full = rows.get(("supervised", 1.0))
    ours = rows.get((method, fraction))
    return ours["dice_mean"] / full["dice_mean"] if full and ours else None


def compare(base: Path, variant: Path) -> dict:
    base_rows, variant_rows = by_key(aggregate(load_results(base))), by_key(aggregate(load_results(variant)))
    if not base_rows or not variant_rows:
        raise SystemExit(f"{base if not base_rows else variant}: no finished runs")
    pairs = []
    for key in sorted(set(base_rows) & set(variant_rows), key=lambda k: (k[1], k[0])):
        method, fraction = key
        test = paired_test(per_image_dice(variant, method, fraction), per_image_dice(base, method, fraction))
        b, v = base_rows[key], variant_rows[key]
        pairs.append({"method": method, "fraction": fraction, "base_seeds": b["seeds"], "variant_seeds": v["seeds"],
                      "base_dice": b["dice_mean"], "base_sd": b["dice_sd"], "variant_dice": v["dice_mean"],
                      "variant_sd": v["dice_sd"], "difference": v["dice_mean"] - b["dice_mean"],
                      "base_hd95": b["hd95_mean"], "variant_hd95": v["hd95_mean"],
                      "base_ratio_to_full": ratio_to_full(base_rows, method, fraction),
                      "variant_ratio_to_full": ratio_to_full(variant_rows, method, fraction),
                      "paired_test": test})
    missing = sorted(f"{m} {f:g}" for m, f in set(base_rows) ^ set(variant_rows))
    return {"pairs": pairs, "missing_in_one": missing}


def table(result: dict, base_name: str, variant_name: str) -> list[str]:
    def fmt(x, spec=".4f"):
        return "-" if x is None else format(x, spec)

    lines = ["", f"| method | fraction | seeds | {base_name} | {variant_name} | change (points) | paired p (images) "
             f"| HD95 {base_name} | HD95 {variant_name} | ÷ supervised 100%, {base_name} | ÷ supervised 100%, {variant_name} |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in result["pairs"]:
        t = p["paired_test"]
        seeds = " ".join(map(str, sorted(set(p["base_seeds"]) & set(p["variant_seeds"]))))
        lines.append(f"| {p['method']} | {p['fraction']:g} | {seeds} | {p['base_dice']:.4f} ± {p['base_sd']:.4f} | "
                     f"{p['variant_dice']:.4f} ± {p['variant_sd']:.4f} | {100 * p['difference']:+.2f} | "
                     f"{fmt(t and t['p_value'], '.3g')} | {p['base_hd95']:.2f} | {p['variant_hd95']:.2f} | "
                     f"{fmt(p['base_ratio_to_full'], '.3f')} | {fmt(p['variant_ratio_to_full'], '.3f')} |")
    if result["missing_in_one"]:
        lines += ["", "Finished in only one of the sweeps (not compared): " + ", ".join(result["missing_in_one"])]
    lines += ["", "Dice: mean ± sd over seeds of each run's test mean. Paired p: Wilcoxon signed-rank over the test "
              "images, each image's Dice change averaged over the seeds both sweeps ran."]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path)
    parser.add_argument("variant", type=Path)
    parser.add_argument("--base-name", default="base")
    parser.add_argument("--variant-name", default="variant")
    parser.add_argument("--title", default="")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    for sweep in (args.base, args.variant):
        if not (sweep / "runs").is_dir():
            raise SystemExit(f"{sweep}: not a sweep folder (no runs/)")
    result = compare(args.base, args.variant)
    title = args.title or f"{args.variant_name} against {args.base_name}, run by run"
    print(write_script_benchmark(Path(args.output), "compare_sweeps.py", argv, began, title,
                                 table(result, args.base_name, args.variant_name), base=str(args.base),
                                 variant=str(args.variant), **result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
