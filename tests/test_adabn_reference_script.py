"""benchmarks/adabn_reference.py: DA runs re-scored on the target as trained and after AdaBN."""

import json
from dataclasses import replace

import pytest
from script_support import benchmark_script

from aidemed.data.manifest import write_dataset
from aidemed.engine.run import train

adabn_reference = benchmark_script("adabn_reference")


@pytest.fixture(scope="module")
def da_runs(phantom_dir, tmp_path_factory):
    """Source-only and pseudo_label, seeds 0-1, adapting to a darker phantom site."""
    from aidemed.data.phantom import generate_phantom_dataset
    from aidemed.engine.config import TrainConfig

    target = tmp_path_factory.mktemp("target")
    dataset = generate_phantom_dataset(target, n_cases=16, size=48, seed=1)
    write_dataset(target, dataset.info, [replace(c, site="site-b") for c in dataset.cases])
    root = tmp_path_factory.mktemp("runs")
    base = TrainConfig(data=str(phantom_dir), net="unet-small", profile="32", epochs=1, batch_size=4,
                       iterations_per_epoch=2, progress=False, labelled_fraction=1.0,
                       setting="domain-adaptation", target_data=str(target))
    runs = []
    for seed in (0, 1):
        source = root / f"supervised-s{seed}"
        train(replace(base, seed=seed), source)
        pseudo = root / f"pseudo_label-s{seed}"
        train(replace(base, seed=seed, method="pseudo_label", method_args={"bootstrap_run": str(source)}), pseudo)
        runs += [source, pseudo]
    return runs


def test_rows_tests_and_rescored_dice(da_runs, tmp_path):
    assert adabn_reference.main([*map(str, da_runs), "-o", str(tmp_path / "adabn")]) == 0
    result = json.loads((tmp_path / "adabn.json").read_text())
    assert [r["label"] for r in result["rows"]] == ["supervised", "supervised + AdaBN", "pseudo_label",
                                                     "pseudo_label + AdaBN"]
    for row in result["rows"]:
        assert row["seeds"] == [0, 1] and 0 <= row["dice_mean"] <= 1
    for run in result["runs"]:  # as trained, the script scores what the run itself recorded
        assert run["trained_dice"] == pytest.approx(run["recorded_dice"], abs=1e-6)
    pairs = {(t["row"], t["against"]) for t in result["paired_tests"]}
    assert ("supervised + AdaBN", "supervised") in pairs and ("supervised", "supervised + AdaBN") not in pairs
    assert {("pseudo_label", "supervised"), ("pseudo_label + AdaBN", "supervised + AdaBN")} <= pairs
    markdown = (tmp_path / "adabn.md").read_text()
    assert "adabn_reference.py" in markdown and "| supervised + AdaBN | 2 |" in markdown


def test_refuses_runs_it_cannot_score(da_runs, phantom_dir, tmp_path):
    from aidemed.engine.config import TrainConfig

    semi = tmp_path / "semi"
    train(TrainConfig(data=str(phantom_dir), net="unet-small", profile="32", epochs=1, batch_size=4,
                      iterations_per_epoch=1, progress=False), semi)
    with pytest.raises(SystemExit, match="not a domain-adaptation run"):
        adabn_reference.main([str(semi), "-o", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="no supervised"):
        adabn_reference.main([str(da_runs[1]), "-o", str(tmp_path / "x")])
    assert not (tmp_path / "x.json").exists()


def test_statistics_from_the_test_images_are_a_different_adaptation(da_runs, tmp_path):
    runs = [str(r) for r in da_runs if "supervised" in r.name]
    assert adabn_reference.main([*runs, "-o", str(tmp_path / "train")]) == 0
    assert adabn_reference.main([*runs, "--stats-from", "test", "-o", str(tmp_path / "test")]) == 0
    on_train, on_test = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("train", "test"))
    assert on_train["stats_from"] == "train" and on_test["stats_from"] == "test"
    assert [r["trained_dice"] for r in on_train["runs"]] == [r["trained_dice"] for r in on_test["runs"]]
    assert [r["adabn_dice"] for r in on_train["runs"]] != [r["adabn_dice"] for r in on_test["runs"]]
    assert "transductive" in (tmp_path / "test.md").read_text()
