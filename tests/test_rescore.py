"""Rescoring a finished run's selected model (aidemed.engine.run.rescore_test), the sweep script built on
it (benchmarks/rescore_sweep.py) and `aidemed predict --flip`."""

import json
import shutil

import numpy as np
import pytest
from script_support import benchmark_script

from aidemed.cli.main import main
from aidemed.engine.config import TrainConfig
from aidemed.engine.run import rescore_test, train


@pytest.fixture(scope="module")
def finished_sweep(phantom_dir, tmp_path_factory):
    """A sweep folder with one finished supervised run (best.pt kept)."""
    sweep = tmp_path_factory.mktemp("sweep")
    cfg = TrainConfig(data=str(phantom_dir), net="unet-small", profile="32", epochs=2, batch_size=4,
                      iterations_per_epoch=3, progress=False, labelled_fraction=0.25)
    train(cfg, sweep / "runs" / "supervised-f0.25-s0")
    return sweep


def test_rescoring_without_flip_repeats_the_runs_own_test_scores(finished_sweep):
    run = finished_sweep / "runs" / "supervised-f0.25-s0"
    original = json.loads((run / "results.json").read_text())["test"]
    again = rescore_test(run)
    assert again["n_cases"] == original["n_cases"] > 0
    assert again["dice"] == pytest.approx(original["dice"], abs=1e-6)


def test_flip_changes_the_scores_of_a_model_that_is_not_mirror_symmetric(finished_sweep):
    run = finished_sweep / "runs" / "supervised-f0.25-s0"
    plain, mirrored = rescore_test(run), rescore_test(run, flip=True)
    assert mirrored["n_cases"] == plain["n_cases"]
    assert mirrored["dice"] != pytest.approx(plain["dice"], abs=1e-9)


def test_a_run_without_its_checkpoint_is_refused_by_path(finished_sweep, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copyfile(finished_sweep / "runs" / "supervised-f0.25-s0" / "results.json", run / "results.json")
    with pytest.raises(FileNotFoundError, match=r"checkpoints/best.pt: missing"):
        rescore_test(run)


def test_a_changed_split_is_refused(finished_sweep, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_sweep / "runs" / "supervised-f0.25-s0", run)
    results = json.loads((run / "results.json").read_text())
    results["scored"]["n_cases"] += 1
    (run / "results.json").write_text(json.dumps(results))
    with pytest.raises(ValueError, match="the split file changed"):
        rescore_test(run)


def test_the_script_writes_a_sweep_that_keeps_the_original_scores_and_resumes(finished_sweep, tmp_path, capsys):
    script = benchmark_script("rescore_sweep")
    out = tmp_path / "flip"
    assert script.main([str(finished_sweep), "--flip", "-o", str(out)]) == 0
    run = out / "runs" / "supervised-f0.25-s0"
    source = json.loads((finished_sweep / "runs" / "supervised-f0.25-s0" / "results.json").read_text())
    rescored = json.loads((run / "results.json").read_text())
    assert rescored["rescored"]["flip"] is True
    assert rescored["rescored"]["original_test"] == source["test"]
    assert rescored["test"]["dice"] == pytest.approx(rescore_test(finished_sweep / "runs" / run.name, flip=True)["dice"])
    dice = np.loadtxt(run / "test_cases.csv", delimiter=",", skiprows=1, usecols=2, ndmin=1)
    assert dice.mean() == pytest.approx(rescored["test"]["dice"], abs=1e-6)  # one foreground label
    assert (out / "summary.md").is_file() and "rescore_sweep.py" in (out / "commands.txt").read_text()
    capsys.readouterr()
    script.main([str(finished_sweep), "--flip", "-o", str(out)])
    assert "already rescored" in capsys.readouterr().out


def test_the_script_names_the_runs_it_could_not_rescore_and_keeps_the_others(finished_sweep, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(finished_sweep, sweep)
    broken = sweep / "runs" / "supervised-f0.25-s1"
    broken.mkdir()
    shutil.copyfile(sweep / "runs" / "supervised-f0.25-s0" / "results.json", broken / "results.json")
    out = tmp_path / "flip"
    with pytest.raises(SystemExit, match="supervised-f0.25-s1: .*best.pt: missing"):
        benchmark_script("rescore_sweep").main([str(sweep), "--flip", "-o", str(out)])
    assert (out / "runs" / "supervised-f0.25-s0" / "results.json").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--flip", "-o", "{sweep}"], "must differ from the sweep folder"),
    (["-o", "{tmp}/x"], "pass --flip"),
    (["--flip", "--methods", "aide", "-o", "{tmp}/x"], "no finished runs of aide"),
])
def test_the_script_refuses_what_it_cannot_do(finished_sweep, tmp_path, argv, message):
    argv = [a.format(sweep=finished_sweep, tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit, match=message):
        benchmark_script("rescore_sweep").main([str(finished_sweep), *argv])


def test_predict_with_flip_writes_the_mirrored_average(finished_sweep, phantom_dir, tmp_path):
    run = finished_sweep / "runs" / "supervised-f0.25-s0"
    for flag, folder in (([], "plain"), (["--flip"], "flip")):
        assert main(["predict", str(run), str(phantom_dir), "--split", "test", "-o", str(tmp_path / folder),
                     "--device", "cpu", *flag]) == 0
    plain, flip = sorted((tmp_path / "plain").glob("*.png")), sorted((tmp_path / "flip").glob("*.png"))
    assert [p.name for p in plain] == [p.name for p in flip] and plain
    from PIL import Image

    differ = sum(not np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b))) for a, b in zip(plain, flip))
    assert differ > 0
