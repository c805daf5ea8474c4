"""Precision@k of every ranking in a set of `aidemed audit` outputs (audit.json), one row per audit.

    python benchmarks/audit_rankings.py NAME=AUDIT_DIR ... -o OUT [--title T]

Writes OUT.md (per audit and the mean per group, groups being NAME up to its last '-', e.g. 'mixed25'
for 'mixed25-s0') and OUT.json, with the command line at the top. Also counts, per ranking, the audits
where it is at least cleanlab's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from aidemed.bench.report import write_script_benchmark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audits", nargs="+", metavar="NAME=AUDIT_DIR")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--title", default="Audit rankings: precision@k at finding the corrupted masks")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    rows = []
    for item in args.audits:
        name, _, folder = item.partition("=")
        path = Path(folder) / "audit.json"
        if not path.is_file():
            raise SystemExit(f"{path}: missing (run `aidemed audit` first)")
        summary = json.loads(path.read_text())
        if "precision_at_k" not in summary:
            raise SystemExit(f"{path}: no precision@k (the dataset has no noise records)")
        scores = {k: v for k, v in summary["precision_at_k"].items() if isinstance(v, (int, float))}
        rows.append({"name": name, "group": name.rsplit("-", 1)[0], "k": summary["k"], "flip": summary.get("flip"),
                     "precision_at_k": scores,
                     "recall_by_corruption": summary["recall_at_k_by_corruption"]})
    rankings = [r for r in rows[0]["precision_at_k"] if all(r in x["precision_at_k"] for x in rows)]
    groups = sorted({r["group"] for r in rows}, key=[r["group"] for r in rows].index)
    means = {g: {k: float(np.mean([r["precision_at_k"][k] for r in rows if r["group"] == g])) for k in rankings}
             for g in groups}
    versus_cleanlab = {k: sum(r["precision_at_k"][k] >= r["precision_at_k"]["cleanlab"] for r in rows)
                       for k in rankings if "cleanlab" in rankings}
    lines = ["", "| audit | k | " + " | ".join(rankings) + " |", "|---|---|" + "---|" * len(rankings)]
    for r in rows:
        best = max(r["precision_at_k"][k] for k in rankings)
        cells = [(f"**{r['precision_at_k'][k]:.3f}**" if r["precision_at_k"][k] == best else f"{r['precision_at_k'][k]:.3f}")
                 for k in rankings]
        lines.append(f"| {r['name']} | {r['k']} | " + " | ".join(cells) + " |")
    for g in groups:
        lines.append(f"| mean {g} | | " + " | ".join(f"{means[g][k]:.3f}" for k in rankings) + " |")
    if versus_cleanlab:
        lines += ["", f"Audits (of {len(rows)}) where the ranking's precision@k is at least cleanlab's: "
                  + ", ".join(f"{k} {n}" for k, n in versus_cleanlab.items() if k != "cleanlab") + "."]
    kinds = sorted({kind for r in rows for kind in r["recall_by_corruption"][rankings[0]]})
    lines += ["", "Found in the top k, by corruption (summed over the audits; found / cases):", "",
              "| ranking | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for k in rankings:
        cells = []
        for kind in kinds:
            found = sum(r["recall_by_corruption"][k].get(kind, {}).get("found", 0) for r in rows)
            n = sum(r["recall_by_corruption"][k].get(kind, {}).get("n", 0) for r in rows)
            cells.append(f"{found}/{n}")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    print(write_script_benchmark(Path(args.output), "audit_rankings.py", argv, began, args.title, lines,
                                 audits=rows, mean_by_group=means, at_least_cleanlab=versus_cleanlab))
    return 0


if __name__ == "__main__":
    sys.exit(main())
