"""aidemed.noise.dataset.corrupt_dataset and `aidemed data corrupt` on a tiny phantom dataset."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from aidemed.cli.main import main
from aidemed.data.check import check_dataset
from aidemed.data.io import DataError, read_mask
from aidemed.data.manifest import load_dataset
from aidemed.noise.dataset import corrupt_dataset, read_noise_records
from aidemed.noise.masks import mask_dice


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    from aidemed.data.phantom import generate_phantom_dataset

    root = tmp_path_factory.mktemp("noise_src") / "phantom"
    generate_phantom_dataset(root, n_cases=20, size=48, seed=0)
    return root


@pytest.fixture(scope="module")
def noisy(src, tmp_path_factory):
    out = tmp_path_factory.mktemp("noise_out") / "noisy"
    corrupt_dataset(src, out, model="mixed", fraction=0.5, seed=0)
    return out


def annotated_train(root) -> list[str]:
    dataset = load_dataset(root)
    return [i for i in dataset.load_splits()["train"] if dataset.case(i).mask]


def mask_bytes(root) -> dict[str, bytes]:
    dataset = load_dataset(root)
    return {c.id: dataset.mask_path(c).read_bytes() for c in dataset.cases if c.mask}


def test_touches_exactly_the_requested_share_of_training_cases(src, noisy):
    n_train = len(annotated_train(src))
    splits = load_dataset(src).load_splits()
    records = read_noise_records(noisy)
    corrupted = {r["id"] for r in records if r["corrupted"]}
    assert len(corrupted) == round(0.5 * n_train)
    assert corrupted <= set(splits["train"])
    assert not corrupted & (set(splits["val"]) | set(splits["test"]))
    assert len(records) == 20
    summary = json.loads((noisy / "noise.json").read_text())
    assert summary["n_corrupted"] == len(corrupted) and summary["corrupted_ids"] == sorted(corrupted)
    assert sum(summary["counts"].values()) == len(corrupted)
    # Every case that was not corrupted keeps its clean mask byte for byte.
    before, after = mask_bytes(src), mask_bytes(noisy)
    assert {i for i in before if before[i] != after[i]} <= corrupted


def test_clean_masks_are_kept_for_every_case(src, noisy):
    before = mask_bytes(src)
    dataset = load_dataset(noisy)
    for case in dataset.cases:
        assert (noisy / case.extra["clean_mask"]).read_bytes() == before[case.id]
    assert (noisy / "splits.json").read_bytes() == (src / "splits.json").read_bytes()


def test_records_dice_equals_a_recomputation_from_the_files(noisy):
    dataset = load_dataset(noisy)
    rows = [r for r in read_noise_records(noisy) if r["corrupted"]]
    assert rows
    for row in rows:
        case = dataset.case(row["id"])
        noisy_mask, _ = read_mask(dataset.mask_path(case))
        clean_mask, _ = read_mask(noisy / case.extra["clean_mask"])
        assert row["dice_noisy_vs_clean"] == pytest.approx(mask_dice(noisy_mask, clean_mask))
        assert case.extra["noise"] == row["corruption"]
    summary = json.loads((noisy / "noise.json").read_text())
    assert summary["mean_dice_noisy_vs_clean"] == pytest.approx(np.mean([r["dice_noisy_vs_clean"] for r in rows]))


def test_the_noisy_folder_is_a_valid_self_contained_dataset(src, noisy, tmp_path):
    assert check_dataset(noisy) == []
    info = load_dataset(noisy).info
    assert info.extra["noise"]["model"]["name"] == "mixed" and info.extra["noise"]["seed"] == 0
    assert "--fraction 0.5" in info.source
    assert not (noisy / "cache").exists()
    moved = tmp_path / "moved"
    os.replace(src, moved)  # the noisy copy does not depend on the source folder
    try:
        assert check_dataset(noisy) == []
    finally:
        os.replace(moved, src)


def test_same_seed_gives_identical_outputs_and_fractions_are_nested(src, noisy, tmp_path):
    again = tmp_path / "again"
    corrupt_dataset(src, again, model="mixed", fraction=0.5, seed=0)
    assert mask_bytes(again) == mask_bytes(noisy)
    assert (again / "noise_records.jsonl").read_bytes() == (noisy / "noise_records.jsonl").read_bytes()

    quarter = tmp_path / "quarter"
    corrupt_dataset(src, quarter, model="mixed", fraction=0.25, seed=0)
    half = {r["id"]: r for r in read_noise_records(noisy) if r["corrupted"]}
    small = {r["id"]: r for r in read_noise_records(quarter) if r["corrupted"]}
    assert set(small) < set(half) and all(small[i] == half[i] for i in small)

    other = tmp_path / "other"
    corrupt_dataset(src, other, model="mixed", fraction=0.5, seed=1)
    assert mask_bytes(other) != mask_bytes(noisy)


def test_fraction_zero_and_one(src, tmp_path):
    n_train = len(annotated_train(src))
    none = corrupt_dataset(src, tmp_path / "none", model="erode", fraction=0.0, seed=0)
    assert mask_bytes(none.root) == mask_bytes(src)
    everything = corrupt_dataset(src, tmp_path / "all", model="missed_lesion", fraction=1.0, seed=0)
    records = read_noise_records(everything.root)
    assert sum(r["corrupted"] for r in records) == n_train
    summary = json.loads((everything.root / "noise.json").read_text())
    assert summary["counts"] == {"missed_lesion": n_train}


def test_refuses_a_non_empty_output_and_leaves_nothing_on_failure(src, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(DataError, match="not empty"):
        corrupt_dataset(src, out, fraction=0.5)
    assert (out / "keep.txt").exists()
    with pytest.raises(ValueError, match="unknown noise model"):
        corrupt_dataset(src, tmp_path / "bad", model="nope")
    with pytest.raises(DataError, match="no split named"):
        corrupt_dataset(src, tmp_path / "bad", split="holdout")
    with pytest.raises(DataError, match="must not be the source"):
        corrupt_dataset(src, src, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    corrupt_dataset(src, out, fraction=0.5, force=True)
    assert not (out / "keep.txt").exists() and (out / "noise.json").is_file()


def test_cli_corrupt(src, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["data", "corrupt", str(src), "--model", "mixed", "--fraction", "1", "--seed", "0", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    n_train = len(annotated_train(src))
    assert f"corrupted {n_train}/{n_train}" in printed and "mean Dice noisy vs clean" in printed
    assert main(["data", "corrupt", str(src), "-o", str(out)]) == 2  # not empty without --force
    assert main(["data", "corrupt", str(src), "-o", str(out), "--force", "--model", "dilate"]) == 0
    assert main(["data", "corrupt", "--list-models"]) == 0
    listed = capsys.readouterr().out
    assert "mixed:" in listed and "spurious_blob:" in listed
    assert main(["data", "corrupt", str(src)]) == 2  # no -o
