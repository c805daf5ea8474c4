"""`check_dataset` lists every problem of a prepared dataset folder at once; `data check` prints them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aidemed.cli.main import main
from aidemed.data.check import Problem, assert_dataset_ok, check_dataset
from aidemed.data.importers import import_dataset
from aidemed.data.io import DataError, write_image_png, write_mask
from aidemed.data.manifest import Case, DatasetInfo, load_dataset, write_dataset
from aidemed.data.splits import create_split_file
from data_support import require_shared


def make_dataset(root: Path, n: int = 30, shape=(16, 20)) -> Path:
    rng = np.random.default_rng(0)
    cases = []
    for i in range(n):
        cid = f"c{i:02d}"
        write_image_png(root / "images" / f"{cid}.png", rng.integers(0, 256, shape))
        mask = np.zeros(shape, np.uint8)
        mask[2:6, 2 + i % 5 : 8] = 1
        write_mask(root / "masks" / f"{cid}.png", mask)
        label = "a" if i % 3 else "b"
        cases.append(Case(id=cid, images=[f"images/{cid}.png"], mask=f"masks/{cid}.png", label=label, site="s"))
    ds = write_dataset(root, DatasetInfo(name="t", classes=["a", "b"]), cases)
    create_split_file(ds)
    return root


def messages(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


def test_clean_dataset_has_no_problems(tmp_path):
    root = make_dataset(tmp_path / "d")
    assert check_dataset(root) == []
    assert_dataset_ok(root)


def test_every_problem_in_one_call(tmp_path):
    root = make_dataset(tmp_path / "d")
    # corrupt PNG
    (root / "images" / "c01.png").write_bytes((root / "images" / "c01.png").read_bytes()[:40])
    # mask of another size
    write_mask(root / "masks" / "c02.png", np.zeros((10, 10), np.uint8))
    # mask values not in dataset.json's labels {0, 1}
    write_mask(root / "masks" / "c03.png", np.full((16, 20), 3, np.uint8))
    # mask values that are no label set at all (anti-aliased 8-bit)
    Image.fromarray(np.linspace(0, 255, 320).reshape(16, 20).astype(np.uint8)).save(root / "masks" / "c04.png")
    # missing file
    (root / "masks" / "c05.png").unlink()
    manifest = root / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    # a second channel of another shape
    record = json.loads(lines[6])
    write_image_png(root / "images" / "c06_b.png", np.zeros((8, 8)))
    record["images"].append("images/c06_b.png")
    lines[6] = json.dumps(record)
    # duplicate id, a broken manifest line
    lines += [lines[0], "{not json"]
    manifest.write_text("\n".join(lines) + "\n")
    # empty split, unknown id in a split, budget id not in train, id in two splits
    splits = json.loads((root / "splits.json").read_text())
    val = splits["val"]
    splits["val"] = []
    splits["test"] += ["ghost", splits["train"][0]]
    splits["budgets"]["0.1"] = splits["budgets"]["0.1"] + [val[0]]
    (root / "splits.json").write_text(json.dumps(splits))

    problems = check_dataset(root)
    text = messages(problems)
    assert "c01.png: cannot decode image" in text
    assert "c02.png: mask shape (10, 10) differs from its image c02.png (16, 20)" in text
    assert "c03.png: mask values [3] not among dataset.json labels [0, 1]" in text
    assert "c04.png: mask values are not a label set" in text
    assert "c05.png: file not found" in text
    assert "c06_b.png: channel shape (8, 8) differs from c06.png (16, 20)" in text
    assert "manifest.jsonl: duplicate id 'c00' (2 records)" in text
    assert "manifest.jsonl:32: not valid JSON" in text
    assert "split 'val' is empty" in text
    assert "split 'test' lists 'ghost', which is not in the manifest" in text
    assert f"'{splits['train'][0]}' is in both splits 'train' and 'test'" in text
    assert f"budget 0.1 lists '{val[0]}', which is not in train" in text
    assert "budgets not nested" in text  # 0.1 now holds an id that 0.25 lacks
    by_case = {p.case_id for p in problems}
    assert {"c01", "c02", "c03", "c04", "c05", "c06", "c00", "ghost"} <= by_case
    assert all(str(p).startswith(p.path + ": ") for p in problems)

    with pytest.raises(DataError) as info:
        assert_dataset_ok(root)
    assert f"{len(problems)} problem(s)" in str(info.value)
    assert "c01.png: cannot decode image" in str(info.value) and "split 'val' is empty" in str(info.value)


def test_dataset_level_problems(tmp_path):
    assert "not a folder" in messages(check_dataset(tmp_path / "nothing"))
    (tmp_path / "e").mkdir()
    text = messages(check_dataset(tmp_path / "e"))
    assert "dataset.json: missing" in text and "manifest.jsonl: missing" in text
    root = make_dataset(tmp_path / "d", n=6)
    (root / "splits.json").unlink()
    assert "splits.json: missing; run `aidemed data split" in messages(check_dataset(root))
    assert check_dataset(root, require_splits=False) == []
    meta = json.loads((root / "dataset.json").read_text())
    meta["classes"] = ["a"]
    meta["dims"] = 3
    (root / "dataset.json").write_text(json.dumps(meta))
    text = messages(check_dataset(root, require_splits=False))
    assert "class label 'b' not in dataset.json classes ['a']" in text
    assert "2D image in a dataset with dims=3" in text


def test_cli_check(tmp_path, capsys):
    root = make_dataset(tmp_path / "d")
    assert main(["data", "check", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK {root}: 30 cases") and "train 21 / val 3 / test 6" in out and "label a 20, b 10" in out
    (root / "masks" / "c07.png").unlink()
    (root / "images" / "c08.png").write_bytes(b"junk")
    assert main(["data", "check", str(root)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith(f"{root / 'images' / 'c08.png'}: cannot decode image") for line in lines)
    assert any(line.startswith(f"{root / 'masks' / 'c07.png'}: file not found") for line in lines)
    assert lines[-1] == f"{root}: 2 problem(s)"


def test_split_cli_still_works(tmp_path, capsys):
    root = make_dataset(tmp_path / "d")
    assert main(["data", "split", str(root), "--seed", "3", "--exclude-label", "b"]) == 0
    splits = load_dataset(root).load_splits()
    assert splits["seed"] == 3 and not {i for n in ("train", "val", "test") for i in splits[n]} & {"c00", "c03"}
    assert check_dataset(root) == []


def test_nested_budgets_and_stratification(tmp_path):
    root = make_dataset(tmp_path / "d", n=90)
    ds = load_dataset(root)
    splits = ds.load_splits()
    for name, fraction in (("train", 0.7), ("val", 0.1), ("test", 0.2)):
        assert sum(ds.case(i).label == "b" for i in splits[name]) == pytest.approx(30 * fraction, abs=1)
    b = {float(k): set(v) for k, v in splits["budgets"].items()}
    assert b[0.05] < b[0.1] < b[0.25] < b[0.5] < b[1.0] == set(splits["train"])


def test_check_real_busi_is_fast(tmp_path):
    src = require_shared("busi")
    ds = import_dataset("busi", src, tmp_path / "busi", exclude_labels=("normal",))
    start = time.perf_counter()
    assert check_dataset(ds.root) == []
    assert time.perf_counter() - start < 10
    splits = ds.load_splits()
    assert {ds.case(i).label for n in ("train", "val", "test") for i in splits[n]} == {"benign", "malignant"}
