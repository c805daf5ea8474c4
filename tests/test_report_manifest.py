"""A report manifest in the MIMIC-CXR-JPG layout (image path, study text): import + train-cls.

Images are generated; the report texts are real (the IU X-ray development reports, read in place).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from reports_support import require_iu_reports


def _mimic_style_csv(tmp_path, n=36):
    from PIL import Image

    reports = require_iu_reports()
    with reports.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if (r.get("findings") or r.get("impression"))][:n]
    root = tmp_path / "mimic-cxr-jpg"
    rng = np.random.default_rng(0)
    root.mkdir()
    out = root / "studies.csv"
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "text"])
        for i, r in enumerate(rows):
            rel = f"files/p10/p10{i:06d}/s5{i:07d}/{i:08x}-dicom.jpg"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (40, 34), dtype=np.uint8)).save(root / rel)
            text = f"FINDINGS: {r['findings']}\n\nIMPRESSION: {r['impression']}"
            writer.writerow([rel, text])
    return out, rows


def test_import_report_csv_and_train_multilabel_from_reports(tmp_path, capsys):
    from aidemed.cli.main import main
    from aidemed.data.manifest import load_dataset

    csv_path, rows = _mimic_style_csv(tmp_path)
    out = tmp_path / "prepared"
    assert main(["data", "import", "report-csv", str(csv_path), "-o", str(out), "--path-col", "path",
                 "--text-col", "text"]) == 0
    dataset = load_dataset(out)
    assert len(dataset) == len(rows)
    assert all(c.mask is None and c.report and (out / c.images[0]).is_file() for c in dataset.cases)
    assert dataset.cases[0].report.startswith("FINDINGS: ")
    splits = json.loads((out / "splits.json").read_text())
    assert splits["val"] and splits["test"]  # a split over all cases, though none has a mask
    assert main(["data", "check", str(out)]) == 0

    run = tmp_path / "run"
    assert main(["train-cls", "--data", str(out), "--labels-from-reports", "--vocab", "chexpert",
                 "--rate-policy", "certainty", "--warmup-epochs", "1", "--net", "resnet-tiny", "--profile", "32",
                 "--epochs", "2", "--batch-size", "8", "--iterations-per-epoch", "1", "--n-boot", "5",
                 "--device", "cpu", "--quiet", "-o", str(run)]) == 0
    result = json.loads((run / "results.json").read_text())
    assert result["task"] == "multilabel" and result["truth_source"] == "reports"
    assert "Pleural Effusion" in result["names"] and "Cardiomegaly" in result["names"]
    assert result["n_train_labelled"] > 0
    assert set(result["test"]["auroc_per_finding"]) == set(result["names"])
    assert result["train_labels"]["Pneumothorax"]["negative"] > 0  # "no pneumothorax" is common in IU reports


def test_report_csv_errors_name_the_problem(tmp_path):
    from aidemed.data.importers import import_dataset
    from aidemed.data.io import DataError

    bad = tmp_path / "bad.csv"
    bad.write_text("image,report\nx.png,No effusion.\n")
    with pytest.raises(DataError, match="no column"):
        import_dataset("report-csv", bad, tmp_path / "out")
    bad.write_text("path,text\nmissing.png,No effusion.\n")
    with pytest.raises(DataError, match=r"bad.csv:2: image .* not found"):
        import_dataset("report-csv", bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()
