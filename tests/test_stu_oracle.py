"""benchmarks/stu_oracle.py: source plus the labelled target training cases, scored on the target test."""

import json
import shutil
from pathlib import Path

import pytest
from script_support import benchmark_script

from aidemed.data.check import check_dataset
from aidemed.data.manifest import load_dataset


def _combine():
    return benchmark_script("stu_oracle").combine


def _renamed_copy(src: Path, dst: Path, prefix: str) -> Path:
    """The prepared dataset under new case ids (a second site whose ids cannot clash)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("cache"))
    rows = [json.loads(line) for line in (dst / "manifest.jsonl").read_text().splitlines()]
    for row in rows:
        row["id"] = prefix + row["id"]
    (dst / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    splits = json.loads((dst / "splits.json").read_text())
    for key in ("train", "val", "test"):
        splits[key] = [prefix + c for c in splits[key]]
    splits["budgets"] = {k: [prefix + c for c in v] for k, v in splits["budgets"].items()}
    (dst / "splits.json").write_text(json.dumps(splits))
    return dst


def test_train_is_source_plus_target_train_val_is_source_test_is_target(phantom_dir, tmp_path):
    target = _renamed_copy(phantom_dir, tmp_path / "target", "t_")
    out = _combine()(phantom_dir, target, tmp_path / "combined")
    source_splits = json.loads((phantom_dir / "splits.json").read_text())
    target_splits = json.loads((target / "splits.json").read_text())
    splits = json.loads((out / "splits.json").read_text())
    assert splits["train"] == source_splits["train"] + target_splits["train"]
    assert splits["val"] == source_splits["val"] and splits["test"] == target_splits["test"]
    assert splits["budgets"] == {"1": splits["train"]}
    assert check_dataset(out, workers=1) == []
    combined, first = load_dataset(out), target_splits["train"][0]
    assert combined.mask_path(combined.case(first)) == (target / "masks" / f"{first[2:]}.png").resolve()
    with pytest.raises(SystemExit, match="already exists"):
        _combine()(phantom_dir, target, out)


def test_clashing_case_ids_are_refused(phantom_dir, tmp_path):
    with pytest.raises(SystemExit, match="case ids also in"):
        _combine()(phantom_dir, phantom_dir, tmp_path / "combined")


def test_target_copies_repeat_only_the_labelled_target_training_cases(phantom_dir, tmp_path):
    target = _renamed_copy(phantom_dir, tmp_path / "target", "t_")
    out = _combine()(phantom_dir, target, tmp_path / "combined", target_copies=3)
    source_splits = json.loads((phantom_dir / "splits.json").read_text())
    target_splits = json.loads((target / "splits.json").read_text())
    splits = json.loads((out / "splits.json").read_text())
    assert len(splits["train"]) == len(source_splits["train"]) + 3 * len(target_splits["train"])
    first = target_splits["train"][0]
    assert {first, f"{first}~copy1", f"{first}~copy2"} <= set(splits["train"])
    assert splits["test"] == target_splits["test"] and splits["val"] == source_splits["val"]
    assert check_dataset(out, workers=1) == []
    with pytest.raises(SystemExit, match="at least 1"):
        _combine()(phantom_dir, target, tmp_path / "again", target_copies=0)
