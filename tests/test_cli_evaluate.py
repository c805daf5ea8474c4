import csv
import json
import math

import nibabel as nib
import numpy as np
import pytest

from aidemed.cli.main import main
from aidemed.data.io import write_mask
from aidemed.metrics.evaluate import evaluate_folders, pair_cases, score_case


def square(shape, top_left, size, value=255):
    array = np.zeros(shape, np.uint8)
    array[tuple(slice(start, start + size) for start in top_left)] = value
    return array


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def png_folders(tmp_path):
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    gt = square((32, 32), (8, 8), 10)
    write_mask(gt_dir / "good.png", gt)
    write_mask(pred_dir / "good.png", square((32, 32), (8, 11), 10))  # Dice 0.7
    write_mask(gt_dir / "missed.png", gt)
    write_mask(pred_dir / "missed.png", np.zeros((32, 32), np.uint8))  # Dice 0, HD95 NaN
    write_mask(gt_dir / "normal.png", np.zeros((32, 32), np.uint8))
    write_mask(pred_dir / "normal.png", np.zeros((32, 32), np.uint8))  # both empty: Dice 1
    return pred_dir, gt_dir


def test_png_folders_csv_and_json(png_folders, tmp_path, capsys):
    pred_dir, gt_dir = png_folders
    csv_path, json_path = tmp_path / "out" / "results.csv", tmp_path / "summary.json"
    assert main(["evaluate", str(pred_dir), str(gt_dir), "-o", str(csv_path), "--json", str(json_path)]) == 0
    printed = capsys.readouterr().out
    assert "3 cases" in printed and "dice" in printed and "1 NaN" in printed

    rows = {row["case"]: row for row in read_rows(csv_path)}
    assert sorted(rows) == ["good", "missed", "normal"]
    assert float(rows["good"]["dice"]) == pytest.approx(0.7)
    assert float(rows["missed"]["dice"]) == 0.0 and math.isnan(float(rows["missed"]["hd95"]))
    assert float(rows["normal"]["dice"]) == 1.0 and float(rows["normal"]["hd95"]) == 0.0
    assert rows["good"]["gt_voxels"] == "100" and rows["missed"]["pred_voxels"] == "0"

    summary = json.loads(json_path.read_text())
    dice = summary["summary"]["1"]["dice"]
    assert dice["mean"] == pytest.approx(1.7 / 3) and dice["n"] == 3 and dice["n_nan"] == 0
    hd95 = summary["summary"]["1"]["hd95"]
    assert hd95["n"] == 3 and hd95["n_nan"] == 1
    assert summary["n_cases"] == 3 and summary["labels"] == [1] and summary["missing_predictions"] == []


def test_png_spacing_option_scales_distances(tmp_path):
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    write_mask(gt_dir / "a.png", square((16, 16), (5, 5), 1))
    write_mask(pred_dir / "a.png", square((16, 16), (5, 8), 1))  # 3 px along x
    unit = evaluate_folders(pred_dir, gt_dir).rows[0]
    scaled = evaluate_folders(pred_dir, gt_dir, spacing_2d=(2.0, 0.5)).rows[0]
    assert unit["hd95"] == 3.0 and scaled["hd95"] == 1.5
    csv_path = tmp_path / "r.csv"
    assert main(["evaluate", str(pred_dir), str(gt_dir), "--spacing", "2", "0.5", "-o", str(csv_path)]) == 0
    assert float(read_rows(csv_path)[0]["assd"]) == 1.5


def test_shape_mismatch_names_both_files(tmp_path, capsys):
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    write_mask(gt_dir / "a.png", square((32, 32), (4, 4), 8))
    write_mask(pred_dir / "a.png", square((32, 30), (4, 4), 8))
    assert main(["evaluate", str(pred_dir), str(gt_dir)]) == 2
    error = capsys.readouterr().err
    assert "shape mismatch" in error and str(pred_dir / "a.png") in error and str(gt_dir / "a.png") in error
    assert "(32, 30)" in error and "(32, 32)" in error


def test_missing_prediction_is_an_error_unless_allowed(png_folders, tmp_path, capsys):
    pred_dir, gt_dir = png_folders
    (pred_dir / "good.png").unlink()
    assert main(["evaluate", str(pred_dir), str(gt_dir)]) == 2
    error = capsys.readouterr().err
    assert "1 of 3" in error and "good" in error and "--allow-missing" in error

    csv_path = tmp_path / "r.csv"
    assert main(["evaluate", str(pred_dir), str(gt_dir), "--allow-missing", "-o", str(csv_path)]) == 0
    assert "scored as empty: good" in capsys.readouterr().out
    rows = {row["case"]: row for row in read_rows(csv_path)}
    assert rows["good"]["missing_prediction"] == "1" and float(rows["good"]["dice"]) == 0.0
    assert rows["normal"]["missing_prediction"] == "0"


def write_nifti(path, array_zxy, spacing_zxy):
    # aidemed arrays are (Z, X, Y); the file holds (X, Y, Z) with zooms (sx, sy, sz).
    sz, sx, sy = spacing_zxy
    path.parent.mkdir(parents=True, exist_ok=True)
    volume = np.moveaxis(array_zxy.astype(np.uint8), 0, -1)
    nib.save(nib.Nifti1Image(volume, np.diag([sx, sy, sz, 1.0])), str(path))


def test_nifti_uses_header_spacing(tmp_path):
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    spacing = (3.0, 0.5, 0.8)  # (sz, sx, sy)
    gt = np.zeros((8, 10, 12), np.uint8)
    gt[2, 4, 4] = 1
    pred_z, pred_y = gt.copy(), gt.copy()
    pred_z[2, 4, 4], pred_z[4, 4, 4] = 0, 1  # 2 slices away: 6 mm
    pred_y[2, 4, 4], pred_y[2, 4, 9] = 0, 1  # 5 voxels along y: 4 mm
    write_nifti(gt_dir / "z.nii.gz", gt, spacing)
    write_nifti(pred_dir / "z.nii.gz", pred_z, spacing)
    write_nifti(gt_dir / "y.nii.gz", gt, spacing)
    write_nifti(pred_dir / "y.nii.gz", pred_y, spacing)
    rows = {row["case"]: row for row in evaluate_folders(pred_dir, gt_dir).rows}
    assert rows["z"]["hd95"] == pytest.approx(6.0) and rows["z"]["assd"] == pytest.approx(6.0)
    assert rows["y"]["hd95"] == pytest.approx(4.0)
    # --spacing is for 2D images only: the header still wins for NIfTI.
    rows = {row["case"]: row for row in evaluate_folders(pred_dir, gt_dir, spacing_2d=(1.0, 1.0)).rows}
    assert rows["z"]["hd95"] == pytest.approx(6.0)


def test_pairing_across_formats_and_nnunet_channel_suffix(tmp_path):
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    mask = np.zeros((4, 6, 6), np.uint8)
    mask[1:3, 2:4, 2:4] = 1
    write_nifti(gt_dir / "case_001.nii.gz", mask, (1, 1, 1))
    write_nifti(pred_dir / "case_001_0000.nii", mask, (1, 1, 1))
    write_mask(gt_dir / "b.png", square((8, 8), (2, 2), 3))
    write_mask(pred_dir / "b.png", square((8, 8), (2, 2), 3))
    write_mask(pred_dir / "extra.png", square((8, 8), (2, 2), 3))
    (gt_dir / "dataset.json").write_text("{}")  # not a mask: ignored
    pairing = pair_cases(pred_dir, gt_dir)
    assert {p.case_id: p.pred_path.name for p in pairing.pairs} == {"case_001": "case_001_0000.nii", "b": "b.png"}
    assert [p.name for p in pairing.unmatched_predictions] == ["extra.png"]
    result = evaluate_folders(pred_dir, gt_dir)
    assert all(row["dice"] == 1.0 for row in result.rows)
    assert result.unmatched_predictions == ["extra.png"]


def test_multiclass_labels(tmp_path, capsys):
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    two_classes = square((20, 20), (2, 2), 5, value=1) + square((20, 20), (10, 10), 5, value=2)
    write_mask(gt_dir / "both.png", two_classes)
    write_mask(pred_dir / "both.png", two_classes)
    only_one = square((20, 20), (2, 2), 5, value=1)
    write_mask(gt_dir / "one.png", only_one)
    write_mask(pred_dir / "one.png", only_one)
    # Default labels: every label found; "one" lacks class 2 in both masks, a correct empty.
    result = evaluate_folders(pred_dir, gt_dir)
    assert result.labels == [1, 2]
    assert [(row["case"], row["label"]) for row in result.rows] == [("both", 1), ("both", 2), ("one", 1), ("one", 2)]
    assert result.summary[2]["dice"]["n"] == 2 and result.summary[2]["dice"]["mean"] == 1.0
    json_path = tmp_path / "s.json"
    assert main(["evaluate", str(pred_dir), str(gt_dir), "--labels", "2", "--json", str(json_path)]) == 0
    assert list(json.loads(json_path.read_text())["summary"]) == ["2"]
    with pytest.raises(SystemExit):
        main(["evaluate", str(pred_dir), str(gt_dir), "--labels", "0"])
    assert "background" in capsys.readouterr().err


def test_empty_ground_truth_folder_and_duplicates(tmp_path, capsys):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 2
    assert "no mask files" in capsys.readouterr().err
    write_mask(tmp_path / "gt" / "a.png", square((8, 8), (2, 2), 3))
    write_nifti(tmp_path / "gt" / "a.nii.gz", np.zeros((2, 8, 8), np.uint8), (1, 1, 1))
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 2
    assert "two files for case 'a'" in capsys.readouterr().err


def test_score_case_rows_for_training_code():
    gt = square((16, 16), (4, 4), 6, value=1)
    rows = score_case(gt, gt, labels=[1, 2], spacing=(1.0, 1.0), case_id="x")
    assert [(r["case"], r["label"], r["dice"], r["hd95"]) for r in rows] == [("x", 1, 1.0, 0.0), ("x", 2, 1.0, 0.0)]
