"""The classification engine and `aidemed train-cls` on tiny phantom data (CPU, seconds)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from aidemed.engine.classification import ClsConfig, Interrupted, train_classifier

METRICS = ("accuracy", "balanced_accuracy", "auroc", "f1", "ece")


@pytest.fixture(scope="module")
def cls_phantom(tmp_path_factory):
    from aidemed.data.phantom import generate_phantom_dataset

    root = tmp_path_factory.mktemp("cls_phantom")
    generate_phantom_dataset(root, n_cases=40, size=40, seed=1)
    return root


@pytest.fixture(scope="module")
def reader_dir(cls_phantom, tmp_path_factory):
    from aidemed.bench.simulated_reader import ReaderConfig, make_reader_dataset

    out = tmp_path_factory.mktemp("reader") / "ds"
    make_reader_dataset(cls_phantom, out, ReaderConfig(error_rate=0.2, profile="32"), seed=0)
    return out


def tiny(data, **kw) -> ClsConfig:
    return replace(ClsConfig(data=str(data), net="resnet-tiny", profile="32", epochs=2, batch_size=8,
                             iterations_per_epoch=2, device="cpu", progress=False, n_boot=30), **kw)


def test_multiclass_training_writes_logs_checkpoints_and_metrics_with_cis(cls_phantom, tmp_path):
    result = train_classifier(tiny(cls_phantom), tmp_path / "run")
    run = tmp_path / "run"
    for name in ("config.json", "metrics.csv", "metrics.jsonl", "results.json", "test_predictions.csv",
                 "checkpoints/best.pt", "checkpoints/last.pt"):
        assert (run / name).is_file(), name
    saved = json.loads((run / "results.json").read_text())
    assert saved["task"] == "multiclass" and saved["names"] == ["benign", "malignant"]
    assert saved["truth_source"] == "case_label" and saved["n_test"] == result["n_test"] > 0
    for metric in METRICS:
        m = saved["test"][metric]
        assert set(m) == {"value", "low", "high"}
        assert m["low"] <= m["value"] <= m["high"] or np.isnan(m["low"])
    assert set(saved["test"]["auroc_per_class"]) == {"benign", "malignant"}
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1] and all("val_auroc" in r for r in rows)


def test_resume_after_a_kill_reaches_the_uninterrupted_result(cls_phantom, tmp_path):
    cfg = tiny(cls_phantom, n_boot=10)
    full = train_classifier(cfg, tmp_path / "full")
    with pytest.raises(Interrupted):
        train_classifier(cfg, tmp_path / "killed", stop_after_steps=3)  # epoch 0 done, killed in epoch 1
    resumed = train_classifier(cfg, tmp_path / "killed", resume=True)
    a = [json.loads(l)["train_loss"] for l in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(l)["train_loss"] for l in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert a == pytest.approx(b, rel=1e-5)
    assert resumed["test"]["auroc"]["value"] == pytest.approx(full["test"]["auroc"]["value"])
    with pytest.raises(ValueError, match="--resume"):
        train_classifier(cfg, tmp_path / "full")


@pytest.mark.parametrize("options", [
    {"rate_policy": "certainty", "warmup_epochs": 1},
    {"rate_policy": "constant", "policy_args": {"rate": 0.2}},
    {"rate_policy": "constant", "policy_args": {"rate": -0.2}},
    {"rate_policy": "u_ones"},
    {"rate_policy": "u_zeros"},
    {"rate_policy": "u_ignore"},
    {"rate_policy": "lsr"},
    {"rate_policy": "adaptive", "warmup_epochs": 1},
    {"rate_policy": "adaptive", "policy_args": {"criterion": "reliability"}, "warmup_epochs": 1},
    {"loss": "gce"},
    {"loss": "sce"},
    {"method": "coteaching", "method_args": {"forget_rate": 0.3}},
])
def test_every_policy_loss_and_method_trains_on_report_labels(reader_dir, tmp_path, options):
    cfg = tiny(reader_dir, labels_from_reports=True, vocab="breast_malignancy", epochs=2, iterations_per_epoch=1,
               n_boot=5, **options)
    result = train_classifier(cfg, tmp_path / "run")
    assert result["truth_source"] == "case_label"  # val/test scored on the true labels
    rows = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["train_loss"]) for r in rows)
    if options.get("rate_policy") == "adaptive":  # the fitted map is logged and returned
        assert "rate_definite" in rows[1]
        assert result["rate_map"] == {g: rows[1][f"rate_{g}"] for g in result["rate_map"]}


def test_report_labels_follow_the_reader_and_its_errors(reader_dir, tmp_path):
    reader = json.loads((reader_dir / "reader.json").read_text())
    result = train_classifier(tiny(reader_dir, labels_from_reports=True, epochs=1, iterations_per_epoch=1,
                                   n_boot=5), tmp_path / "run")
    labels = result["train_labels"]
    assert labels["unlabelled"] == 0
    assert labels["error_rate_vs_case_label"] == pytest.approx(reader["splits"]["train"]["error_rate"])


def test_policy_targets_match_gls_for_two_classes():
    from aidemed.engine.classification import ClsLabels, policy_targets
    from aidemed.losses.rate_policies import get_rate_policy

    grades = np.array(["definite", "probable", "cannot_exclude", "unlikely", "negated", None], object)
    labels = ClsLabels("multiclass", ["benign", "malignant"], y=np.array([1, 1, 1, 0, 0, -1]), grades=grades,
                       positive=1)
    t = policy_targets(labels, get_rate_policy("certainty"), 1.0)
    assert t["y"].tolist()[:5] == [1, 1, 1, 0, 0]
    assert t["rates"].numpy()[:5] == pytest.approx([-0.2, 0.4, 1.0, 0.4, -0.2])
    assert t["mask"].tolist() == [True] * 5 + [False]
    warm = policy_targets(labels, get_rate_policy("certainty"), 0.0)
    assert warm["rates"].numpy()[:5] == pytest.approx([0.0] * 5)
    # CheXpert coding: probable/cannot-exclude/unlikely are all "uncertain"; U-Ones makes
    # "probably benign" malignant, while uncertain="grade" keeps each statement's own direction
    ones = policy_targets(labels, get_rate_policy("u_ones"), 1.0)
    assert ones["y"].tolist()[:5] == [1, 1, 1, 1, 0]
    ce = policy_targets(labels, get_rate_policy("constant", rate=0.0, uncertain="grade"), 1.0)
    assert ce["y"].tolist()[:5] == [1, 1, 1, 0, 0] and ce["rates"].abs().max() == 0
    zeros = policy_targets(labels, get_rate_policy("u_zeros"), 1.0)
    assert zeros["y"].tolist()[:5] == [1, 0, 0, 0, 0]  # hedged statements -> benign
    lsr = policy_targets(labels, get_rate_policy("lsr"), 1.0)
    soft = (1 - lsr["rates"].numpy()[1]) + lsr["rates"].numpy()[1] / 2
    assert 0.55 <= soft <= 0.85


def test_cli_train_cls(cls_phantom, tmp_path, capsys):
    from aidemed.cli.main import main

    code = main(["train-cls", "--data", str(cls_phantom), "--net", "densenet-tiny", "--profile", "32",
                 "--epochs", "1", "--batch-size", "8", "--iterations-per-epoch", "1", "--n-boot", "5",
                 "--rate-policy", "constant", "--policy-arg", "rate=0.1", "--device", "cpu", "--quiet",
                 "-o", str(tmp_path / "run")])
    assert code == 0
    assert "test n=" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "config.json").read_text())["policy_args"] == {"rate": 0.1}


def test_classes_outside_the_split_are_ignored(cls_phantom, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(cls_phantom, data, ignore=shutil.ignore_patterns("cache"))
    meta = json.loads((data / "dataset.json").read_text())
    meta["classes"] = ["benign", "malignant", "normal"]  # like BUSI with --exclude-label normal
    (data / "dataset.json").write_text(json.dumps(meta))
    result = train_classifier(tiny(data, epochs=1, iterations_per_epoch=1, n_boot=5), tmp_path / "run")
    assert result["names"] == ["benign", "malignant"] and result["positive"] == 1
