"""Projected wall time of the whole label-efficiency sweep from a sweep's measured runs.

    python benchmarks/sweep_cost.py benchmarks/results/busi_label_efficiency_unet_base_bf16 \
        [--fractions 0.05 0.1 0.25] [--seeds 3] [--jobs 2]

Each method's cost per run is its runs' epoch count x its median epoch time over the runs it has (the
median is robust to epochs slowed by other jobs on a shared machine); the projection is the sum over
the issue's cells (supervised at every fraction and at 1.0, every other method at every fraction, each
seed) divided by the jobs run side by side. It prints a Markdown table and writes it, with the command,
to sweep_cost.md, and the figures to sweep_cost.json, in the sweep's folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def project(rows: list[dict], fractions: list[float], seeds: int, jobs: int) -> dict:
    epochs = defaultdict(list)
    for row in rows:
        epochs[row["method"]].append(float(row["median_epoch_seconds"]))
    epoch_count = {row["method"]: float(row["train_seconds"]) / float(row["seconds_per_epoch"]) for row in rows}
    per_method = {}
    for method, values in sorted(epochs.items()):
        cells = (len(fractions) + 1 if method == "supervised" else len(fractions)) * seeds
        per_run = statistics.median(values) * epoch_count[method]
        per_method[method] = {"median_epoch_seconds": statistics.median(values), "runs_measured": len(values),
                              "seconds_per_run": per_run, "cells": cells, "seconds": per_run * cells}
    total = sum(m["seconds"] for m in per_method.values())
    return {"fractions": fractions, "seeds": seeds, "jobs": jobs, "methods": per_method,
            "total_run_seconds": total, "projected_wall_seconds": total / jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.1, 0.25])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    rows = list(csv.DictReader((args.sweep / "runs.csv").open()))
    if not rows:
        raise SystemExit(f"{args.sweep / 'runs.csv'}: no finished runs")
    result = project(rows, args.fractions, args.seeds, args.jobs)
    (args.sweep / "sweep_cost.json").write_text(json.dumps(result, indent=2) + "\n")
    command = " ".join(shlex.quote(w) for w in ["python", *sys.argv])
    lines = [f"Command: `{command}`", "",
             "| method | runs measured | median s / epoch | min / run | runs in the sweep | min |", "|---|---|---|---|---|---|"]
    for method, m in result["methods"].items():
        lines.append(f"| {method} | {m['runs_measured']} | {m['median_epoch_seconds']:.1f} | "
                     f"{m['seconds_per_run'] / 60:.1f} | {m['cells']} | {m['seconds'] / 60:.0f} |")
    lines += ["", f"All runs: {result['total_run_seconds'] / 3600:.2f} h of training; with {args.jobs} jobs side by "
              f"side: {result['projected_wall_seconds'] / 3600:.2f} h."]
    text = "\n".join(lines) + "\n"
    (args.sweep / "sweep_cost.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
