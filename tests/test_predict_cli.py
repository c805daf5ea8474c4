import json

import nibabel as nib
import numpy as np
import pytest

from aidemed.cli.main import main
from aidemed.data.io import read_mask, write_image_png
from aidemed.engine.run import train


@pytest.fixture(scope="module")
def trained_run(phantom_dir, tmp_path_factory):
    from aidemed.engine.config import TrainConfig

    cfg = TrainConfig(data=str(phantom_dir), profile="32", epochs=1, batch_size=4, iterations_per_epoch=2,
                      progress=False)
    run = tmp_path_factory.mktemp("run")
    train(cfg, run)
    return run


def test_predict_writes_png_masks_in_the_input_size_with_overlays(trained_run, tmp_path):
    images = tmp_path / "images"
    write_image_png(images / "wide.png", np.random.default_rng(0).uniform(0, 255, (40, 70)))
    write_image_png(images / "tall.png", np.random.default_rng(1).uniform(0, 255, (90, 30)))
    assert main(["predict", str(trained_run), str(images), "-o", str(tmp_path / "out"), "--overlay"]) == 0
    assert read_mask(tmp_path / "out" / "wide.png")[0].shape == (40, 70)
    assert read_mask(tmp_path / "out" / "tall.png")[0].shape == (90, 30)
    assert (tmp_path / "out" / "overlays" / "wide.png").is_file()


def test_predict_keeps_the_nifti_affine(trained_run, tmp_path):
    affine = np.diag([0.7, 0.8, 2.5, 1.0])
    affine[:3, 3] = [10, -5, 3]
    volume = np.random.default_rng(2).normal(size=(36, 44, 5)).astype(np.float32)
    nib.save(nib.Nifti1Image(volume, affine), str(tmp_path / "vol.nii.gz"))
    assert main(["predict", str(trained_run), str(tmp_path / "vol.nii.gz"), "-o", str(tmp_path / "out")]) == 0
    out = nib.load(str(tmp_path / "out" / "vol.nii.gz"))
    assert out.shape == (36, 44, 5)
    assert np.allclose(out.affine, affine)


def test_predict_on_a_dataset_split_then_evaluate_scores_it(trained_run, phantom_dir, tmp_path, capsys):
    assert main(["predict", str(trained_run), str(phantom_dir), "--split", "test", "-o", str(tmp_path / "pred")]) == 0
    n_test = len(json.loads((phantom_dir / "splits.json").read_text())["test"])
    assert len(list((tmp_path / "pred").glob("*.png"))) == n_test
    gt = tmp_path / "gt"
    gt.mkdir()
    for p in (tmp_path / "pred").glob("*.png"):
        (gt / p.name).write_bytes((phantom_dir / "masks" / p.name).read_bytes())
    assert main(["evaluate", str(tmp_path / "pred"), str(gt), "-o", str(tmp_path / "scores.csv")]) == 0
    assert len((tmp_path / "scores.csv").read_text().splitlines()) == n_test + 1


def test_predict_with_a_broken_checkpoint_names_the_file(tmp_path, capsys):
    bad = tmp_path / "best.pt"
    bad.write_bytes(b"\x00" * 64)
    assert main(["predict", str(bad), str(tmp_path), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "best.pt" in err and "corrupt" in err
    assert not (tmp_path / "o").exists()


def test_train_cli_runs_and_reports(phantom_dir, tmp_path, capsys):
    code = main(["train", "--data", str(phantom_dir), "--profile", "32", "--epochs", "1", "--batch-size", "4",
                 "--iterations-per-epoch", "2", "--labelled-fraction", "0.5", "--quiet", "-o", str(tmp_path / "r")])
    assert code == 0
    assert "test Dice" in capsys.readouterr().out


def test_train_cli_rejects_an_unknown_method(phantom_dir, tmp_path, capsys):
    assert main(["train", "--data", str(phantom_dir), "--method", "nope", "--quiet", "-o", str(tmp_path / "r")]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err


def test_predict_on_a_folder_of_numbered_single_channel_images(trained_run, tmp_path):
    images = tmp_path / "images"
    for i in range(3):
        write_image_png(images / f"scan_{i:04d}.png", np.random.default_rng(i).uniform(0, 255, (30, 30)))
    assert main(["predict", str(trained_run), str(images), "-o", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["scan_0000.png", "scan_0001.png", "scan_0002.png"]


def test_predict_adapt_bn_adapts_to_the_inputs_without_touching_the_checkpoint(trained_run, tmp_path):
    images = tmp_path / "images"
    for i in range(4):
        write_image_png(images / f"site_b_{i}.png", np.random.default_rng(i).uniform(0, 255, (32, 32)))
    checkpoint = trained_run / "checkpoints" / "best.pt"
    before = checkpoint.read_bytes()
    assert main(["predict", str(trained_run), str(images), "-o", str(tmp_path / "out"), "--adapt-bn"]) == 0
    assert len(list((tmp_path / "out").glob("*.png"))) == 4
    assert checkpoint.read_bytes() == before


def test_predict_adapt_bn_statistics_come_from_the_inputs(trained_run, tmp_path, monkeypatch):
    from aidemed.engine import inference

    seen = []
    monkeypatch.setattr(inference, "adapt_batchnorm", lambda nets, images: seen.append(images.shape) or 1)
    images = tmp_path / "images"
    for i in range(3):
        write_image_png(images / f"c{i}.png", np.random.default_rng(i).uniform(0, 255, (40, 50)))
    assert main(["predict", str(trained_run), str(images), "-o", str(tmp_path / "out"), "--adapt-bn"]) == 0
    assert seen and seen[0][0] == 3 and seen[0][-2:] == (32, 32)  # every input, at the model's size


def test_predict_adapt_bn_refuses_a_network_without_batch_norm(phantom_dir, tmp_path, capsys):
    from aidemed.engine.config import TrainConfig

    run = tmp_path / "instance-norm"  # MONAI's BasicUNet normalises per instance: no statistics to adapt
    train(TrainConfig(data=str(phantom_dir), net="basicunet-small", profile="32", epochs=1, batch_size=4,
                      iterations_per_epoch=1, progress=False), run)
    out = tmp_path / "o"
    assert main(["predict", str(run), str(phantom_dir), "--split", "test", "-o", str(out), "--adapt-bn"]) == 2
    assert "best.pt: --adapt-bn needs a network with batch norm" in capsys.readouterr().err
    assert not out.exists()
