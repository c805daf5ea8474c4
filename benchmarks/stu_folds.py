"""Two complementary folds of a prepared STU dataset for the BUSI -> STU adaptation benchmark.

Fold k trains on one half of the STU images *without their masks* (domain-adaptation setting) and is
scored on the other half; the halves swap in the other fold, so every STU image is scored once. The
target's val split is never read in that setting; it holds one case of the training half (moved out
of it) only because a prepared dataset must have a non-empty val split.

    python benchmarks/stu_folds.py /work/data/stu -o /work/data   # writes stu-fold0/, stu-fold1/
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path


def make_folds(prepared: Path, out: Path, seed: int = 0) -> list[Path]:
    splits = json.loads((prepared / "splits.json").read_text())
    ids = sorted(splits["train"] + splits["val"] + splits["test"])
    random.Random(seed).shuffle(ids)
    halves = [sorted(ids[: len(ids) // 2]), sorted(ids[len(ids) // 2:])]
    written = []
    for k in (0, 1):
        train, test = list(halves[k]), halves[1 - k]
        val = [train.pop()]
        fold = out / f"{prepared.name}-fold{k}"
        if fold.exists():
            raise SystemExit(f"{fold}: already exists; remove it first")
        shutil.copytree(prepared, fold, ignore=shutil.ignore_patterns("cache", ".cache"))
        new = {**splits, "seed": seed, "fold": k, "train": train, "val": val, "test": test,
               "budgets": {"1": train}}
        (fold / "splits.json").write_text(json.dumps(new, indent=1) + "\n")
        written.append(fold)
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prepared", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for fold in make_folds(args.prepared, args.out, args.seed):
        print(fold)
