"""benchmarks/audit_rankings.py and benchmarks/audit_edges_offline.py: precision@k tables of audit rankings."""

import csv
import json

import numpy as np
import pytest
import torch
from script_support import benchmark_script

from aidemed.audit import edge_alignment, precision_at_k
from aidemed.cli.main import main as cli

audit_rankings = benchmark_script("audit_rankings")
audit_edges_offline = benchmark_script("audit_edges_offline")


def _audit_json(folder, precision, found):
    folder.mkdir(parents=True)
    recall = {name: {"erode_dilate": {"n": 4, "found": f, "recall": f / 4}} for name, f in found.items()}
    (folder / "audit.json").write_text(json.dumps({"k": 4, "flip": False, "precision_at_k": precision,
                                                   "recall_at_k_by_corruption": recall}))


def test_rankings_table_means_per_group_and_counts_wins_over_cleanlab(tmp_path):
    _audit_json(tmp_path / "a0", {"aidemed_disagreement": 0.5, "cleanlab": 0.25, "image_edges": 0.75},
                {"aidemed_disagreement": 2, "cleanlab": 1, "image_edges": 3})
    _audit_json(tmp_path / "a1", {"aidemed_disagreement": 0.25, "cleanlab": 0.5, "image_edges": 1.0},
                {"aidemed_disagreement": 1, "cleanlab": 2, "image_edges": 4})
    out = tmp_path / "table"
    assert audit_rankings.main([f"mixed25-s0={tmp_path / 'a0'}", f"mixed25-s1={tmp_path / 'a1'}", "-o", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["mean_by_group"]["mixed25"] == pytest.approx(
        {"aidemed_disagreement": 0.375, "cleanlab": 0.375, "image_edges": 0.875})
    assert result["at_least_cleanlab"] == {"aidemed_disagreement": 1, "cleanlab": 2, "image_edges": 2}
    text = out.with_suffix(".md").read_text()
    assert "audit_rankings.py" in text and "| image_edges | 7/8 |" in text


def test_rankings_table_names_a_missing_audit(tmp_path):
    with pytest.raises(SystemExit, match="nowhere/audit.json: missing"):
        audit_rankings.main([f"x={tmp_path / 'nowhere'}", "-o", str(tmp_path / "t")])


@pytest.fixture(scope="module")
def dilated_copy(phantom_dir, tmp_path_factory):
    noisy = tmp_path_factory.mktemp("edges") / "phantom-dilated"
    assert cli(["data", "corrupt", str(phantom_dir), "-o", str(noisy), "--model", "erode_dilate",
                "--fraction", "0.5", "--seed", "0"]) == 0
    return noisy


def test_offline_edges_score_the_cases_of_an_earlier_audit(dilated_copy, tmp_path):
    records = [json.loads(line) for line in (dilated_copy / "noise_records.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    csv_path = tmp_path / "audit.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["case", "disagreement", "cleanlab_score", "corrupted"])
        writer.writeheader()
        for r in train:  # a model that knows exactly which masks were corrupted
            writer.writerow({"case": r["id"], "disagreement": float(r["corrupted"]),
                             "cleanlab_score": 1.0 - float(r["corrupted"]), "corrupted": str(r["corrupted"])})
    out = tmp_path / "offline"
    assert audit_edges_offline.main(["--data", str(dilated_copy), "--profile", "32", f"run={csv_path}",
                                     "-o", str(out)]) == 0
    (result,) = json.loads(out.with_suffix(".json").read_text())["audits"]
    precision = result["precision_at_k"]
    assert precision["aidemed_disagreement"] == 1.0 and precision["cleanlab"] == 1.0
    assert set(precision) == {"aidemed_disagreement", "aidemed_disagreement+edges", "cleanlab",
                              "cleanlab+edges", "image_edges"}

    from aidemed.data.cache import load_arrays
    from aidemed.data.manifest import load_dataset

    arrays = load_arrays(load_dataset(dilated_copy), "32")
    ids, index = np.unique(arrays.case_ids, return_inverse=True)
    scores = dict(zip(ids.tolist(), edge_alignment(torch.from_numpy(arrays.images),
                                                   torch.from_numpy(arrays.masks.astype(np.int64)),
                                                   torch.from_numpy(index.astype(np.int64)), len(ids)).tolist()))
    by_edges = sorted((r["id"] for r in train), key=lambda c: np.inf if np.isnan(scores[c]) else scores[c])
    expected = precision_at_k(by_edges, {r["id"] for r in train if r["corrupted"]})
    assert precision["image_edges"] == pytest.approx(expected)


def test_offline_edges_refuse_cases_the_dataset_lacks(dilated_copy, tmp_path):
    csv_path = tmp_path / "audit.csv"
    csv_path.write_text("case,disagreement,corrupted\nnot_a_case,0.5,True\n")
    with pytest.raises(SystemExit, match="cases not in"):
        audit_edges_offline.main(["--data", str(dilated_copy), "--profile", "32", f"r={csv_path}", "-o",
                                  str(tmp_path / "o")])


audit_with_checkpoints = benchmark_script("audit_with_checkpoints")


@pytest.fixture
def noisy_run(dilated_copy, fast_config, tmp_path_factory):
    from dataclasses import replace

    from aidemed.engine.run import train

    run = tmp_path_factory.mktemp("kept") / "run"
    train(replace(fast_config, data=str(dilated_copy), setting="noisy", labelled_fraction=1.0, keep_every=1), run)
    return run


def test_checkpoint_rankings_match_the_audit_of_the_same_model(noisy_run, dilated_copy, tmp_path):
    from aidemed.audit import audit_run

    checkpoints = noisy_run / "checkpoints"
    out = tmp_path / "table"
    assert audit_with_checkpoints.main(["--data", str(dilated_copy), "--profile", "32",
                                        f"e0={checkpoints / 'epoch-000.pt'}", f"last={checkpoints / 'last.pt'}",
                                        f"both={checkpoints / 'epoch-000.pt'},{checkpoints / 'epoch-001.pt'}",
                                        "-o", str(out)]) == 0
    first, last, both = json.loads(out.with_suffix(".json").read_text())["checkpoints"]
    assert (first["epoch"], last["epoch"], both["epoch"]) == (0, 1, [0, 1])
    assert both["n_networks"] == 2
    audit = audit_run(noisy_run, tmp_path / "audit", top=0, model="last")
    assert last["k"] == audit["k"]
    assert last["precision_at_k"] == pytest.approx(
        {name: value for name, value in audit["precision_at_k"].items() if name != "aidemed_training_loss"})
    assert "| e0 | 0 |" in out.with_suffix(".md").read_text()


def test_checkpoint_rankings_refuse_a_missing_checkpoint(dilated_copy, tmp_path):
    with pytest.raises(SystemExit, match="nowhere.pt"):
        audit_with_checkpoints.main(["--data", str(dilated_copy), f"x={tmp_path / 'nowhere.pt'}",
                                     "-o", str(tmp_path / "t")])
