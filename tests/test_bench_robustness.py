"""Tables across the noisy-mask and adaptation sweeps, from fake finished run folders."""

import csv
import json

import pytest

from aidemed.bench.robustness import adaptation_rows, noise_rows
from aidemed.cli.main import main


def _fake_run(sweep, method, seed, case_dice, audit=None):
    run = sweep / "runs" / f"{method}-f1-s{seed}"
    run.mkdir(parents=True)
    mean = sum(case_dice.values()) / len(case_dice)
    (run / "results.json").write_text(json.dumps({
        "config": {"method": method, "labelled_fraction": 1.0, "seed": seed},
        "test": {"dice": mean, "hd95": 10.0, "n_cases": len(case_dice)}, "seconds_per_epoch": 2.0}))
    with open(run / "test_cases.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["case", "label", "dice"])
        writer.writeheader()
        writer.writerows({"case": c, "label": 1, "dice": d} for c, d in case_dice.items())
    if audit:
        (run / "audit").mkdir()
        (run / "audit" / "audit.json").write_text(json.dumps({"precision_at_k": audit}))


def test_noise_rows_relate_each_method_to_its_own_clean_dice(tmp_path):
    clean, noisy = tmp_path / "n0", tmp_path / "n50"
    for seed, d in ((0, 0.8), (1, 0.6)):
        _fake_run(clean, "aide", seed, {"a": d, "b": d})
    _fake_run(clean, "supervised", 0, {"a": 0.5, "b": 0.5})
    _fake_run(noisy, "aide", 0, {"a": 0.63, "b": 0.63},
              audit={"disagreement": 0.9, "cleanlab": 0.7, "soft": "n/a"})
    _fake_run(noisy, "aide", 1, {"a": 0.63, "b": 0.63}, audit={"disagreement": 0.8, "cleanlab": 0.5})
    _fake_run(noisy, "supervised", 0, {"a": 0.25, "b": 0.25})
    rows = {(r["noise"], r["method"]): r for r in noise_rows({0.0: clean, 0.5: noisy})}
    assert rows[(0.0, "aide")]["dice_mean"] == pytest.approx(0.7)
    assert rows[(0.0, "aide")]["dice_sd"] == pytest.approx(0.1414, abs=1e-4)
    assert rows[(0.5, "aide")]["relative_to_clean"] == pytest.approx(0.9)
    assert rows[(0.5, "supervised")]["relative_to_clean"] == pytest.approx(0.5)
    assert rows[(0.5, "aide")]["precision_at_k"] == pytest.approx({"cleanlab": 0.6, "disagreement": 0.85})
    assert rows[(0.0, "aide")]["precision_at_k"] == {}


def test_noise_rows_list_a_second_audit_folder_under_its_name(tmp_path):
    noisy = tmp_path / "n50"
    _fake_run(noisy, "supervised", 0, {"a": 0.5}, audit={"cleanlab": 0.4})
    extra = noisy / "runs" / "supervised-f1-s0" / "audit_crossfit2"
    extra.mkdir()
    (extra / "audit.json").write_text(json.dumps({"precision_at_k": {"cleanlab": 0.6, "disagreement": 0.7}}))
    (row,) = noise_rows({0.5: noisy})
    assert row["precision_at_k"] == pytest.approx(
        {"cleanlab": 0.4, "cleanlab [audit_crossfit2]": 0.6, "disagreement [audit_crossfit2]": 0.7})


def test_adaptation_pools_the_folds_and_subtracts_source_only(tmp_path):
    f0, f1 = tmp_path / "f0", tmp_path / "f1"
    _fake_run(f0, "supervised", 0, {"x": 0.4, "y": 0.6})
    _fake_run(f1, "supervised", 0, {"z": 0.2})
    _fake_run(f0, "aide", 0, {"x": 0.5, "y": 0.7})
    _fake_run(f1, "aide", 0, {"z": 0.5})
    _fake_run(f0, "mean_teacher", 0, {"x": 0.3, "y": 0.3})
    rows = {r["method"]: r for r in adaptation_rows([f0, f1])}
    assert rows["supervised"]["pooled_dice"] == pytest.approx(0.4) and rows["supervised"]["n_images"] == 3
    assert rows["aide"]["fold_dice"] == pytest.approx({0: 0.6, 1: 0.5})
    assert rows["aide"]["minus_source_only_points"] == pytest.approx(100 * (0.1 + 0.1 + 0.3) / 3)
    # a method missing a fold is compared on the images it has, and marked incomplete
    assert not rows["mean_teacher"]["complete"]
    assert rows["mean_teacher"]["minus_source_only_points"] == pytest.approx(-20.0)


def test_adaptation_difference_uses_the_methods_own_seeds(tmp_path):
    from aidemed.bench.robustness import adaptation_rows

    fold = tmp_path / "f0"
    _fake_run(fold, "supervised", 0, {"x": 0.4, "y": 0.4})
    _fake_run(fold, "supervised", 1, {"x": 0.8, "y": 0.8})
    _fake_run(fold, "mean_teacher", 0, {"x": 0.5, "y": 0.5})
    _fake_run(fold, "aide", 0, {"x": 0.5, "y": 0.5})
    _fake_run(fold, "aide", 1, {"x": 0.9, "y": 0.9})
    rows = {r["method"]: r for r in adaptation_rows([fold])}
    assert rows["mean_teacher"]["minus_source_only_points"] == pytest.approx(10.0)  # vs seed 0 only (0.4), not 0.6
    assert rows["aide"]["minus_source_only_points"] == pytest.approx(10.0)  # 0.7 vs 0.6 over seeds 0 and 1
    assert rows["supervised"]["pooled_dice"] == pytest.approx(0.6) and rows["supervised"]["seeds"] == [0, 1]
    assert rows["aide"]["paired_test"]["seeds"] == [0, 1] and rows["mean_teacher"]["paired_test"]["seeds"] == [0]
    assert rows["aide"]["paired_test"]["mean_difference"] == pytest.approx(0.1)
    assert rows["supervised"]["paired_test"] is None  # the reference itself


def test_robustness_table_cli_writes_summary_and_refuses_a_non_sweep(tmp_path, capsys):
    _fake_run(tmp_path / "n0", "aide", 0, {"a": 0.8})
    _fake_run(tmp_path / "n50", "aide", 0, {"a": 0.6})
    _fake_run(tmp_path / "f0", "supervised", 0, {"a": 0.3})
    out = tmp_path / "robust"
    assert main(["bench", "robustness-table", "--noise", f"0={tmp_path / 'n0'}", f"0.5={tmp_path / 'n50'}",
                 "--adaptation", str(tmp_path / "f0"), "-o", str(out)]) == 0
    table = (out / "summary.md").read_text()
    assert "| 50% | aide | 1 | 0.6000 ± 0.0000 | 0.750 |" in table
    assert "| supervised | 0 | 0.3000 | 1 | 0.3000 | 0.0 |" in table
    assert table.count("p (paired Wilcoxon") == 1 and "| 0.0 | – |" in table  # the reference has no test
    assert json.loads((out / "summary.json").read_text())["command"].startswith("aidemed bench robustness-table")
    with pytest.raises(SystemExit, match="not a sweep folder"):
        main(["bench", "robustness-table", "--noise", f"0.25={tmp_path / 'missing'}", "-o", str(out)])
    with pytest.raises(SystemExit, match="LEVEL=DIR"):
        main(["bench", "robustness-table", "--noise", f"x={tmp_path / 'n0'}", "-o", str(out)])


def test_bench_runs_every_method_at_fraction_one_outside_the_semi_setting(monkeypatch, tmp_path, phantom_dir):
    import aidemed.bench.harness as harness

    planned = {}
    monkeypatch.setattr(harness, "run_sweep", lambda base, specs, out, method_args, jobs: planned.update(
        setting=base.setting, keys=[s.key for s in specs]))
    (tmp_path / "summary.md").write_text("")
    common = ["bench", "label-efficiency", "--data", str(phantom_dir), "--methods", "supervised", "aide",
              "--fractions", "1.0", "--seeds", "0", "-o", str(tmp_path)]
    main(common + ["--setting", "noisy"])
    assert planned == {"setting": "noisy", "keys": ["supervised-f1-s0", "aide-f1-s0"]}
    main(common)  # semi: with every mask AIDE has nothing to add, so only supervised runs at 1.0
    assert planned["keys"] == ["supervised-f1-s0"]


def test_target_labelled_reference_is_one_more_row_scored_on_the_folds_own_cases(tmp_path, capsys):
    from aidemed.bench.robustness import TARGET_LABELLED

    f0, f1, r0, r1 = (tmp_path / n for n in ("f0", "f1", "r0", "r1"))
    _fake_run(f0, "supervised", 0, {"x": 0.4, "y": 0.6})
    _fake_run(f1, "supervised", 0, {"z": 0.2})
    _fake_run(r0, "supervised", 0, {"x": 0.6, "y": 0.8})
    _fake_run(r1, "supervised", 0, {"z": 0.5})
    rows = {r["method"]: r for r in adaptation_rows([f0, f1], [r0, r1])}
    reference = rows[TARGET_LABELLED]
    assert reference["complete"] and reference["fold_dice"] == pytest.approx({0: 0.7, 1: 0.5})
    assert reference["minus_source_only_points"] == pytest.approx(100 * (0.2 + 0.2 + 0.3) / 3)
    assert rows["supervised"]["minus_source_only_points"] == pytest.approx(0.0)  # source-only stays the reference
    out = tmp_path / "robust"
    assert main(["bench", "robustness-table", "--adaptation", str(f0), str(f1),
                 "--target-labelled", str(r0), str(r1), "-o", str(out)]) == 0
    assert f"| {TARGET_LABELLED} | 0 | 0.7000 | 0.5000 | 3 | 0.6333 | 23.3 |" in (out / "summary.md").read_text()
    with pytest.raises(SystemExit, match="one folder per --adaptation fold"):
        main(["bench", "robustness-table", "--adaptation", str(f0), str(f1), "--target-labelled", str(r0), "-o", str(out)])
    wrong = tmp_path / "wrong"
    _fake_run(wrong, "supervised", 0, {"q": 0.9})
    with pytest.raises(SystemExit, match="fold's own target test cases"):
        main(["bench", "robustness-table", "--adaptation", str(f0), "--target-labelled", str(wrong), "-o", str(out)])


@pytest.mark.parametrize("p,printed", [(0.0305, "0.0305"), (4.38e-06, "4.38e-06"), (float("nan"), "–"), (None, "–")])
def test_adaptation_table_prints_p_with_three_significant_digits(p, printed):
    from aidemed.bench.robustness import adaptation_markdown

    row = {"method": "aide", "seeds": [0], "fold_dice": {0: 0.5}, "n_images": 2, "pooled_dice": 0.5,
           "minus_source_only_points": 1.0, "complete": True,
           "paired_test": None if p is None else {"p_value": p}}
    assert adaptation_markdown([row], 1)[-1].endswith(f"| {printed} |")


def test_noise_rows_say_which_training_path_timed_the_epochs(tmp_path):
    sweep = tmp_path / "n25"
    _fake_run(sweep, "supervised", 0, {"a": 0.5})
    _fake_run(sweep, "aide", 0, {"a": 0.5})
    config = sweep / "runs" / "aide-f1-s0" / "results.json"
    result = json.loads(config.read_text())
    result["config"].update(compile=True, channels_last=True)
    config.write_text(json.dumps(result))
    rows = {r["method"]: r for r in noise_rows({0.25: sweep})}
    assert rows["aide"]["training_path"] == "compiled, channels-last"
    assert rows["supervised"]["training_path"] == "eager"
