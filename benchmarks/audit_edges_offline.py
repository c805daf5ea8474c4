"""The audit's image-edge rankings on audits made before they existed: precision@k from audit.csv files.

    python benchmarks/audit_edges_offline.py --data NOISY_DATASET NAME=AUDIT_CSV ... -o OUT [--title T]

`edge_alignment` needs only the images and the given masks, so it is computed here from the dataset
(at the standard profile's size, as `aidemed audit` does for a standard-profile run) and combined with
the model-based scores that each audit.csv kept. Rankings: aidemed_disagreement, aidemed_confident and
cleanlab (when the csv has them), image_edges, and each model ranking + edges (ranks summed, as the
audit's `aidemed_confident+edges`). Writes OUT.md and OUT.json with the command.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch

from aidemed.audit import edge_alignment, order_by, precision_at_k, rank_sum
from aidemed.data.cache import load_arrays
from aidemed.bench.report import write_script_benchmark
from aidemed.data.manifest import load_dataset

MODEL_SCORES = {"aidemed_disagreement": ("disagreement", 1), "aidemed_confident": ("confident_disagreement", 1),
                "cleanlab": ("cleanlab_score", -1)}  # column, sign that makes higher = more suspect


def edges_of(dataset_dir: str, profile: str) -> dict[str, float]:
    arrays = load_arrays(load_dataset(dataset_dir), profile)
    case_ids, case_index = np.unique(arrays.case_ids, return_inverse=True)
    scores = edge_alignment(torch.from_numpy(arrays.images), torch.from_numpy(arrays.masks.astype(np.int64)),
                            torch.from_numpy(case_index.astype(np.int64)), len(case_ids))
    return dict(zip(map(str, case_ids), scores.tolist()))


def rankings_of(rows: list[dict], edges: dict[str, float]) -> dict[str, list[str]]:
    cases = [r["case"] for r in rows]
    edge = np.array([edges[c] for c in cases])
    out = {}
    for name, (column, sign) in MODEL_SCORES.items():
        if column in rows[0] and rows[0][column] != "":
            suspicion = sign * np.array([float(r[column]) for r in rows])
            out[name] = [cases[i] for i in order_by(-suspicion)]
            out[f"{name}+edges"] = [cases[i] for i in order_by(-rank_sum(suspicion, -edge))]
    out["image_edges"] = [cases[i] for i in order_by(np.nan_to_num(edge, nan=np.inf))]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audits", nargs="+", metavar="NAME=AUDIT_CSV")
    parser.add_argument("--data", required=True, help="the noisy dataset the audited runs trained on")
    parser.add_argument("--profile", default="standard")
    parser.add_argument("--title", default="")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    edges = edges_of(args.data, args.profile)
    results = []
    for item in args.audits:
        name, _, path = item.partition("=")
        rows = list(csv.DictReader(open(path)))
        if not rows or "corrupted" not in rows[0]:
            raise SystemExit(f"{path}: no audited rows with noise records")
        missing = [r["case"] for r in rows if r["case"] not in edges]
        if missing:
            raise SystemExit(f"{path}: cases not in {args.data}: {', '.join(missing[:5])}")
        positives = {r["case"] for r in rows if r["corrupted"] == "True"}
        results.append({"name": name, "audit_csv": path, "k": len(positives),
                        "precision_at_k": {n: precision_at_k(ids, positives)
                                           for n, ids in rankings_of(rows, edges).items()}})
    names = [n for n in results[0]["precision_at_k"] if all(n in r["precision_at_k"] for r in results)]
    means = {n: float(np.mean([r["precision_at_k"][n] for r in results])) for n in names}
    lines = ["", "| audit | k | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for r in results:
        lines.append(f"| {r['name']} | {r['k']} | " + " | ".join(f"{r['precision_at_k'][n]:.3f}" for n in names) + " |")
    lines.append("| mean | | " + " | ".join(f"{means[n]:.3f}" for n in names) + " |")
    title = args.title or "Audit rankings with the image-edge score, from earlier audits"
    print(write_script_benchmark(Path(args.output), "audit_edges_offline.py", argv, began, title, lines,
                                 data=args.data, audits=results, mean=means))
    return 0


if __name__ == "__main__":
    sys.exit(main())
