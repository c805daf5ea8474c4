"""The one dataset representation of aidemed: a prepared dataset folder.

    DIR/dataset.json    plain metadata: name, segmentation labels, class names, dims, provenance
    DIR/manifest.jsonl  one JSON record per case (see `Case`)
    DIR/splits.json     the saved train/val/test split and the nested label budgets
    DIR/cache/          decoded, resized arrays (written by `aidemed.data.cache`)

Paths in the manifest are relative to DIR (absolute paths are allowed too), so a dataset folder can
be moved as a whole. Every method, benchmark and CLI command reads cases through `load_dataset`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from aidemed.data.io import DataError, replaced_atomically

FORMAT_NAME = "aidemed-dataset"
FORMAT_VERSION = 1


@dataclass
class Case:
    id: str
    images: list[str]  # one file per channel
    mask: str | None = None  # None: no annotation for this case
    label: str | None = None  # class label (e.g. benign / malignant)
    site: str = "default"  # acquisition site / domain
    report: str | None = None  # free-text report
    spacing: list[float] | None = None  # physical spacing in aidemed's axis order (see data.io)
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        record = {k: v for k, v in asdict(self).items() if v not in (None, {}) or k in ("mask",)}
        return json.dumps(record, ensure_ascii=False)

    @classmethod
    def from_record(cls, record: dict, where: str) -> "Case":
        if not isinstance(record, dict):
            raise DataError(f"{where}: a manifest record must be a JSON object")
        missing = [k for k in ("id", "images") if k not in record]
        if missing:
            raise DataError(f"{where}: manifest record lacks {', '.join(missing)}")
        images = record["images"]
        if isinstance(images, str):
            images = [images]
        known = {f for f in cls.__dataclass_fields__}
        extra = {k: v for k, v in record.items() if k not in known}
        fields = {k: v for k, v in record.items() if k in known and k != "images"}
        fields.setdefault("extra", {}).update(extra)
        return cls(images=list(images), **fields)


@dataclass
class DatasetInfo:
    name: str
    labels: dict[str, int] = field(default_factory=lambda: {"background": 0, "foreground": 1})
    classes: list[str] = field(default_factory=list)
    dims: int = 2
    source: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def num_seg_classes(self) -> int:
        return max(self.labels.values()) + 1


@dataclass
class Dataset:
    root: Path
    info: DatasetInfo
    cases: list[Case]

    def __post_init__(self):
        self._by_id = {c.id: c for c in self.cases}

    def __len__(self) -> int:
        return len(self.cases)

    def case(self, case_id: str) -> Case:
        try:
            return self._by_id[case_id]
        except KeyError:
            raise DataError(f"{self.root}: no case with id {case_id!r}") from None

    def path(self, relative: str) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    def image_paths(self, case: Case) -> list[Path]:
        return [self.path(p) for p in case.images]

    def mask_path(self, case: Case) -> Path | None:
        return self.path(case.mask) if case.mask else None

    @property
    def splits_path(self) -> Path:
        return self.root / "splits.json"

    def load_splits(self) -> dict:
        if not self.splits_path.is_file():
            raise DataError(f"{self.splits_path}: no saved split; run `aidemed data split {self.root}`")
        try:
            return json.loads(self.splits_path.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"{self.splits_path}: not valid JSON ({exc})") from exc


def atomic_write_text(path: Path, text: str) -> None:
    with replaced_atomically(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_dataset(root: str | Path, info: DatasetInfo, cases: list[Case]) -> Dataset:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, **asdict(info)}
    atomic_write_text(root / "dataset.json", json.dumps(meta, indent=2) + "\n")
    atomic_write_text(root / "manifest.jsonl", "".join(c.to_json() + "\n" for c in cases))
    return Dataset(root=root, info=info, cases=cases)


def load_dataset(root: str | Path) -> Dataset:
    """Load a prepared dataset folder. Raises DataError naming the file and the problem."""
    root = Path(root)
    meta_path, manifest_path = root / "dataset.json", root / "manifest.jsonl"
    for p in (meta_path, manifest_path):
        if not p.is_file():
            raise DataError(f"{p}: missing; is {root} a prepared dataset (`aidemed data import`)?")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{meta_path}: not valid JSON ({exc})") from exc
    if meta.get("format") != FORMAT_NAME:
        raise DataError(f"{meta_path}: not an aidemed dataset (format={meta.get('format')!r})")
    info_fields = {k: meta[k] for k in DatasetInfo.__dataclass_fields__ if k in meta}
    info = DatasetInfo(**info_fields)
    cases = []
    with manifest_path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{manifest_path}:{lineno}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: not valid JSON ({exc})") from exc
            cases.append(Case.from_record(record, where))
    return Dataset(root=root, info=info, cases=cases)
