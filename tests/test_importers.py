"""Importers: BUSI, STU, folder, nnU-Net and phantom into prepared dataset folders."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from aidemed.cli.main import main
from aidemed.data.check import check_dataset
from aidemed.data.importers import IMPORTERS, import_dataset, register_importer
from aidemed.data.io import DataError, read_image, read_mask
from aidemed.data.manifest import load_dataset
from data_support import require_shared


def problems(root) -> list:
    """check_dataset's problems, less the empty val/test splits that tiny test datasets have."""
    return [p for p in check_dataset(root) if not p.message.endswith("is empty")]


def save_png(path: Path, array) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


def rect_mask(shape, y0, y1, x0, x1) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    mask[y0:y1, x0:x1] = 255
    return mask


def noise(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


@pytest.fixture
def busi_src(tmp_path) -> Path:
    """A tiny BUSI-layout folder: multi-mask benign, single-mask cases, normal with and without a mask file."""
    root = tmp_path / "busi" / "Dataset_BUSI_with_GT"
    shape = (40, 60)
    for cls, n in (("benign", 6), ("malignant", 4), ("normal", 3)):
        for i in range(1, n + 1):
            save_png(root / cls / f"{cls} ({i}).png", noise(shape, i))
            if cls != "normal":
                save_png(root / cls / f"{cls} ({i})_mask.png", rect_mask(shape, 2, 10, 2 + i, 12 + i))
            elif i != 3:  # normal (3) has no mask file at all
                save_png(root / cls / f"{cls} ({i})_mask.png", np.zeros(shape))
    save_png(root / "benign" / "benign (1)_mask_1.png", rect_mask(shape, 20, 30, 30, 50))
    save_png(root / "benign" / "benign (1)_mask_2.png", rect_mask(shape, 25, 35, 5, 15))
    return tmp_path / "busi"


def test_busi_synthetic(busi_src, tmp_path):
    ds = import_dataset("busi", busi_src, tmp_path / "out")
    assert len(ds) == 13
    assert Counter(c.label for c in ds.cases) == {"benign": 6, "malignant": 4, "normal": 3}
    assert [c.id for c in ds.cases][:2] == ["benign_001", "benign_002"]
    case = ds.case("benign_001")
    assert case.site == "busi" and case.label == "benign"
    assert case.extra["source_file"] == "benign/benign (1).png"
    assert len(case.extra["mask_files"]) == 3
    mask, geometry = read_mask(ds.mask_path(case))
    expected = np.zeros((40, 60), np.uint8)
    expected[2:10, 3:13] = expected[20:30, 30:50] = expected[25:35, 5:15] = 1
    np.testing.assert_array_equal(mask, expected)
    # images copied as 8-bit grayscale PNG, unchanged
    with Image.open(ds.image_paths(case)[0]) as img:
        assert img.mode == "L" and img.format == "PNG"
        np.testing.assert_array_equal(np.asarray(img), noise((40, 60), 1))
    for normal in (c for c in ds.cases if c.label == "normal"):
        assert normal.mask is not None  # annotated, empty
        m, _ = read_mask(ds.mask_path(normal))
        assert m.shape == (40, 60) and not m.any()
    assert ds.splits_path.is_file()
    assert ds.info.classes == ["benign", "malignant", "normal"] and ds.info.dims == 2
    assert check_dataset(ds.root) == []
    # nothing of the staging folder is left behind
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_busi_cli_split_excludes_normal(busi_src, tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["data", "import", "busi", str(busi_src), "-o", str(out), "--exclude-label", "normal"]) == 0
    assert "imported busi" in capsys.readouterr().out
    ds = load_dataset(out)
    splits = ds.load_splits()
    in_split = splits["train"] + splits["val"] + splits["test"]
    assert len(in_split) == 10 and {ds.case(i).label for i in in_split} == {"benign", "malignant"}
    assert splits["exclude_labels"] == ["normal"]
    assert sum(c.label == "normal" for c in ds.cases) == 3  # still in the manifest

    assert main(["data", "import", "busi", str(busi_src), "-o", str(tmp_path / "nonormal"), "--no-normal"]) == 0
    assert {c.label for c in load_dataset(tmp_path / "nonormal").cases} == {"benign", "malignant"}


def test_busi_errors_name_the_file(busi_src, tmp_path):
    root = busi_src / "Dataset_BUSI_with_GT"
    save_png(root / "malignant" / "malignant (2)_mask_1.png", np.zeros((20, 20)))
    with pytest.raises(DataError, match=r"malignant \(2\)_mask_1\.png: mask size"):
        import_dataset("busi", busi_src, tmp_path / "out")
    (root / "malignant" / "malignant (2)_mask_1.png").unlink()
    (root / "benign" / "benign (4).png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DataError, match=r"benign \(4\)\.png: cannot decode"):
        import_dataset("busi", busi_src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(DataError, match="source not found"):
        import_dataset("busi", tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(DataError, match="not a BUSI folder"):
        import_dataset("busi", tmp_path / "busi" / "Dataset_BUSI_with_GT" / "benign", tmp_path / "out")


def test_failed_reimport_keeps_existing_dataset(busi_src, tmp_path):
    out = tmp_path / "out"
    import_dataset("busi", busi_src, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(DataError, match="already exists"):
        import_dataset("busi", busi_src, out)
    (busi_src / "Dataset_BUSI_with_GT" / "normal" / "normal (2).png").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"normal \(2\)\.png"):
        import_dataset("busi", busi_src, out, force=True)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_options_are_checked(busi_src, tmp_path):
    with pytest.raises(DataError, match="does not take option"):
        import_dataset("busi", busi_src, tmp_path / "o", images="x")
    with pytest.raises(DataError, match="unknown dataset kind"):
        import_dataset("nope", busi_src, tmp_path / "o")
    assert main(["data", "import", "busi", str(busi_src), "-o", str(tmp_path / "o"), "--n", "3"]) == 2
    assert not (tmp_path / "o").exists()


def test_register_importer(tmp_path):
    from aidemed.data.manifest import Case, DatasetInfo, write_dataset

    @register_importer("_one_case")
    def _one(src, out_dir, *, value: int = 1):
        save_png(out_dir / "images" / "a.png", np.full((4, 4), value))
        return write_dataset(out_dir, DatasetInfo(name="one"), [Case(id="a", images=["images/a.png"])])

    try:
        ds = import_dataset("_one_case", tmp_path, tmp_path / "x" / "o", value=7)
        assert [c.id for c in ds.cases] == ["a"] and ds.splits_path.is_file()
    finally:
        IMPORTERS.pop("_one_case")


# ------------------------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def real_busi(tmp_path_factory):
    src = require_shared("busi/Dataset_BUSI_with_GT")
    return src, import_dataset("busi", src, tmp_path_factory.mktemp("real") / "busi")


def test_busi_real(real_busi):
    src, ds = real_busi
    assert len(ds) == 780
    assert Counter(c.label for c in ds.cases) == {"benign": 437, "malignant": 210, "normal": 133}
    assert len({c.id for c in ds.cases}) == 780
    case = ds.case("benign_195")  # three lesion masks
    assert case.extra["mask_files"] == ["benign (195)_mask.png", "benign (195)_mask_1.png", "benign (195)_mask_2.png"]
    union = np.zeros_like(read_mask(ds.mask_path(case))[0])
    for name in case.extra["mask_files"]:
        part, _ = read_mask(src / "benign" / name)
        assert 0 < part.sum() < union.size
        union |= part
    np.testing.assert_array_equal(read_mask(ds.mask_path(case))[0], union)
    assert int(union.sum()) > int(read_mask(src / "benign" / "benign (195)_mask.png")[0].sum())
    normal = ds.case("normal_001")
    assert normal.mask is not None and not read_mask(ds.mask_path(normal))[0].any()


def test_busi_real_split_stratified_and_nested(real_busi):
    _, ds = real_busi
    splits = ds.load_splits()
    total = Counter(c.label for c in ds.cases)
    for name, fraction in (("train", 0.7), ("val", 0.1), ("test", 0.2)):
        counts = Counter(ds.case(i).label for i in splits[name])
        for label, n in total.items():
            assert abs(counts[label] - fraction * n) <= 1, (name, label)
    budgets = {float(k): set(v) for k, v in splits["budgets"].items()}
    assert budgets[0.05] < budgets[0.1] < budgets[0.25] < budgets[0.5] <= budgets[1.0] <= set(splits["train"])
    assert abs(len(budgets[0.05]) - 0.05 * len(splits["train"])) <= 3
    for label, n in Counter(ds.case(i).label for i in budgets[0.25]).items():
        assert abs(n - 0.25 * total[label] * 0.7) <= 2


def test_stu_real(tmp_path):
    src = require_shared("stu")
    ds = import_dataset("stu", src, tmp_path / "stu")
    assert len(ds) == 42 and {c.site for c in ds.cases} == {"stu"} and all(c.label is None for c in ds.cases)
    sources = Counter()
    for case in ds.cases:
        image, _ = read_image(ds.image_paths(case)[0])
        mask, _ = read_mask(ds.mask_path(case))
        assert image.shape == mask.shape == (128, 128)
        assert set(np.unique(mask).tolist()) <= {0, 1} and mask.any()
        sources[tuple(case.extra["mask_source_size"])] += 1
    assert any(size != (128, 128) for size in sources)  # most masks really were resized
    assert check_dataset(ds.root) == []


def test_stu_resize_and_threshold(tmp_path):
    src = tmp_path / "stu" / "Hospital"
    save_png(src / "Test_Image_1.png", noise((16, 16)))
    big = np.zeros((64, 64), np.uint8)
    big[16:48, 16:48] = 255
    big[16:48, 15] = 100  # anti-aliased edge
    save_png(src / "mask_1.png", big)
    ds = import_dataset("stu", tmp_path / "stu", tmp_path / "out")
    mask, _ = read_mask(ds.mask_path(ds.case("stu_001")))
    expected = np.zeros((16, 16), np.uint8)
    expected[4:12, 4:12] = 1
    np.testing.assert_array_equal(mask, expected)


# ------------------------------------------------------------------------------------ folder


def test_folder_one_folder_with_suffix(tmp_path):
    src = tmp_path / "src"
    save_png(src / "a.png", noise((20, 30), 1))
    save_png(src / "a_mask.png", rect_mask((20, 30), 0, 5, 0, 5))
    Image.fromarray(noise((20, 30), 2)).convert("RGB").save(src / "b c.jpg", quality=95)
    save_png(src / "b c_mask.png", np.zeros((20, 30)))
    Image.fromarray(noise((20, 30), 3)).save(src / "d.tif")  # no mask: unlabelled
    (src / "labels.csv").write_text("id,label\na,cat\nb c,dog\n")
    ds = import_dataset("folder", src, tmp_path / "out", labels=str(src / "labels.csv"), site="s1")
    assert [c.id for c in ds.cases] == ["a", "b_c", "d"]
    assert [c.label for c in ds.cases] == ["cat", "dog", None]
    assert ds.case("d").mask is None and ds.case("a").mask == "masks/a.png"
    assert {c.site for c in ds.cases} == {"s1"} and ds.info.classes == ["cat", "dog"] and ds.info.dims == 2
    assert read_mask(ds.mask_path(ds.case("a")))[0].sum() == 25
    assert problems(ds.root) == []


def test_folder_separate_dirs_and_errors(tmp_path):
    images, masks = tmp_path / "img", tmp_path / "lab"
    for i in range(3):
        save_png(images / f"c{i}.png", noise((10, 10), i))
        save_png(masks / f"c{i}.png", np.full((10, 10), i))  # label values 0, 1, 2
    ds = import_dataset("folder", None, tmp_path / "out", images=str(images), masks=str(masks))
    assert ds.info.labels == {"background": 0, "label_1": 1, "label_2": 2}
    assert read_mask(ds.mask_path(ds.case("c2")))[0].max() == 2
    save_png(masks / "c1.png", np.zeros((12, 10)))
    with pytest.raises(DataError, match=r"c1\.png: mask shape \(12, 10\) differs"):
        import_dataset("folder", None, tmp_path / "out2", images=str(images), masks=str(masks))
    with pytest.raises(DataError, match="mask folder not found"):
        import_dataset("folder", None, tmp_path / "out2", images=str(images), masks=str(tmp_path / "no"))
    (images / "c0.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"c0\.png: cannot decode"):
        import_dataset("folder", images, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def nifti(path: Path, data, affine) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(data), affine), str(path))
    return path


AFFINE = np.array([[0.8, 0, 0, -10.0], [0, 0.7, 0, 5.0], [0, 0, 2.5, 30.0], [0, 0, 0, 1]])


def test_folder_nifti_3d(tmp_path):
    src = tmp_path / "src"
    vol = np.random.default_rng(0).normal(size=(12, 10, 6)).astype(np.float32)
    lab = np.zeros((12, 10, 6), np.uint8)
    lab[2:5, 3:7, 1:4] = 1
    nifti(src / "img" / "p1.nii.gz", vol, AFFINE)
    nifti(src / "lab" / "p1.nii.gz", lab, AFFINE)
    nifti(src / "img" / "p2.nii.gz", vol, AFFINE)
    ds = import_dataset("folder", None, tmp_path / "out", images=str(src / "img"), masks=str(src / "lab"))
    assert ds.info.dims == 3
    case = ds.case("p1")
    assert case.spacing == pytest.approx([2.5, 0.8, 0.7])
    assert ds.case("p2").mask is None
    image = nib.load(str(ds.image_paths(case)[0]))
    np.testing.assert_allclose(image.affine, AFFINE)
    np.testing.assert_array_equal(np.asarray(image.dataobj), vol)
    mask, geometry = read_mask(ds.mask_path(case))
    assert mask.shape == (6, 12, 10) and int(mask.sum()) == int(lab.sum())
    np.testing.assert_allclose(geometry.affine, AFFINE)
    assert problems(ds.root) == []


# ------------------------------------------------------------------------------------ nnU-Net


def nnunet_json(root: Path, channels: dict, labels: dict, ending: str, n: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(
        json.dumps({"channel_names": channels, "labels": labels, "numTraining": n, "file_ending": ending})
    )


def test_nnunet_2d(tmp_path):
    src = tmp_path / "Dataset001_Toy"
    nnunet_json(src, {"0": "US", "1": "doppler"}, {"background": 0, "lesion": 1, "vessel": 2}, ".png", 3)
    for i in range(3):
        for ch in range(2):
            save_png(src / "imagesTr" / f"toy_{i:03d}_{ch:04d}.png", noise((24, 32), i * 10 + ch))
        lab = np.zeros((24, 32), np.uint8)
        lab[:4, :4], lab[10:12, 10:14] = 1, 2
        save_png(src / "labelsTr" / f"toy_{i:03d}.png", lab)
    for ch in range(2):
        save_png(src / "imagesTs" / f"toy_900_{ch:04d}.png", noise((24, 32), 99))
    ds = import_dataset("nnunet", src, tmp_path / "out")
    assert ds.info.dims == 2 and ds.info.labels == {"background": 0, "lesion": 1, "vessel": 2}
    assert len(ds) == 4
    case = ds.case("toy_001")
    assert case.images == ["images/toy_001_0000.png", "images/toy_001_0001.png"]
    assert read_mask(ds.mask_path(case))[0].max() == 2
    assert ds.case("toy_900").mask is None and ds.case("toy_900").extra["subset"] == "imagesTs"
    assert problems(ds.root) == []

    (src / "imagesTr" / "toy_002_0001.png").unlink()
    with pytest.raises(DataError, match=r"toy_002_0001\.png: missing channel"):
        import_dataset("nnunet", src, tmp_path / "out2")


def test_nnunet_3d(tmp_path):
    src = tmp_path / "Dataset002_Vol"
    nnunet_json(src, {"0": "CT"}, {"background": 0, "organ": 1}, ".nii.gz", 2)
    for i in range(2):
        vol = np.random.default_rng(i).normal(size=(16, 14, 8)).astype(np.float32)
        lab = np.zeros((16, 14, 8), np.uint8)
        lab[4:8, 4:9, 2 + i : 5 + i] = 1
        nifti(src / "imagesTr" / f"vol_{i}_0000.nii.gz", vol, AFFINE)
        nifti(src / "labelsTr" / f"vol_{i}.nii.gz", lab, AFFINE)
    for copy in (True, False):
        ds = import_dataset("nnunet", src, tmp_path / f"out{copy}", copy=copy)
        assert ds.info.dims == 3 and len(ds) == 2
        case = ds.case("vol_1")
        assert case.spacing == pytest.approx([2.5, 0.8, 0.7])  # (sz, sx, sy)
        image, geometry = read_image(ds.image_paths(case)[0])
        assert image.shape == (8, 16, 14) and tuple(geometry.spacing) == pytest.approx((2.5, 0.8, 0.7))
        np.testing.assert_allclose(geometry.affine, AFFINE)
        mask, mask_geometry = read_mask(ds.mask_path(case))
        np.testing.assert_allclose(mask_geometry.affine, AFFINE)
        assert mask.shape == (8, 16, 14) and mask[3:6].any() and not mask[:3].any()
        assert problems(ds.root) == []
        assert Path(case.images[0]).is_absolute() == (not copy)

    lab = np.zeros((16, 14, 8), np.uint8)
    lab[0, 0, 0] = 3
    nifti(src / "labelsTr" / "vol_0.nii.gz", lab, AFFINE)
    with pytest.raises(DataError, match=r"vol_0\.nii\.gz: mask value\(s\) \[3\] not in dataset.json labels"):
        import_dataset("nnunet", src, tmp_path / "bad")
    with pytest.raises(DataError, match="dataset.json: missing"):
        import_dataset("nnunet", src / "imagesTr", tmp_path / "bad")


# ------------------------------------------------------------------------------------ phantom


def test_phantom_cli(tmp_path, capsys):
    out = tmp_path / "ph"
    assert main(["data", "import", "phantom", "-o", str(out), "--n", "10", "--size", "48", "--seed", "1"]) == 0
    ds = load_dataset(out)
    assert len(ds) == 10 and ds.splits_path.is_file()
    assert read_image(ds.image_paths(ds.cases[0])[0])[0].shape == (48, 48)
    assert check_dataset(out) == []
    assert main(["data", "import", "phantom", str(tmp_path), "-o", str(tmp_path / "p2")]) == 2
