"""The target-labelled reference for BUSI -> STU: source plus the target's training masks, supervised.

Domain adaptation never sees the target's masks. How far any adaptation method can lift the target's
Dice above the source-only model is bounded in practice by a model that does see them: the same
network trained on the source's training cases *and* the labelled target training cases of the fold,
selected on the source's val split and scored on the fold's target test cases. This script writes, for
one STU fold, a prepared dataset whose train split is BUSI's train plus the fold's STU train (with
masks), val is BUSI's val and test is the fold's STU test; `aidemed bench label-efficiency --methods
supervised --fractions 1.0` on it gives that reference. Files are linked, not copied.
`--target-copies N` lists each labelled target training case N times (ids `CASE~copyK`), so the
20 target images weigh more than 20 of ~470 in each epoch: a second, target-weighted reference.

    python benchmarks/stu_oracle.py /work/data/busi /work/data/stu-fold0 -o /work/data/busi+stu-fold0-labelled
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _read_manifest(root: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines() if line.strip()]
    return {row["id"]: row for row in rows}


def _link(row: dict, root: Path, out: Path) -> dict:
    """The row with its files linked into out/images and out/masks under the case id."""
    linked = dict(row)
    images = []
    for i, rel in enumerate(row["images"]):
        name = f"images/{row['id']}_{i}{Path(rel).suffix}" if len(row["images"]) > 1 else f"images/{row['id']}{Path(rel).suffix}"
        (out / name).symlink_to((root / rel).resolve())
        images.append(name)
    linked["images"] = images
    mask = f"masks/{row['id']}{Path(row['mask']).suffix}"
    (out / mask).symlink_to((root / row["mask"]).resolve())
    linked["mask"] = mask
    return linked


def _copies(row: dict, n: int) -> list[dict]:
    return [row] + [{**row, "id": f"{row['id']}~copy{k}"} for k in range(1, n)]


def combine(source: Path, target: Path, out: Path, target_copies: int = 1) -> Path:
    if target_copies < 1:
        raise SystemExit(f"--target-copies must be at least 1, got {target_copies}")
    if out.exists():
        raise SystemExit(f"{out}: already exists; remove it first")
    source_splits = json.loads((source / "splits.json").read_text())
    target_splits = json.loads((target / "splits.json").read_text())
    source_rows, target_rows = _read_manifest(source), _read_manifest(target)
    clash = set(source_rows) & set(target_rows)
    if clash:
        raise SystemExit(f"{target}: case ids also in {source}: {sorted(clash)[:5]}")
    for d in ("images", "masks"):
        (out / d).mkdir(parents=True)
    target_train = [copy for c in target_splits["train"] for copy in _copies(target_rows[c], target_copies)]
    train = list(source_splits["train"]) + [row["id"] for row in target_train]
    val, test = list(source_splits["val"]), list(target_splits["test"])
    rows = [_link(source_rows[c], source, out) for c in source_splits["train"] + val]
    rows += [_link(row, target, out) for row in target_train + [target_rows[c] for c in test]]
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    info = json.loads((source / "dataset.json").read_text())
    info["name"] = out.name
    info["extra"] = {"combined_from": {"source": str(source.resolve()), "target": str(target.resolve())}}
    (out / "dataset.json").write_text(json.dumps(info, indent=2) + "\n")
    splits = {**source_splits, "train": train, "val": val, "test": test, "budgets": {"1": train},
              "combined_from": {"source": str(source.resolve()), "target": str(target.resolve())}}
    (out / "splits.json").write_text(json.dumps(splits, indent=1) + "\n")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--target-copies", type=int, default=1)
    args = parser.parse_args()
    print(combine(args.source, args.target, args.out, args.target_copies))
