"""A noisy copy of a prepared dataset folder, with the clean masks kept for scoring.

    corrupt_dataset("prepared/busi", "prepared/busi-mixed-50", model="mixed", fraction=0.5, seed=0)

writes a self-contained prepared dataset folder (see docs/data.md and docs/noise.md):

    OUT/images/              the images, hard-linked (or copied) from the source dataset
    OUT/masks/               the training masks: noisy for the corrupted cases, clean for the others
    OUT/clean_masks/         a copy of every clean mask; each case's `extra.clean_mask` points to it
    OUT/dataset.json         the source's metadata; provenance in `source` and `extra.noise`
    OUT/manifest.jsonl       the source's cases, `mask` pointing to the training mask
    OUT/splits.json          the source's split file, byte for byte
    OUT/noise_records.jsonl  one row per case: {"id", "split", "corrupted", and for corrupted cases
                             "corruption", "params", "dice_noisy_vs_clean"}
    OUT/noise.json           the summary: model, fraction, seed, counts, mean Dice noisy vs clean

Only annotated cases of one split (`split`, default "train") are corrupted, so validation (model
selection) and test (scoring) masks stay clean. The corrupted cases are the first round(fraction * n)
of the split's annotated cases in a seeded random order, so for one seed the cases corrupted at
fraction 0.25 are among those corrupted at 0.5; each case's corruption draws from its own generator
seeded by (seed, crc32(case id)), so a case is corrupted the same way at every fraction. Same source,
model, fraction and seed give byte-identical masks. Like the importers, the folder is staged next to
`out_dir` and moved into place at the end: a failure leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np

from aidemed.data.io import DataError, file_suffix, is_nifti, read_mask, write_mask
from aidemed.data.staging import staged_folder
from aidemed.data.manifest import Case, Dataset, DatasetInfo, atomic_write_text, load_dataset, write_dataset
from aidemed.noise.masks import NoiseModel, get_noise_model

SELECTION_STREAM = 0x5E1EC7  # separates the case-selection generator from the per-case ones
NOT_SPLITS = ("stratify", "exclude_labels", "budgets")  # list-valued keys of splits.json


def case_rng(seed: int, case_id: str) -> np.random.Generator:
    """The generator of one case's corruption: depends on the seed and the case id only."""
    return np.random.default_rng([int(seed), zlib.crc32(case_id.encode("utf-8"))])


def select_cases(case_ids: list[str], fraction: float, seed: int) -> list[str]:
    """round(fraction * n) of the ids, the first ones of a seeded random order (nested in fraction)."""
    ids = sorted(case_ids)
    order = np.random.default_rng([int(seed), SELECTION_STREAM]).permutation(len(ids))
    count = int(round(fraction * len(ids)))
    return sorted(ids[i] for i in order[:count])


def _inside(relative: str) -> str | None:
    """The manifest path as a POSIX relative path inside the dataset, or None (absolute or '..')."""
    path = PurePosixPath(relative.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    return str(path)


def _link_or_copy(src: Path, dst: Path) -> None:
    if not src.is_file():
        raise DataError(f"{src}: file not found")
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _copy(src: Path, dst: Path) -> None:
    if not src.is_file():
        raise DataError(f"{src}: file not found")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _dumps(record) -> str:
    return json.dumps(record, default=_json_default, ensure_ascii=False)


def corrupt_dataset(
    src_dir: str | Path,
    out_dir: str | Path,
    model: str | NoiseModel | dict = "mixed",
    fraction: float = 0.5,
    seed: int = 0,
    split: str = "train",
    *,
    force: bool = False,
) -> Dataset:
    """Write a noisy copy of the prepared dataset `src_dir` to `out_dir` (see the module docstring).

    `model`: a noise model name (`aidemed.noise.list_noise_models()`), a JSON file, a dict or a
    NoiseModel. `fraction`: the share of the split's annotated cases to corrupt. `force`: replace a
    non-empty `out_dir`.
    """
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within [0, 1], got {fraction}")
    noise_model = get_noise_model(model)
    src_root = Path(src_dir).expanduser()
    source = load_dataset(src_root)
    splits = source.load_splits()
    split_names = [k for k, v in splits.items() if isinstance(v, list) and k not in NOT_SPLITS]
    if split not in split_names:
        known = ", ".join(split_names) or "none"
        raise DataError(f"{source.splits_path}: no split named {split!r} (splits: {known})")
    split_of = {}
    for name in split_names:
        for case_id in splits[name]:
            split_of.setdefault(case_id, name)
    targets = [source.case(i).id for i in splits[split] if source.case(i).mask]
    chosen = set(select_cases(targets, fraction, seed))

    out_dir = Path(out_dir).expanduser()
    with staged_folder(out_dir, force=force, source=src_root, purpose="corrupting") as staging:
        cases, rows = _write_cases(source, staging, noise_model, chosen, seed, split_of)
        _write_metadata(source, staging, noise_model, fraction, seed, split, cases, rows, len(targets))
        load_dataset(staging)
    return load_dataset(out_dir)


def _write_cases(
    source: Dataset, staging: Path, model: NoiseModel, chosen: set[str], seed: int, split_of: dict
) -> tuple[list[Case], list[dict]]:
    cases, rows, used = [], [], set()

    def claim(relative: str | None, fallback: str) -> str:
        path = relative if relative is not None and relative not in used else fallback
        if path in used:
            raise DataError(f"{source.root}: two manifest entries map to the same file {path}")
        used.add(path)
        return path

    for case in source.cases:
        images = []
        for k, image in enumerate(case.images):
            suffix = file_suffix(image)
            fallback = f"images/{case.id}{suffix}" if len(case.images) == 1 else f"images/{case.id}_{k:04d}{suffix}"
            relative = claim(_inside(image), fallback)
            _link_or_copy(source.path(image), staging / relative)
            images.append(relative)
        extra = dict(case.extra)
        row: dict = {"id": case.id, "split": split_of.get(case.id), "corrupted": False}
        mask = None
        if case.mask:
            mask_src = source.path(case.mask)
            suffix = file_suffix(case.mask)
            relative = claim(_inside(case.mask), f"masks/{case.id}{suffix}")
            inner = relative[len("masks/"):] if relative.startswith("masks/") else relative
            clean = claim(f"clean_masks/{inner}", f"clean_masks/{case.id}{suffix}")
            _copy(mask_src, staging / clean)
            extra["clean_mask"] = clean
            if case.id in chosen:
                clean_array, geometry = read_mask(mask_src)
                noisy, record = model.corrupt(clean_array, case_rng(seed, case.id))
                if not is_nifti(relative) and suffix != ".png":
                    used.discard(relative)  # written as PNG: JPEG would blur the labels
                    relative = claim(relative[: -len(suffix)] + ".png", f"masks/{case.id}.png")
                write_mask(staging / relative, noisy, geometry)
                extra["noise"] = record["corruption"]
                row.update(corrupted=True, **record)
            else:
                _copy(mask_src, staging / relative)
            mask = relative
        rows.append(row)
        cases.append(Case(id=case.id, images=images, mask=mask, label=case.label, site=case.site,
                          report=case.report, spacing=case.spacing, extra=extra))
    return cases, rows


def _write_metadata(
    source: Dataset,
    staging: Path,
    model: NoiseModel,
    fraction: float,
    seed: int,
    split: str,
    cases: list[Case],
    rows: list[dict],
    n_targets: int,
) -> None:
    corrupted = [r for r in rows if r["corrupted"]]
    counts = Counter(r["corruption"] for r in corrupted)
    per_kind = {
        name: float(np.mean([r["dice_noisy_vs_clean"] for r in corrupted if r["corruption"] == name]))
        for name in sorted(counts)
    }
    dice = [r["dice_noisy_vs_clean"] for r in corrupted]
    provenance = {
        "source_dataset": str(source.root.resolve()),
        "source_name": source.info.name,
        "source": source.info.source,
        "model": model.to_dict(),
        "fraction": fraction,
        "seed": int(seed),
        "split": split,
    }
    summary = {
        **provenance,
        "n_cases": len(rows),
        "n_split_annotated": n_targets,
        "n_corrupted": len(corrupted),
        "mean_dice_noisy_vs_clean": float(np.mean(dice)) if dice else None,
        # over every annotated case of the split, an uncorrupted mask counting as Dice 1
        "mean_dice_split": float((np.sum(dice) + n_targets - len(dice)) / n_targets) if n_targets else None,
        "counts": {name: int(counts.get(name, 0)) for name in sorted(set(model.weights) | set(counts))},
        "mean_dice_per_corruption": per_kind,
        "corrupted_ids": sorted(r["id"] for r in corrupted),
    }
    info = DatasetInfo(
        name=f"{source.info.name}-{model.name}-f{fraction:g}-s{seed}",
        labels=dict(source.info.labels),
        classes=list(source.info.classes),
        dims=source.info.dims,
        source=f"aidemed data corrupt {source.root.resolve()} --model {model.name} --fraction {fraction:g} --seed {seed}",
        extra={**source.info.extra, "noise": provenance},
    )
    write_dataset(staging, info, cases)
    shutil.copyfile(source.splits_path, staging / "splits.json")
    atomic_write_text(staging / "noise_records.jsonl", "".join(_dumps(r) + "\n" for r in rows))
    atomic_write_text(staging / "noise.json", json.dumps(summary, indent=2, default=_json_default) + "\n")


def read_noise_records(root: str | Path) -> list[dict]:
    """The per-case rows of a corrupted dataset folder's noise_records.jsonl."""
    path = Path(root) / "noise_records.jsonl"
    if not path.is_file():
        raise DataError(f"{path}: missing; is {root} a dataset written by `aidemed data corrupt`?")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
