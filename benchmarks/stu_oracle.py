"""The target-labelled reference for BUSI -> STU: source plus the target's training masks, supervised.

Domain adaptation never sees the target's masks. How far any adaptation method can lift the target's
Dice above the source-only model is bounded in practice by a model that does see them: the same
network trained on the source's training cases *and* the labelled target training cases of the fold,
selected on the source's val split and scored on the fold's target test cases. This script writes, for
one STU fold, a prepared dataset whose train split is BUSI's train plus the fold's STU train (with
masks), val is BUSI's val and test is the fold's STU test; `aidemed bench label-efficiency --methods
supervised --fractions 1.0` on it gives that reference. Its manifest points at the original
files (absolute paths); nothing is copied.
`--target-copies N` lists each labelled target training case N times (ids `CASE~copyK`), so the
20 target images weigh more than 20 of ~470 in each epoch: a second, target-weighted reference.

    python benchmarks/stu_oracle.py /work/data/busi /work/data/stu-fold0 -o /work/data/busi+stu-fold0-labelled
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from aidemed.data.manifest import Case, Dataset, atomic_write_text, load_dataset, write_dataset


def _in_place(dataset: Dataset, case: Case, case_id: str | None = None) -> Case:
    """The case with absolute paths to its dataset's files (read in place), optionally under a new id."""
    return replace(case, id=case_id or case.id, images=[str(p.resolve()) for p in dataset.image_paths(case)],
                   mask=str(dataset.mask_path(case).resolve()))


def _copy_ids(case_id: str, n: int) -> list[str]:
    return [case_id] + [f"{case_id}~copy{k}" for k in range(1, n)]


def combine(source: Path, target: Path, out: Path, target_copies: int = 1) -> Path:
    if target_copies < 1:
        raise SystemExit(f"--target-copies must be at least 1, got {target_copies}")
    if out.exists():
        raise SystemExit(f"{out}: already exists; remove it first")
    src, tgt = load_dataset(source), load_dataset(target)
    clash = {c.id for c in src.cases} & {c.id for c in tgt.cases}
    if clash:
        raise SystemExit(f"{target}: case ids also in {source}: {sorted(clash)[:5]}")
    source_splits, target_splits = src.load_splits(), tgt.load_splits()
    target_train = [_in_place(tgt, tgt.case(c), copy) for c in target_splits["train"]
                    for copy in _copy_ids(c, target_copies)]
    val, test = list(source_splits["val"]), list(target_splits["test"])
    cases = [_in_place(src, src.case(c)) for c in source_splits["train"] + val]
    cases += target_train + [_in_place(tgt, tgt.case(c)) for c in test]
    combined_from = {"source": str(source.resolve()), "target": str(target.resolve())}
    write_dataset(out, replace(src.info, name=out.name, extra={"combined_from": combined_from}), cases)
    train = list(source_splits["train"]) + [c.id for c in target_train]
    splits = {**source_splits, "train": train, "val": val, "test": test, "budgets": {"1": train},
              "combined_from": combined_from}
    atomic_write_text(out / "splits.json", json.dumps(splits, indent=1) + "\n")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--target-copies", type=int, default=1)
    args = parser.parse_args()
    print(combine(args.source, args.target, args.out, args.target_copies))
