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


def test_a_run_folder_made_with_another_config_stops_the_sweep_before_training(fast_config, tmp_path):
    spec = RunSpec("supervised", 1.0, 0)
    run_sweep(fast_config, [spec], tmp_path)
    results = tmp_path / "runs" / spec.key / "results.json"
    before = results.read_text()
    with pytest.raises(ValueError, match=r"supervised-f1-s0.*another config.*\['epochs'\]"):
        run_sweep(replace(fast_config, epochs=3), [RunSpec("supervised", 0.25, 0), spec], tmp_path)
    assert not (tmp_path / "runs" / "supervised-f0.25-s0").exists()  # checked before the first run trains
    assert results.read_text() == before
    # Runtime settings do not change what a run learns: the finished run still counts.
    messages = []
    run_sweep(replace(fast_config, num_threads=1, progress=True), [spec], tmp_path, log=messages.append)
    assert "cached" in messages[0]


@pytest.mark.parametrize("saved_args, args, differs", [
    ({}, {"bootstrap_adapt_bn": False, "bootstrap_rounds": 1}, False),  # given at the default = left out
    ({"bootstrap_run": "/elsewhere/supervised"}, {}, False),  # which run gave the bootstrap does not count
    ({}, {"bootstrap_adapt_bn": True}, True),
    ({"beta": 10.0}, {"beta": 5.0}, True),
])
def test_learning_config_differences_compares_method_options_with_their_defaults(fast_config, saved_args, args,
                                                                                 differs):
    from aidemed.engine.run import learning_config_differences

    saved = replace(fast_config, method="aide", method_args=saved_args).to_dict()
    changed = learning_config_differences(saved, replace(fast_config, method="aide", method_args=args))
    assert changed == (["method_args"] if differs else [])


@pytest.mark.parametrize("args, methods, shared, per_method", [
    ({"select": "ensemble"}, ["aide"], {"select": "ensemble"}, {}),
    ({"aide:bootstrap_rounds": 2, "pseudo_label:bootstrap_rounds": 3, "select": "a"}, ["aide", "pseudo_label"],
     {"select": "a"}, {"aide": {"bootstrap_rounds": 2}, "pseudo_label": {"bootstrap_rounds": 3}}),
])
def test_split_method_args_into_shared_and_per_method(args, methods, shared, per_method):
    from aidemed.bench.harness import split_method_args

    assert split_method_args(args, methods) == (shared, per_method)


def test_method_args_for_a_method_outside_the_sweep_or_unknown_to_it_are_refused(fast_config, tmp_path):
    from aidemed.bench.harness import split_method_args

    with pytest.raises(ValueError, match="'cps' is not one of the sweep's methods"):
        split_method_args({"cps:x": 1}, ["aide", "supervised"])
    with pytest.raises(ValueError, match="supervised-f0.25-s0: method 'supervised' takes no method options"):
        run_sweep(replace(fast_config, method_args={"bootstrap_rounds": 2}), [RunSpec("supervised", 0.25, 0)],
                  tmp_path)
    with pytest.raises(ValueError, match="aide-f0.25-s0: unknown options"):
        run_sweep(fast_config, [RunSpec("aide", 0.25, 0)], tmp_path, method_args={"aide": {"no_such": 1}})
    assert not (tmp_path / "runs").exists()


def test_two_bootstrap_rounds_in_a_sweep_start_from_the_sibling_pseudo_label_run(fast_config, tmp_path):
    specs = [RunSpec("supervised", 0.25, 0), RunSpec("pseudo_label", 0.25, 0), RunSpec("aide", 0.25, 0)]
    run_sweep(fast_config, specs, tmp_path, method_args={"aide": {"bootstrap_rounds": 2}})
    runs = tmp_path / "runs"
    pseudo = json.loads((runs / "pseudo_label-f0.25-s0" / "results.json").read_text())["config"]
    aide = json.loads((runs / "aide-f0.25-s0" / "results.json").read_text())["config"]
    assert pseudo["method_args"]["bootstrap_run"].endswith("supervised-f0.25-s0")
    assert aide["method_args"] == {"bootstrap_rounds": 2,
                                   "bootstrap_run": str((runs / "pseudo_label-f0.25-s0").resolve())}
    assert not any((runs / "aide-f0.25-s0").glob("bootstrap*"))


def test_bench_cli_takes_method_scoped_options(fast_config, tmp_path, capsys):
    args = ["bench", "label-efficiency", "--data", fast_config.data, "--methods", "supervised",
            "--fractions", "0.25", "--seeds", "0", "--method-arg", "aide:select=ensemble", "-o", str(tmp_path / "s")]
    assert main(args) == 2
    assert "'aide' is not one of the sweep's methods" in capsys.readouterr().err


def test_bench_cli_refuses_fewer_than_one_job(fast_config, tmp_path, capsys):
    args = ["bench", "label-efficiency", "--data", fast_config.data, "--methods", "supervised",
            "--fractions", "0.25", "--seeds", "0", "--jobs", "0", "-o", str(tmp_path / "s")]
    assert main(args) == 2
    assert "aidemed: error: --jobs must be at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


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


def test_sweep_dependencies_name_the_run_each_bootstrap_waits_for(fast_config):
    from aidemed.bench.harness import _spec_config, sweep_dependencies

    specs = [RunSpec("supervised", 0.25, 0), RunSpec("aide", 0.25, 0), RunSpec("pseudo_label", 0.25, 0),
             RunSpec("mean_teacher", 0.25, 0), RunSpec("aide", 0.25, 1), RunSpec("aide", 0.1, 0)]
    configs = [_spec_config(fast_config, spec, {}) for spec in specs]
    assert sweep_dependencies(specs, configs) == {"aide-f0.25-s0": "supervised-f0.25-s0",
                                                  "pseudo_label-f0.25-s0": "supervised-f0.25-s0"}
    two_rounds = [_spec_config(fast_config, spec, {"aide": {"bootstrap_rounds": 2}}) for spec in specs]
    assert sweep_dependencies(specs, two_rounds)["aide-f0.25-s0"] == "pseudo_label-f0.25-s0"
    given = [_spec_config(fast_config, spec, {"aide": {"bootstrap_run": "/elsewhere"}}) for spec in specs]
    assert "aide-f0.25-s0" not in sweep_dependencies(specs, given)


def test_parallel_sweep_trains_what_the_sequential_one_does(fast_config, tmp_path):
    fast_config = replace(fast_config, num_threads=1)  # float sums depend on the thread count
    specs = [RunSpec("aide", 0.25, 0), RunSpec("supervised", 0.25, 0), RunSpec("supervised", 1.0, 0)]
    run_sweep(fast_config, specs, tmp_path / "one")
    messages = []
    run_sweep(fast_config, specs, tmp_path / "two", log=messages.append, jobs=2)
    for spec in specs:
        one, two = (json.loads((tmp_path / d / "runs" / spec.key / "results.json").read_text()) for d in ("one", "two"))
        assert two["test"]["dice"] == one["test"]["dice"], spec.key
    # aide was listed first, yet in both it bootstrapped from the sweep's supervised run, after it
    for d in ("one", "two"):
        aide = json.loads((tmp_path / d / "runs" / "aide-f0.25-s0" / "config.json").read_text())
        assert aide["method_args"]["bootstrap_run"].endswith(f"{d}/runs/supervised-f0.25-s0")
    order = [m.split()[1].rstrip(":") for m in messages if m.endswith("training")]
    assert order.index("aide-f0.25-s0") > order.index("supervised-f0.25-s0")
    assert "| aide | 0.25 |" in (tmp_path / "two" / "summary.md").read_text()


def test_a_failed_run_in_a_parallel_sweep_keeps_the_others_and_is_named(fast_config, tmp_path):
    broken = tmp_path / "runs" / "supervised-f0.25-s0" / "checkpoints"
    broken.mkdir(parents=True)
    (broken / "last.pt").write_bytes(b"not a checkpoint")
    specs = [RunSpec("supervised", 0.25, 0), RunSpec("aide", 0.25, 0), RunSpec("supervised", 1.0, 0)]
    with pytest.raises(RuntimeError, match=r"2 of 3 runs did not finish") as err:
        run_sweep(fast_config, specs, tmp_path, log=lambda m: None, jobs=2)
    assert "supervised-f0.25-s0" in str(err.value) and "last.pt" in str(err.value)
    assert "aide-f0.25-s0: not started: its bootstrap run supervised-f0.25-s0 failed" in str(err.value)
    assert (tmp_path / "runs" / "supervised-f1-s0" / "results.json").is_file()
    assert not (tmp_path / "runs" / "aide-f0.25-s0").exists()
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        run_sweep(fast_config, specs[2:], tmp_path, jobs=0)


def test_summary_config_line_names_only_the_augmentation_settings_changed():
    from dataclasses import asdict

    from aidemed.bench.harness import _augment_note
    from aidemed.engine.config import AugmentConfig

    default = asdict(AugmentConfig())
    assert _augment_note({"augment": default}) == "" and _augment_note({}) == ""
    changed = {**default, "rotate_degrees": 30.0, "scale_range": [0.75, 1.33], "gamma_range": list(default["gamma_range"])}
    assert _augment_note({"augment": changed}) == "; augmentation rotate_degrees=30.0, scale_range=[0.75, 1.33]"


@pytest.mark.parametrize("cfg, note", [({}, ""), ({"weight_ema": 0.0}, ""),
                                       ({"weight_ema": 0.99}, "; weight EMA 0.99 (its networks also candidates)")])
def test_summary_config_line_names_the_weight_average(cfg, note):
    from aidemed.bench.harness import _weight_ema_note

    assert _weight_ema_note(cfg) == note


@pytest.mark.parametrize("cfg, note", [({}, ""), ({"init_weights": ""}, ""),
                                       ({"init_weights": "/p/pt"}, "; networks started from the pretrained weights in "
                                        "/p/pt (all layers but the output layer)")])
def test_summary_config_line_names_the_pretrained_weights(cfg, note):
    from aidemed.bench.harness import _init_weights_note

    assert _init_weights_note(cfg) == note
