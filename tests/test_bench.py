import math
import json
from dataclasses import replace

import pytest

from aidemed.bench.harness import RunSpec, _precision, _wall_time_note, load_results, plan, run_sweep
from aidemed.cli.main import main


def test_plan_restricts_methods_to_their_fractions():
    specs = plan(["supervised", "aide"], [0.1, 1.0], [0, 1], only={"aide": [0.1]})
    keys = [s.key for s in specs]
    assert "aide-f1-s0" not in keys and "supervised-f1-s1" in keys and len(keys) == 6


def test_sweep_caches_finished_runs_and_builds_tables(fast_config, tmp_path):
    specs = [RunSpec("supervised", 0.25, 0), RunSpec("supervised", 1.0, 0)]
    run_sweep(fast_config, specs, tmp_path)
    first = (tmp_path / "runs" / "supervised-f1-s0" / "results.json").stat().st_mtime_ns
    messages = []
    run_sweep(fast_config, specs, tmp_path, log=messages.append)
    assert all("cached" in m for m in messages)
    assert (tmp_path / "runs" / "supervised-f1-s0" / "results.json").stat().st_mtime_ns == first
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {(r["method"], r["fraction"]) for r in summary["rows"]} == {("supervised", 0.25), ("supervised", 1.0)}
    table = (tmp_path / "summary.md").read_text()
    assert "| supervised | 0.25 |" in table and "Commands:" in table
    assert (tmp_path / "runs.csv").read_text().count("\n") == 3


def test_sweep_resumes_an_interrupted_run(fast_config, tmp_path):
    import pytest

    from aidemed.engine.run import train
    from aidemed.engine.trainer import Interrupted

    cfg = replace(fast_config, labelled_fraction=1.0)
    with pytest.raises(Interrupted):
        train(cfg, tmp_path / "runs" / "supervised-f1-s0", stop_after_steps=4)
    messages = []
    run_sweep(fast_config, [RunSpec("supervised", 1.0, 0)], tmp_path, log=messages.append)
    assert "resuming" in messages[0]
    assert len(load_results(tmp_path)) == 1


def test_aide_in_a_sweep_bootstraps_from_the_sibling_supervised_run(fast_config, tmp_path):
    run_sweep(fast_config, [RunSpec("supervised", 0.25, 0), RunSpec("aide", 0.25, 0)], tmp_path)
    aide = json.loads((tmp_path / "runs" / "aide-f0.25-s0" / "results.json").read_text())
    assert aide["config"]["method_args"]["bootstrap_run"].endswith("supervised-f0.25-s0")
    assert not (tmp_path / "runs" / "aide-f0.25-s0" / "bootstrap").exists()


def test_demo_runs_end_to_end_and_prints_the_comparison(tmp_path, capsys):
    args = ["demo", "--workdir", str(tmp_path), "--cases", "24", "--epochs", "1", "--profile", "32"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "aide" in out and out.count("supervised") >= 2 and "test Dice" in out
    assert main(args) == 0  # second call: everything cached
    assert "cached" in capsys.readouterr().out


def test_paired_wilcoxon_over_test_images(tmp_path):
    import csv

    from aidemed.bench.harness import paired_tests

    rng = __import__("numpy").random.default_rng(0)
    base = rng.uniform(0.3, 0.8, 30)
    for method, shift in (("aide", 0.05), ("supervised", 0.0)):
        for seed in (0, 1):
            run = tmp_path / "runs" / f"{method}-f0.1-s{seed}"
            run.mkdir(parents=True)
            (run / "results.json").write_text(json.dumps({"config": {"method": method, "labelled_fraction": 0.1,
                                                                     "seed": seed}}))
            (run / "metrics.jsonl").write_text("")
            with open(run / "test_cases.csv", "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=["case", "label", "dice"])
                writer.writeheader()
                for i, value in enumerate(base + shift + rng.normal(0, 0.01, 30)):
                    writer.writerow({"case": f"c{i}", "label": 1, "dice": value})
    (test,) = paired_tests(tmp_path)
    assert test["other"] == "supervised" and test["n_images"] == 30
    assert abs(test["mean_difference"] - 0.05) < 0.01 and test["p_value"] < 1e-4


def test_headline_relates_aide_to_full_supervision_its_budget_and_the_best_semi_baseline():
    from aidemed.bench.harness import headline

    def row(method, fraction, dice, seconds):
        return {"method": method, "fraction": fraction, "dice_mean": dice, "median_epoch_seconds": seconds, "seeds": [0, 1]}

    rows = [row("supervised", 1.0, 0.75, 7.0), row("supervised", 0.1, 0.60, 7.0), row("aide", 0.1, 0.72, 17.5),
            row("mean_teacher", 0.1, 0.62, 9.0), row("cps", 0.1, 0.65, 20.0), row("aide", 0.05, 0.5, 17.0)]
    ten, five = sorted(headline(rows), key=lambda h: -h["fraction"])
    assert ten["ratio_to_supervised_full"] == 0.72 / 0.75
    assert abs(ten["minus_supervised"] - 0.12) < 1e-12 and ten["best_semi_baseline"] == "cps"
    assert abs(ten["minus_best_semi_baseline"] - 0.07) < 1e-12 and ten["epoch_cost_ratio"] == 2.5
    assert five["best_semi_baseline"] is None and math.isnan(five["minus_supervised"])


@pytest.mark.parametrize("env, cfg, expected", [
    ({"cuda": "NVIDIA H100"}, {"amp": True}, "bf16 autocast on CUDA"),
    ({"cuda": "NVIDIA H100"}, {"amp": False}, "fp32 on CUDA"),
    ({"cuda": None}, {"cpu_bf16": True, "amp": True}, "bf16 autocast on the CPU"),
    ({}, {"cpu_bf16": False}, "fp32 on the CPU"),
])
def test_summary_names_the_precision_the_runs_trained_with(env, cfg, expected):
    assert _precision(env, cfg) == expected


def test_summary_wall_time_note_depends_on_the_machine():
    assert "GPU" in _wall_time_note({"cuda": "NVIDIA H100"})
    assert "2-core" in _wall_time_note({"cuda": None})
