"""benchmarks/bootstrap_rounds.py: one table of test Dice across sweep folders, with paired tests."""

import json
import sys

import pytest
from script_support import benchmark_script, write_fake_run


_run = write_fake_run


def test_rows_ratio_and_paired_test(tmp_path, monkeypatch):
    reference, variant = tmp_path / "ref", tmp_path / "variant"
    _run(reference, "supervised", 1.0, 0, [0.8] * 6)
    for seed in (0, 1):
        _run(reference, "pseudo_label", 0.1, seed, [0.5, 0.6, 0.55, 0.5, 0.6, 0.52])
        _run(variant, "pseudo_label", 0.1, seed, [0.6, 0.7, 0.65, 0.62, 0.71, 0.6])
    out = tmp_path / "table"
    monkeypatch.setattr(sys, "argv", ["bootstrap_rounds.py", "--fraction", "0.1", "--reference", str(reference),
                                      f"one round={reference}:pseudo_label", f"two rounds={variant}:pseudo_label",
                                      "--pairs", "two rounds|one round", "-o", str(out)])
    benchmark_script("bootstrap_rounds").main()
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["supervised_full"] == pytest.approx(0.8)
    two = next(r for r in result["rows"] if r["label"] == "two rounds")
    assert two["dice_mean"] == pytest.approx(sum([0.6, 0.7, 0.65, 0.62, 0.71, 0.6]) / 6)
    (test,) = result["paired_tests"]
    assert test["comparison"] == "two rounds - one round" and test["n_images"] == 6
    assert test["mean_difference"] == pytest.approx(0.1016667, abs=1e-6)
    assert "| two rounds |" in out.with_suffix(".md").read_text()


@pytest.mark.parametrize("text", ["no-equals-sign", "label=folder-without-method", "=folder:method"])
def test_an_entry_must_name_label_folder_and_method(text):
    with pytest.raises(SystemExit, match="LABEL=SWEEP_FOLDER:METHOD"):
        benchmark_script("bootstrap_rounds").parse_entry(text)


def test_folds_pool_their_test_images_without_a_reference(tmp_path, monkeypatch):
    folds = [tmp_path / "fold0", tmp_path / "fold1"]
    for fold, base in zip(folds, (0.8, 0.6)):
        _run(fold, "supervised", 1.0, 0, [base, base, base])
        _run(fold, "aide", 1.0, 0, [base + 0.1, base + 0.05, base + 0.02])
    _run(folds[0], "aide", 1.0, 1, [0.9, 0.9, 0.9])  # a seed that fold 1 did not run: left out
    pooled = "+".join(map(str, folds))
    out = tmp_path / "table"
    monkeypatch.setattr(sys, "argv", ["bootstrap_rounds.py", "--fraction", "1", f"source only={pooled}:supervised",
                                      f"aide={pooled}:aide", "--pairs", "aide|source only", "-o", str(out)])
    benchmark_script("bootstrap_rounds").main()
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["supervised_full"] is None
    aide = next(r for r in result["rows"] if r["label"] == "aide")
    assert aide["seeds"] == [0] and aide["n_images"] == 6
    assert aide["dice_mean"] == pytest.approx((2.4 + 0.17 + 1.8 + 0.17) / 6)
    (test,) = result["paired_tests"]
    assert test["n_images"] == 6 and test["mean_difference"] == pytest.approx(0.34 / 6)
    assert "| aide |" in out.with_suffix(".md").read_text() and "| – |" in out.with_suffix(".md").read_text()


def test_comma_separated_groups_put_their_seeds_side_by_side(tmp_path, monkeypatch):
    early, late = tmp_path / "early", tmp_path / "late"
    _run(early, "aide", 1.0, 0, [0.8, 0.6])
    _run(late, "aide", 1.0, 3, [0.7, 0.5])
    out = tmp_path / "table"
    monkeypatch.setattr(sys, "argv", ["bootstrap_rounds.py", "--fraction", "1", f"aide={early},{late}:aide",
                                      "-o", str(out)])
    benchmark_script("bootstrap_rounds").main()
    (row,) = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert row["seeds"] == [0, 3] and row["per_seed"] == {"0": pytest.approx(0.7), "3": pytest.approx(0.6)}
    _run(late, "aide", 1.0, 0, [0.1, 0.1])  # seed 0 now in both groups
    with pytest.raises(SystemExit, match="seed 0 of aide is in more than one group"):
        benchmark_script("bootstrap_rounds").main()
