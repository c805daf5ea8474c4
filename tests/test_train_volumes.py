"""3D volumes (nnU-Net v2 raw, NIfTI): trained slice-wise by a 2D network, scored per volume with its
spacing, predicted back with the original affine; and a multi-channel, multi-class 2D dataset."""

import json

import nibabel as nib
import numpy as np

from aidemed.data.importers import import_dataset
from aidemed.engine.config import TrainConfig
from aidemed.engine.run import train


def _nnunet_3d(root, n=10):
    root.mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps({"channel_names": {"0": "MR"}, "labels": {"background": 0, "organ": 1},
                                                   "numTraining": n, "file_ending": ".nii.gz"}))
    affine = np.diag([0.8, 0.8, 3.0, 1.0])
    rng = np.random.default_rng(0)
    for i in range(n):
        label = np.zeros((24, 24, 6), np.uint8)
        label[6 + i % 4:16, 5:15 + i % 3, 1:5] = 1
        image = rng.normal(size=label.shape).astype(np.float32) + 3 * label
        for folder, name, data in (("imagesTr", f"v{i:02d}_0000", image), ("labelsTr", f"v{i:02d}", label)):
            (root / folder).mkdir(exist_ok=True)
            nib.save(nib.Nifti1Image(data, affine), str(root / folder / f"{name}.nii.gz"))
    return affine


def test_volumes_train_slicewise_and_score_per_volume_with_spacing(tmp_path):
    _nnunet_3d(tmp_path / "raw")
    dataset = import_dataset("nnunet", tmp_path / "raw", tmp_path / "prepared")
    assert dataset.info.dims == 3
    cfg = TrainConfig(data=str(tmp_path / "prepared"), profile="24", epochs=2, batch_size=8, progress=False)
    result = train(cfg, tmp_path / "run")
    n_test = len(json.loads((tmp_path / "prepared" / "splits.json").read_text())["test"])
    rows = (tmp_path / "run" / "test_cases.csv").read_text().splitlines()
    assert len(rows) == n_test + 1  # one row per volume, not per slice
    assert result["n_train"] == 6 * len(json.loads((tmp_path / "prepared" / "splits.json").read_text())["train"])
    from aidemed.data.cache import decode_case
    from aidemed.data.manifest import load_dataset
    from aidemed.engine.inference import Predictor
    from aidemed.metrics.segmentation import segmentation_metrics

    header = rows[0].split(",")
    first = dict(zip(header, rows[1].split(",")))
    ds = load_dataset(tmp_path / "prepared")
    case = ds.case(first["case"])
    assert np.allclose(case.spacing, [3.0, 0.8, 0.8])
    image, mask = decode_case(ds, case)
    assert mask.ndim == 3
    pred, _ = Predictor.from_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt").predict_case(image)
    expected = segmentation_metrics(pred, mask, spacing=case.spacing)
    assert abs(float(first["dice"]) - expected["dice"]) < 1e-9
    if np.isfinite(expected["hd95"]):
        assert abs(float(first["hd95"]) - expected["hd95"]) < 1e-6


def test_prediction_of_a_volume_keeps_its_geometry(tmp_path):
    from aidemed.cli.main import main

    affine = _nnunet_3d(tmp_path / "raw", n=6)
    import_dataset("nnunet", tmp_path / "raw", tmp_path / "prepared")
    cfg = TrainConfig(data=str(tmp_path / "prepared"), profile="24", epochs=1, batch_size=8, progress=False)
    train(cfg, tmp_path / "run")
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "raw" / "imagesTr"), "-o", str(tmp_path / "pred")]) == 0
    out = nib.load(str(tmp_path / "pred" / "v00.nii.gz"))
    assert out.shape == (24, 24, 6) and np.allclose(out.affine, affine)


def test_multichannel_multiclass_2d_dataset_trains(tmp_path):
    from PIL import Image

    raw = tmp_path / "raw"
    (raw / "imagesTr").mkdir(parents=True)
    (raw / "labelsTr").mkdir()
    (raw / "dataset.json").write_text(json.dumps({"channel_names": {"0": "A", "1": "B"},
                                                  "labels": {"background": 0, "x": 1, "y": 2},
                                                  "numTraining": 12, "file_ending": ".png"}))
    rng = np.random.default_rng(1)
    for i in range(12):
        label = np.zeros((32, 32), np.uint8)
        label[4:14, 4:14], label[18:28, 16:30] = 1, 2
        for ch in range(2):
            Image.fromarray((rng.uniform(0, 60, (32, 32)) + 80 * (label == ch + 1)).astype(np.uint8)).save(
                raw / "imagesTr" / f"c{i:02d}_{ch:04d}.png")
        Image.fromarray(label).save(raw / "labelsTr" / f"c{i:02d}.png")
    import_dataset("nnunet", raw, tmp_path / "prepared")
    cfg = TrainConfig(data=str(tmp_path / "prepared"), profile="32", epochs=2, batch_size=4, progress=False,
                      method="aide", labelled_fraction=0.5)
    result = train(cfg, tmp_path / "run")
    assert set(result["test"]["per_label"]) == {"1", "2"}
