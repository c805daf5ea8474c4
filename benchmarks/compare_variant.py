"""Put a method variant swept in its own folder (e.g. AIDE with --method-arg beta=5) beside a sweep's
runs: one table of test Dice, the headline figures (÷ supervised 100%, margins, epoch cost) and paired
Wilcoxon tests of the variant against every method of the main sweep, on the seeds both ran.

    python benchmarks/compare_variant.py MAIN_SWEEP VARIANT_SWEEP --name "aide beta=5" -o OUT_STEM
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from aidemed.bench.harness import (_headline_markdown, aggregate, headline, load_results, markdown_table,
                                   paired_test, per_image_dice)
from aidemed.data.manifest import atomic_write_text


def compare(main: Path, variant: Path, name: str) -> dict:
    runs = load_results(main)
    extra = load_results(variant)
    method = {r["config"]["method"] for r in extra}
    if len(method) != 1:
        raise SystemExit(f"{variant}: expected runs of one method, found {sorted(method) or 'none'}")
    method = method.pop()
    for r in extra:
        r["config"] = {**r["config"], "method": name}
    tests = []
    for fraction in sorted({r["config"]["labelled_fraction"] for r in extra}):
        ours = per_image_dice(variant, method, fraction)
        for other in sorted({r["config"]["method"] for r in runs if r["config"]["labelled_fraction"] == fraction}):
            test = paired_test(ours, per_image_dice(main, other, fraction))
            if test:
                tests.append({"fraction": fraction, "comparison": f"{name} - {other}", **test})
    rows = aggregate(runs + extra)
    return {"rows": rows, "headline": headline(rows, method=name), "paired_tests": tests,
            "main": str(main), "variant": str(variant), "name": name}


def markdown(result: dict, command: str) -> str:
    lines = [f"# {result['name']} beside `{result['main']}`", "", f"Command: `{command}`", "",
             markdown_table(result["rows"]), "", *_headline_markdown(result["headline"]),
             "Paired Wilcoxon signed-rank tests over test images (each image's Dice averaged over the seeds both ran):", "",
             "| fraction | comparison | seeds | images | mean Dice difference | median | p |", "|---|---|---|---|---|---|---|"]
    for t in result["paired_tests"]:
        lines.append(f"| {t['fraction']:g} | {t['comparison']} | {' '.join(map(str, t['seeds']))} | {t['n_images']} | "
                     f"{t['mean_difference']:+.4f} | {t['median_difference']:+.4f} | {t['p_value']:.3g} |")
    lines += ["", f"Training commands, machine and config: `{result['main']}/summary.md`, `{result['variant']}/summary.md`.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("main", type=Path)
    parser.add_argument("variant", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("-o", "--out", type=Path, required=True, help="writes OUT.json and OUT.md")
    args = parser.parse_args()
    command = " ".join(shlex.quote(w) for w in ["python", *sys.argv])
    result = {**compare(args.main, args.variant, args.name), "command": command}
    atomic_write_text(args.out.with_suffix(".json"), json.dumps(result, indent=2, default=float) + "\n")
    text = markdown(result, command)
    atomic_write_text(args.out.with_suffix(".md"), text)
    print(text)
