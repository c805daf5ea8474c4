"""benchmarks/stu_folds.py: two complementary adaptation folds of a prepared target dataset."""

import json

import pytest
from script_support import benchmark_script

from aidemed.data.check import check_dataset


def _make_folds():
    return benchmark_script("stu_folds").make_folds


def test_folds_swap_halves_so_every_image_is_scored_once(phantom_dir, tmp_path):
    folds = _make_folds()(phantom_dir, tmp_path)
    splits = [json.loads((f / "splits.json").read_text()) for f in folds]
    everything = set().union(*(json.loads((phantom_dir / "splits.json").read_text())[k] for k in ("train", "val", "test")))
    assert set(splits[0]["test"]) | set(splits[1]["test"]) == everything
    assert not set(splits[0]["test"]) & set(splits[1]["test"])
    for s in splits:  # the training half (+ its one val case) is the other fold's test half
        assert not set(s["train"]) & set(s["test"]) and len(s["val"]) == 1
    assert set(splits[0]["train"] + splits[0]["val"]) == set(splits[1]["test"])
    for f in folds:
        assert check_dataset(f, workers=1) == []
    with pytest.raises(SystemExit, match="already exists"):
        _make_folds()(phantom_dir, tmp_path)
