"""Check a prepared dataset folder and list every problem at once.

    problems = check_dataset("prepared/busi")     # [] when the folder is fine
    assert_dataset_ok("prepared/busi")            # DataError listing all problems (used by training)

What is checked: dataset.json and manifest.jsonl parse; ids are unique; every image channel and
mask file exists and decodes; channels have one shape and the mask has the image's shape; mask
values are a label set within dataset.json's `labels`; class labels are among `classes`; the
image dimensionality matches `dims`; splits.json parses, its ids are in the manifest, no split is
empty, no id is in two splits, budget ids are annotated training cases and budgets are nested.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aidemed.data.io import DataError, read_image, read_mask
from aidemed.data.manifest import FORMAT_NAME, Case, Dataset, DatasetInfo

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Problem:
    path: str
    case_id: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _strip_path(message: str, path: Path) -> str:
    """DataError messages start with the file name; Problem keeps it in `path` instead."""
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _load_info(root: Path, problems: list[Problem]) -> DatasetInfo | None:
    meta_path = root / "dataset.json"
    if not meta_path.is_file():
        problems.append(Problem(str(meta_path), None, "missing"))
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(meta_path), None, f"not valid JSON ({exc})"))
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        fmt = meta.get("format") if isinstance(meta, dict) else None
        problems.append(Problem(str(meta_path), None, f"not an aidemed dataset (format={fmt!r})"))
        return None
    try:
        info = DatasetInfo(**{k: meta[k] for k in DatasetInfo.__dataclass_fields__ if k in meta})
        values = [int(v) for v in info.labels.values()]
        if not values or min(values) < 0:
            raise ValueError("labels must map names to non-negative integers")
    except (TypeError, ValueError) as exc:
        problems.append(Problem(str(meta_path), None, f"bad metadata ({exc})"))
        return None
    if info.dims not in (2, 3):
        problems.append(Problem(str(meta_path), None, f"dims must be 2 or 3, got {info.dims!r}"))
    return info


def _load_cases(root: Path, problems: list[Problem]) -> list[Case] | None:
    manifest_path = root / "manifest.jsonl"
    if not manifest_path.is_file():
        problems.append(Problem(str(manifest_path), None, "missing"))
        return None
    cases = []
    with manifest_path.open(encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{manifest_path}:{lineno}"
            try:
                case = Case.from_record(json.loads(line), where)
                if not case.images or not all(isinstance(p, str) and p for p in case.images):
                    raise DataError(f"{where}: 'images' must be a non-empty list of paths")
                if case.mask is not None and not isinstance(case.mask, str):
                    raise DataError(f"{where}: 'mask' must be a path or null")
                if not isinstance(case.id, str) or not case.id:
                    raise DataError(f"{where}: 'id' must be a non-empty string")
            except json.JSONDecodeError as exc:
                problems.append(Problem(where, None, f"not valid JSON ({exc})"))
                continue
            except (DataError, TypeError) as exc:
                problems.append(Problem(where, None, _strip_path(str(exc), Path(where))))
                continue
            cases.append(case)
    if not cases:
        problems.append(Problem(str(manifest_path), None, "no cases"))
    return cases


def _check_case(dataset: Dataset, case: Case, label_values: set[int] | None) -> list[Problem]:
    problems: list[Problem] = []
    info = dataset.info

    def problem(path, message):
        problems.append(Problem(str(path), case.id, message))

    shapes = []
    for path in dataset.image_paths(case):
        try:
            _, geometry = read_image(path)
        except DataError as exc:
            problem(path, _strip_path(str(exc), path))
            continue
        if shapes and geometry.shape != shapes[0][1]:
            problem(path, f"channel shape {geometry.shape} differs from {shapes[0][0].name} {shapes[0][1]}")
        shapes.append((path, geometry.shape))
        if info.dims in (2, 3) and geometry.ndim != info.dims:
            problem(path, f"{geometry.ndim}D image in a dataset with dims={info.dims}")
    mask_path = dataset.mask_path(case)
    if mask_path is not None:
        try:
            mask, geometry = read_mask(mask_path)
        except DataError as exc:
            problem(mask_path, _strip_path(str(exc), mask_path))
        else:
            if shapes and geometry.shape != shapes[0][1]:
                problem(mask_path, f"mask shape {geometry.shape} differs from its image {shapes[0][0].name} {shapes[0][1]}")
            if label_values is not None:
                present = np.flatnonzero(np.bincount(mask.ravel(), minlength=256))
                bad = sorted(set(present.tolist()) - label_values)
                if bad:
                    problem(mask_path, f"mask values {bad} not among dataset.json labels {sorted(label_values)}")
    if info.classes and case.label is not None and case.label not in info.classes:
        problem(dataset.root / "manifest.jsonl", f"class label {case.label!r} not in dataset.json classes {info.classes}")
    return problems


def _check_splits(dataset: Dataset, problems: list[Problem], require_splits: bool) -> None:
    path = dataset.splits_path
    if not path.is_file():
        if require_splits:
            problems.append(Problem(str(path), None, f"missing; run `aidemed data split {dataset.root}`"))
        return
    try:
        splits = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(splits, dict):
            raise ValueError("not a JSON object")
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        problems.append(Problem(str(path), None, f"not valid JSON ({exc})"))
        return
    by_id = {c.id: c for c in dataset.cases}
    names = list(splits.get("fractions") or SPLIT_NAMES)
    excluded = set(splits.get("exclude_labels") or ())
    owner: dict[str, str] = {}
    for name in names:
        ids = splits.get(name)
        if not isinstance(ids, list):
            problems.append(Problem(str(path), None, f"split {name!r} is missing or not a list"))
            continue
        if not ids:
            problems.append(Problem(str(path), None, f"split {name!r} is empty"))
        for case_id in ids:
            if case_id not in by_id:
                problems.append(Problem(str(path), case_id, f"split {name!r} lists {case_id!r}, which is not in the manifest"))
            elif by_id[case_id].label in excluded:
                problems.append(Problem(str(path), case_id, f"split {name!r} holds {case_id!r} of excluded class {by_id[case_id].label!r}"))
            if case_id in owner and owner[case_id] != name:
                problems.append(Problem(str(path), case_id, f"{case_id!r} is in both splits {owner[case_id]!r} and {name!r}"))
            owner.setdefault(case_id, name)
    train = set(splits.get("train") or ())
    budgets = splits.get("budgets") or {}
    if not isinstance(budgets, dict):
        problems.append(Problem(str(path), None, "'budgets' must map fractions to id lists"))
        return
    previous: tuple[str, set[str]] | None = None
    for key in sorted(budgets, key=lambda k: float(k) if _is_number(k) else float("inf")):
        ids = budgets[key]
        if not _is_number(key) or not isinstance(ids, list):
            problems.append(Problem(str(path), None, f"budget {key!r} must be a fraction with a list of ids"))
            continue
        if not ids:
            problems.append(Problem(str(path), None, f"budget {key} is empty"))
        for case_id in ids:
            if case_id not in train:
                problems.append(Problem(str(path), case_id, f"budget {key} lists {case_id!r}, which is not in train"))
            elif case_id in by_id and not by_id[case_id].mask:
                problems.append(Problem(str(path), case_id, f"budget {key} lists {case_id!r}, which has no mask"))
        if previous is not None and not previous[1] <= set(ids):
            missing = sorted(previous[1] - set(ids))
            problems.append(
                Problem(str(path), None, f"budgets not nested: {len(missing)} id(s) of budget {previous[0]} are not in budget {key} (e.g. {missing[0]})")
            )
        previous = (key, set(ids))


def _is_number(text) -> bool:
    try:
        float(text)
        return True
    except (TypeError, ValueError):
        return False


def check_dataset(root: str | Path, *, require_splits: bool = True, workers: int | None = None) -> list[Problem]:
    """Every problem of the prepared dataset folder `root` (an empty list when it is fine)."""
    root = Path(root)
    if not root.is_dir():
        return [Problem(str(root), None, "not a folder")]
    problems: list[Problem] = []
    info = _load_info(root, problems)
    cases = _load_cases(root, problems)
    if cases is None:
        return problems
    info = info or DatasetInfo(name=root.name, dims=0)
    dataset = Dataset(root=root, info=info, cases=cases)

    counts = Counter(c.id for c in cases)
    for case_id, n in sorted(counts.items()):
        if n > 1:
            problems.append(Problem(str(root / "manifest.jsonl"), case_id, f"duplicate id {case_id!r} ({n} records)"))

    label_values = {int(v) for v in info.labels.values()} if info.labels else None
    workers = workers or min(8, (os.cpu_count() or 2) * 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for case_problems in pool.map(lambda c: _check_case(dataset, c, label_values), cases):
            problems.extend(case_problems)
    _check_splits(dataset, problems, require_splits)
    return problems


def assert_dataset_ok(root: str | Path, **kwargs) -> None:
    """Raise DataError listing every problem of the dataset folder `root`, if it has any."""
    problems = check_dataset(root, **kwargs)
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise DataError(f"{root}: {len(problems)} problem(s) found by `aidemed data check`:\n{lines}")


def dataset_summary(dataset: Dataset) -> str:
    """One line: case counts per split, class label and site."""
    cases = dataset.cases
    parts = [f"{len(cases)} cases ({sum(bool(c.mask) for c in cases)} annotated)", f"{dataset.info.dims}D"]
    if dataset.splits_path.is_file():
        splits = dataset.load_splits()
        names = list(splits.get("fractions") or SPLIT_NAMES)
        parts.append("split " + " / ".join(f"{n} {len(splits.get(n) or [])}" for n in names))
    for field in ("label", "site"):
        counts = Counter(getattr(c, field) or "-" for c in cases)
        parts.append(f"{field} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return "; ".join(parts)
