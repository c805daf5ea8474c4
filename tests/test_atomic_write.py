"""Files that several processes may write at once (a sweep's summary, plot and array cache; two jobs
of one sweep rebuild them side by side) are replaced whole: each writer has its own temporary file."""

import threading

import numpy as np
import pytest
import torch

from aidemed.data.io import read_mask, replaced_atomically, write_image_png, write_mask
from aidemed.data.manifest import atomic_write_text
from aidemed.engine.checkpoint import load_checkpoint, save_checkpoint


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_overlapping_writers_each_leave_a_whole_file(tmp_path):
    target = tmp_path / "summary.md"
    with replaced_atomically(target) as first:
        first.write_text("A" * 5000)
        with replaced_atomically(target) as second:
            assert second != first
            second.write_text("B" * 10)
        assert target.read_text() == "B" * 10
    assert target.read_text() == "A" * 5000  # the last writer to finish wins, whole
    assert leftovers(tmp_path) == []


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "runs.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with replaced_atomically(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_threads_rewriting_one_file_never_mix_their_texts(tmp_path):
    target = tmp_path / "summary.json"
    texts = [str(i) * 200_000 for i in range(4)]
    errors = []

    def writer(text):
        try:
            for _ in range(25):
                atomic_write_text(target, text)
        except Exception as exc:  # noqa: BLE001 - any failure of a writer fails the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert target.read_text() in texts
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["mask.png", "mask.nii.gz"])
def test_writers_that_choose_the_format_from_the_name(tmp_path, name):
    mask = np.zeros((2, 8, 8) if name.endswith(".nii.gz") else (8, 8), dtype=np.uint8)
    mask[..., 2:5, 3:6] = 1
    write_mask(tmp_path / name, mask)
    assert np.array_equal(read_mask(tmp_path / name)[0], mask)
    write_image_png(tmp_path / "image.png", np.full((8, 8), 300.0))
    assert leftovers(tmp_path) == []


def test_checkpoint_written_whole(tmp_path):
    path = save_checkpoint(tmp_path / "ck" / "last.pt", {"w": torch.arange(3)})
    assert torch.equal(load_checkpoint(path)["w"], torch.arange(3))
    assert leftovers(path.parent) == []
