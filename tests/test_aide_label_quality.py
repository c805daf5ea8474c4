"""benchmarks/aide_label_quality.py: AIDE's label copies scored against the masks the budget hid."""

import json

import pytest
import torch
from script_support import benchmark_script

from aidemed.bench.harness import RunSpec, run_sweep


def _square(lo, hi, size=8):
    mask = torch.zeros(size, size, dtype=torch.long)
    mask[lo:hi, lo:hi] = 1
    return mask


def test_scores_each_mask_set_and_the_corrected_cases():
    score_labels = benchmark_script("aide_label_quality").score_labels
    truth = torch.stack([_square(2, 6), _square(2, 6)])
    bootstrap = torch.stack([_square(2, 6), torch.zeros(8, 8, dtype=torch.long)])  # second case: missed lesion
    corrected = truth.clone()  # a correction fixed the second case in A's copy
    result = score_labels(truth, bootstrap, {"A": corrected, "B": bootstrap}, prediction=bootstrap, num_classes=2)
    assert result["cases"] == 2
    assert result["bootstrap"] == pytest.approx(0.5) and result["copy_B"] == pytest.approx(0.5)
    assert result["copy_A"] == pytest.approx(1.0)
    assert result["changed_A"] == 1
    assert result["changed_A_bootstrap"] == pytest.approx(0.0) and result["changed_A_corrected"] == pytest.approx(1.0)
    assert result["last_epoch_A_prediction"] == pytest.approx(0.5)


def test_a_run_without_corrections_keeps_the_bootstrap_masks(fast_config, tmp_path):
    # Two epochs: the first scheduled correction (epoch 20) never comes, so both copies are the bootstrap's.
    run_sweep(fast_config, [RunSpec("supervised", 0.25, 0), RunSpec("aide", 0.25, 0)], tmp_path)
    script = benchmark_script("aide_label_quality")
    result = script.run_label_quality(tmp_path / "runs" / "aide-f0.25-s0")
    run = json.loads((tmp_path / "runs" / "aide-f0.25-s0" / "results.json").read_text())
    assert result["cases"] == run["n_train"] - run["n_labelled"] > 0
    assert result["changed_A"] == 0 and "changed_A_corrected" not in result
    assert result["copy_A"] == result["bootstrap"] == result["copy_B"]
    assert 0.0 <= result["last_epoch_A_prediction"] <= 1.0
    text = script.markdown([result], "python benchmarks/aide_label_quality.py X", "Test CPU", 12.4)
    assert "| 0.25 | 0 |" in text and "Command: `python benchmarks/aide_label_quality.py X`" in text
    assert "Machine: Test CPU; wall time 12 s." in text
