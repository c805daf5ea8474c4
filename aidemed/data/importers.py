"""Importers: turn a raw dataset layout into a prepared aidemed dataset folder.

    import_dataset("busi", "/data/busi", "prepared/busi")

Every importer writes into a private staging folder next to `out_dir` (normalised files under
`images/` and `masks/`, then `dataset.json` and `manifest.jsonl` via `write_dataset`); the default
split file is created there (`create_split_file`, seed 0, 70/10/20, stratified by label and site),
and only then is the staging folder moved to `out_dir`. A failed import therefore leaves nothing
behind and never touches an existing `out_dir`; replacing an existing dataset needs `force=True`.

An importer is `fn(src: Path | None, out_dir: Path, **options) -> Dataset`, registered with
`@register_importer(name)`; the keyword options it declares are the ones `import_dataset` accepts.
"""

from __future__ import annotations

import csv
import inspect
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aidemed.data.io import (
    IMAGE_2D_SUFFIXES,
    NIFTI_SUFFIXES,
    SUPPORTED_SUFFIXES,
    DataError,
    file_suffix,
    is_nifti,
    read_image,
    read_mask,
    strip_suffix,
    write_image_png,
    write_mask,
)
from aidemed.data.staging import staged_folder
from aidemed.data.manifest import Case, Dataset, DatasetInfo, load_dataset, write_dataset
from aidemed.data.splits import create_split_file

Importer = Callable[..., Dataset]
IMPORTERS: dict[str, Importer] = {}

# Importers whose SRC may be None (phantom needs none; folder can take --images instead).
SOURCE_OPTIONAL: set[str] = set()


def register_importer(name: str, *, needs_source: bool = True) -> Callable[[Importer], Importer]:
    def decorator(fn: Importer) -> Importer:
        IMPORTERS[name] = fn
        if needs_source:
            SOURCE_OPTIONAL.discard(name)
        else:
            SOURCE_OPTIONAL.add(name)
        return fn

    return decorator


def importer_options(kind: str) -> dict[str, object]:
    """The keyword options an importer accepts, with their defaults."""
    fn = _importer(kind)
    params = list(inspect.signature(fn).parameters.values())[2:]
    return {p.name: p.default for p in params if p.kind == p.KEYWORD_ONLY}


def _importer(kind: str) -> Importer:
    try:
        return IMPORTERS[kind]
    except KeyError:
        raise DataError(f"unknown dataset kind {kind!r} (known: {', '.join(sorted(IMPORTERS))})") from None


def import_dataset(
    kind: str,
    src: str | Path | None,
    out_dir: str | Path,
    *,
    force: bool = False,
    split_seed: int | None = None,
    exclude_labels: tuple[str, ...] | list[str] = (),
    **options,
) -> Dataset:
    """Import `src` with the importer `kind` into the prepared dataset folder `out_dir`.

    `exclude_labels`: class labels left out of every split (the cases stay in the manifest), e.g.
    ("normal",) for the standard BUSI benchmark. `split_seed`: the split's seed (default: the split an
    importer wrote itself, else seed 0). `force`: replace an existing `out_dir`.
    """
    fn = _importer(kind)
    known = importer_options(kind)
    unknown = sorted(set(options) - set(known))
    if unknown:
        accepted = ", ".join(sorted(known)) or "none"
        raise DataError(f"importer {kind!r} does not take option(s) {', '.join(unknown)} (it takes: {accepted})")
    if src is None and kind not in SOURCE_OPTIONAL:
        raise DataError(f"importer {kind!r} needs a source folder (SRC)")
    src_path = Path(src).expanduser() if src is not None else None
    if src_path is not None and not src_path.exists():
        raise DataError(f"{src_path}: source not found")

    out_dir = Path(out_dir).expanduser()
    with staged_folder(out_dir, force=force, source=src_path, purpose="importing") as staging:
        dataset = fn(src_path, staging, **options)
        if not (staging / "manifest.jsonl").is_file():
            raise DataError(f"importer {kind!r} wrote no manifest")
        dataset = load_dataset(staging)
        if split_seed is not None or exclude_labels or not dataset.splits_path.is_file():
            create_split_file(dataset, seed=split_seed or 0, exclude_labels=tuple(exclude_labels))
    return load_dataset(out_dir)


# --------------------------------------------------------------------------------------- helpers


def safe_id(name: str) -> str:
    """A file-name-safe case id: runs of other characters become '_'."""
    return re.sub(r"[^A-Za-z0-9.\-]+", "_", name).strip("_.") or "case"


def _require_dir(path: Path, what: str) -> Path:
    if not path.exists():
        raise DataError(f"{path}: {what} not found")
    if not path.is_dir():
        raise DataError(f"{path}: {what} is not a folder")
    return path


def _files(folder: Path, suffixes=SUPPORTED_SUFFIXES) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and file_suffix(p) in suffixes
    )


def _add_note(info: DatasetInfo, note: str) -> None:
    info.extra.setdefault("import_notes", []).append(note)


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _read_gray_u8(path: Path) -> np.ndarray:
    """A 2D image as 8-bit grayscale (16-bit/float images are scaled to 0..255)."""
    array, geometry = read_image(path)
    if geometry.ndim != 2:
        raise DataError(f"{path}: expected a 2D image, got shape {geometry.shape}")
    if array.max(initial=0) > 255 or array.min(initial=0) < 0:
        lo, hi = float(array.min()), float(array.max())
        array = (array - lo) / max(hi - lo, 1e-12) * 255.0
    return array


def _store_gray_png(src: Path, dst: Path) -> np.ndarray:
    """Store a 2D image as 8-bit grayscale PNG at `dst` and return its pixels.

    A source that already is an 8-bit grayscale PNG is decoded (to check it) and copied byte for byte.
    """
    from PIL import Image

    image = _read_gray_u8(src)
    try:
        with Image.open(src) as img:
            plain = img.format == "PNG" and img.mode == "L"
    except OSError:
        plain = False
    if plain:
        _copy(src, dst)
    else:
        write_image_png(dst, image)
    return image


def _resize_mask_bilinear(mask_u8: np.ndarray, shape: tuple[int, int], threshold: float = 128) -> np.ndarray:
    """Resize 0..255 mask values bilinearly to `shape` (H, W), then binarise at `threshold`."""
    from PIL import Image

    if mask_u8.shape == tuple(shape):
        resized = mask_u8.astype(np.float32)
    else:
        img = Image.fromarray(mask_u8.astype(np.float32), mode="F")
        resized = np.asarray(img.resize((shape[1], shape[0]), Image.BILINEAR), dtype=np.float32)
    return (resized >= threshold).astype(np.uint8)


def _finish(out_dir: Path, info: DatasetInfo, cases: list[Case]) -> Dataset:
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise DataError(f"{out_dir}: duplicate case ids {dup[:5]}")
    if not cases:
        raise DataError(f"{info.source or out_dir}: no cases found")
    return write_dataset(out_dir, info, cases)


# ------------------------------------------------------------------------------------------ BUSI

LESION_LABELS = {"background": 0, "lesion": 1}
BUSI_CLASSES = ("benign", "malignant", "normal")
_BUSI_NAME = re.compile(r"^(?P<cls>[a-z]+) \((?P<num>\d+)\)$")
_BUSI_MASK = re.compile(r"^(?P<base>.+)_mask(?:_(?P<k>\d+))?$")


@register_importer("busi")
def import_busi(src: Path, out_dir: Path, *, include_normal: bool = True) -> Dataset:
    """BUSI: `{benign,malignant,normal}/NAME.png` with `NAME_mask.png`, `NAME_mask_1.png`, ...

    The lesion mask is the union of all the image's masks; normal images get an all-zero mask.
    Ids are `benign_001` from `benign (1).png`; the original file names are kept in `extra`.
    """
    root = src / "Dataset_BUSI_with_GT" if (src / "Dataset_BUSI_with_GT").is_dir() else src
    classes = [c for c in BUSI_CLASSES if include_normal or c != "normal"]
    missing = [c for c in classes if not (root / c).is_dir()]
    if missing:
        raise DataError(f"{root}: not a BUSI folder (no {', '.join(missing)}/ subfolder)")
    info = DatasetInfo(name="busi", labels=dict(LESION_LABELS), classes=list(classes), dims=2, source=str(root.resolve()))
    cases: list[Case] = []
    for cls in classes:
        folder = root / cls
        images: dict[str, Path] = {}
        masks: dict[str, list[Path]] = {}
        for path in _files(folder, IMAGE_2D_SUFFIXES):
            stem = strip_suffix(path.name)
            m = _BUSI_MASK.match(stem)
            if m:
                masks.setdefault(m["base"], []).append(path)
            else:
                images[stem] = path
        for base in sorted(set(masks) - set(images)):
            _add_note(info, f"{folder / base}: mask file(s) without an image ignored")
        for stem, image_path in sorted(images.items(), key=lambda kv: _busi_sort_key(kv[0])):
            m = _BUSI_NAME.match(stem)
            case_id = f"{cls}_{int(m['num']):03d}" if m and m["cls"] == cls else f"{cls}_{safe_id(stem)}"
            image_rel = f"images/{case_id}.png"
            image = _store_gray_png(image_path, out_dir / image_rel)
            mask_files = sorted(masks.get(stem, []), key=lambda p: p.name)
            union = np.zeros(image.shape, dtype=np.uint8)
            for mask_path in mask_files:
                mask, _ = read_mask(mask_path)
                if mask.shape != image.shape:
                    raise DataError(
                        f"{mask_path}: mask size {mask.shape[::-1]} differs from its image "
                        f"{image_path.name} {image.shape[::-1]} (W x H)"
                    )
                union |= (mask > 0).astype(np.uint8)
            has_mask = bool(mask_files) or cls == "normal"
            if not has_mask:
                _add_note(info, f"{image_path}: no mask file; imported as an unlabelled case")
            mask_rel = None
            if has_mask:
                mask_rel = f"masks/{case_id}.png"
                write_mask(out_dir / mask_rel, union)
            extra = {"source_file": f"{cls}/{image_path.name}", "mask_files": [p.name for p in mask_files]}
            cases.append(Case(id=case_id, images=[image_rel], mask=mask_rel, label=cls, site="busi", extra=extra))
    return _finish(out_dir, info, cases)


def _busi_sort_key(stem: str) -> tuple:
    m = _BUSI_NAME.match(stem)
    return (0, int(m["num"]), stem) if m else (1, 0, stem)


# ------------------------------------------------------------------------------------------- STU

_STU_IMAGE = re.compile(r"^Test_Image_(?P<num>\d+)$")


@register_importer("stu")
def import_stu(src: Path, out_dir: Path, *, threshold: float = 128) -> Dataset:
    """STU: `Test_Image_N.png` with `mask_N.png` (any size, anti-aliased 0..255).

    Each mask is resized to its image's size (bilinear on the 0..255 values) and thresholded at 128.
    """
    root = src / "Hospital" if (src / "Hospital").is_dir() else src
    _require_dir(root, "STU folder")
    info = DatasetInfo(name="stu", labels=dict(LESION_LABELS), dims=2, source=str(root.resolve()))
    numbered = []
    for path in _files(root, IMAGE_2D_SUFFIXES):
        m = _STU_IMAGE.match(strip_suffix(path.name))
        if m:
            numbered.append((int(m["num"]), path))
    if not numbered:
        raise DataError(f"{root}: no Test_Image_N.png files (not an STU folder)")
    cases = []
    for num, image_path in sorted(numbered):
        case_id = f"stu_{num:03d}"
        image_rel = f"images/{case_id}.png"
        image = _store_gray_png(image_path, out_dir / image_rel)
        mask_path = image_path.with_name(f"mask_{num}{file_suffix(image_path)}")
        if not mask_path.is_file():
            candidates = [p for p in root.glob(f"mask_{num}.*") if file_suffix(p) in IMAGE_2D_SUFFIXES]
            mask_path = candidates[0] if candidates else None
        mask_rel = None
        extra = {"source_file": image_path.name}
        if mask_path is None:
            _add_note(info, f"{image_path}: no mask_{num} file; imported as an unlabelled case")
        else:
            raw, geometry = read_image(mask_path)
            if geometry.ndim != 2:
                raise DataError(f"{mask_path}: expected a 2D mask, got shape {geometry.shape}")
            mask = _resize_mask_bilinear(np.clip(raw, 0, 255), image.shape, threshold)
            mask_rel = f"masks/{case_id}.png"
            write_mask(out_dir / mask_rel, mask)
            extra.update(mask_file=mask_path.name, mask_source_size=list(raw.shape[::-1]))
        cases.append(Case(id=case_id, images=[image_rel], mask=mask_rel, site="stu", extra=extra))
    return _finish(out_dir, info, cases)


# ---------------------------------------------------------------------------------------- folder


def _seg_labels(max_value: int) -> dict[str, int]:
    if max_value <= 1:
        return {"background": 0, "foreground": 1}
    return {"background": 0, **{f"label_{v}": v for v in range(1, max_value + 1)}}


def _read_class_labels(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise DataError(f"{path}: labels CSV not found")
    labels: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            if not row or not "".join(row).strip() or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise DataError(f"{path}:{lineno}: expected 'id,label', got {','.join(row)!r}")
            key, value = row[0].strip(), row[1].strip()
            if lineno == 1 and key.lower() == "id":
                continue  # header
            if key in labels:
                raise DataError(f"{path}:{lineno}: id {key!r} listed twice")
            labels[key] = value
    return labels


@register_importer("folder", needs_source=False)
def import_folder(
    src: Path | None,
    out_dir: Path,
    *,
    images: str | Path | None = None,
    masks: str | Path | None = None,
    mask_suffix: str = "_mask",
    labels: str | Path | None = None,
    site: str = "default",
    name: str | None = None,
) -> Dataset:
    """Images and masks paired by name, 2D (PNG/JPG/TIFF/BMP) or 3D (NIfTI).

    Either `images` and `masks` folders (mask named like its image, or with `mask_suffix`), or one
    folder SRC holding `NAME.ext` and `NAME{mask_suffix}.ext`. Images without a mask become
    unlabelled cases. `labels`: a CSV of `id,label` rows (class labels, id = image name without
    extension). 2D images are stored as 8-bit grayscale PNG (16-bit/float TIFFs are kept as they
    are); NIfTI files are copied unchanged, so their geometry survives.
    """
    if images is None and src is None:
        raise DataError("folder importer: give a source folder or --images DIR")
    image_dir = _require_dir(Path(images) if images is not None else src, "image folder")
    mask_dir = _require_dir(Path(masks), "mask folder") if masks is not None else image_dir
    same = mask_dir.resolve() == image_dir.resolve()
    if same and not mask_suffix:
        raise DataError(f"{image_dir}: images and masks share a folder, so a mask suffix is needed")

    image_files: dict[str, Path] = {}
    for path in _files(image_dir):
        stem = strip_suffix(path.name)
        if same and stem.endswith(mask_suffix):
            continue
        if stem in image_files:
            raise DataError(f"{path}: two images named {stem!r} ({image_files[stem].name} and {path.name})")
        image_files[stem] = path
    if not image_files:
        raise DataError(f"{image_dir}: no image files ({', '.join(SUPPORTED_SUFFIXES)})")
    mask_files: dict[str, Path] = {}
    for path in _files(mask_dir):
        stem = strip_suffix(path.name)
        if mask_suffix and stem.endswith(mask_suffix) and stem[: -len(mask_suffix)] in image_files:
            key = stem[: -len(mask_suffix)]
        elif not same and stem in image_files:
            key = stem
        else:
            continue
        if key in mask_files:
            raise DataError(f"{path}: two masks for image {key!r} ({mask_files[key].name} and {path.name})")
        mask_files[key] = path
    class_labels = _read_class_labels(Path(labels)) if labels is not None else {}

    info = DatasetInfo(name=name or safe_id(image_dir.resolve().name), dims=2, source=str(image_dir.resolve()))
    ids: dict[str, str] = {}
    cases: list[Case] = []
    dims: set[int] = set()
    max_label = 1
    for stem in sorted(image_files):
        image_path = image_files[stem]
        case_id = safe_id(stem)
        if case_id in ids:
            raise DataError(f"{image_path}: its case id {case_id!r} clashes with {ids[case_id]}")
        ids[case_id] = image_path.name
        extra = {"source_file": image_path.name}
        if is_nifti(image_path):
            array, geometry = read_image(image_path)
            image_rel = f"images/{case_id}{file_suffix(image_path)}"
            _copy(image_path, out_dir / image_rel)
        else:
            array, geometry = read_image(image_path)
            if array.max(initial=0) > 255 or array.min(initial=0) < 0 or not np.all(np.mod(array, 1) == 0):
                image_rel = f"images/{case_id}{file_suffix(image_path)}"  # keep 16-bit/float as is
                _copy(image_path, out_dir / image_rel)
            else:
                image_rel = f"images/{case_id}.png"
                _store_gray_png(image_path, out_dir / image_rel)
        dims.add(3 if is_nifti(image_path) else 2)
        mask_rel = None
        mask_path = mask_files.get(stem)
        if mask_path is not None:
            extra["mask_file"] = mask_path.name
            if file_suffix(mask_path) in (".jpg", ".jpeg"):  # lossy: binarise at 128
                raw, mask_geometry = read_image(mask_path)
                mask = (raw >= 128).astype(np.uint8)
            else:
                mask, mask_geometry = read_mask(mask_path)
            if mask.shape != array.shape:
                raise DataError(
                    f"{mask_path}: mask shape {mask.shape} differs from its image {image_path.name} {array.shape}"
                )
            max_label = max(max_label, int(mask.max(initial=0)))
            if is_nifti(mask_path) and is_nifti(image_path):
                mask_rel = f"masks/{case_id}{file_suffix(mask_path)}"
                _copy(mask_path, out_dir / mask_rel)
            elif is_nifti(image_path):
                mask_rel = f"masks/{case_id}.nii.gz"
                write_mask(out_dir / mask_rel, mask, geometry)
            else:
                mask_rel = f"masks/{case_id}.png"
                write_mask(out_dir / mask_rel, mask)
        spacing = list(geometry.spacing) if is_nifti(image_path) else None
        label = class_labels.get(stem, class_labels.get(case_id))
        cases.append(
            Case(id=case_id, images=[image_rel], mask=mask_rel, label=label, site=site, spacing=spacing, extra=extra)
        )
    if len(dims) > 1:
        raise DataError(f"{image_dir}: mixes 2D and 3D images; import them as separate datasets")
    info.dims = dims.pop()
    info.labels = _seg_labels(max_label)
    unknown = sorted(set(class_labels) - set(image_files) - set(ids))
    if unknown:
        raise DataError(f"{labels}: ids without an image: {', '.join(unknown[:10])}")
    info.classes = sorted({c.label for c in cases if c.label})
    unlabelled = sum(c.mask is None for c in cases)
    if unlabelled:
        _add_note(info, f"{unlabelled} image(s) without a mask imported as unlabelled cases")
    return _finish(out_dir, info, cases)


# ---------------------------------------------------------------------------------------- nnU-Net


def _nifti_geometry(path: Path) -> tuple[tuple[int, ...], list[float], list[list[float]]]:
    """Shape and spacing in aidemed's (Z, X, Y) order, and the affine, from the header only."""
    import nibabel as nib

    try:
        img = nib.load(str(path))
        shape = tuple(int(s) for s in img.shape)
        zooms = [float(z) for z in img.header.get_zooms()[:3]]
    except Exception as exc:
        raise DataError(f"{path}: cannot read NIfTI header ({exc})") from exc
    if len(shape) == 4 and shape[-1] == 1:
        shape = shape[:3]
    if len(shape) == 2:
        shape = shape + (1,)
    if len(shape) != 3:
        raise DataError(f"{path}: expected a 2D or 3D NIfTI volume, got shape {shape}")
    zooms = zooms + [1.0] * (3 - len(zooms))
    return (shape[2], shape[0], shape[1]), [zooms[2], zooms[0], zooms[1]], img.affine.tolist()


@register_importer("nnunet")
def import_nnunet(src: Path, out_dir: Path, *, copy: bool = True, include_test: bool = True) -> Dataset:
    """An nnU-Net v2 raw dataset folder (dataset.json, imagesTr/, labelsTr/, optional imagesTs/).

    Files are copied unchanged (NIfTI geometry survives) or, with copy=False, referenced by
    absolute path. imagesTs cases become unlabelled cases (extra.subset = "imagesTs").
    """
    _require_dir(src, "nnU-Net dataset folder")
    meta_path = src / "dataset.json"
    if not meta_path.is_file():
        raise DataError(f"{meta_path}: missing (not an nnU-Net v2 raw dataset)")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{meta_path}: not valid JSON ({exc})") from exc
    for key in ("channel_names", "labels", "file_ending"):
        if key not in meta:
            raise DataError(f"{meta_path}: lacks {key!r} (nnU-Net v2 format expected)")
    channels = sorted(int(k) for k in meta["channel_names"])
    if channels != list(range(len(channels))) or not channels:
        raise DataError(f"{meta_path}: channel_names must be numbered 0..N-1, got {list(meta['channel_names'])}")
    labels = {}
    for label_name, value in meta["labels"].items():
        if not isinstance(value, int):
            raise DataError(f"{meta_path}: label {label_name!r} is a region ({value}); region labels are not supported")
        labels[label_name] = value
    ending = meta["file_ending"]
    is3d = ending.lower() in NIFTI_SUFFIXES
    if ending.lower() not in SUPPORTED_SUFFIXES:
        raise DataError(f"{meta_path}: file_ending {ending!r} is not supported ({', '.join(SUPPORTED_SUFFIXES)})")

    images_tr = _require_dir(src / "imagesTr", "imagesTr folder")
    labels_tr = _require_dir(src / "labelsTr", "labelsTr folder")
    info = DatasetInfo(
        name=str(meta.get("name") or safe_id(src.resolve().name)),
        labels=labels,
        dims=3 if is3d else 2,
        source=str(src.resolve()),
        extra={"nnunet": {k: meta[k] for k in ("channel_names", "numTraining", "file_ending") if k in meta}},
    )
    subsets = [("imagesTr", images_tr, labels_tr)]
    if include_test and (src / "imagesTs").is_dir():
        subsets.append(("imagesTs", src / "imagesTs", None))

    cases: list[Case] = []
    seen: set[str] = set()
    for subset, image_dir, label_dir in subsets:
        identifiers = sorted(
            p.name[: -len(ending) - 5]
            for p in image_dir.iterdir()
            if p.name.endswith(f"_0000{ending}") and not p.name.startswith(".")
        )
        if subset == "imagesTr" and not identifiers:
            raise DataError(f"{image_dir}: no CASE_0000{ending} files")
        for ident in identifiers:
            case_id = ident if ident not in seen else f"Ts_{ident}"
            seen.add(case_id)
            channel_paths = [image_dir / f"{ident}_{c:04d}{ending}" for c in channels]
            for p in channel_paths:
                if not p.is_file():
                    raise DataError(f"{p}: missing channel file for case {ident!r}")
            if is3d:
                shape, spacing, _ = _nifti_geometry(channel_paths[0])
            else:
                _, geometry = read_image(channel_paths[0])
                shape, spacing = geometry.shape, [1.0, 1.0]
            for p in channel_paths[1:]:
                other = _nifti_geometry(p)[0] if is3d else read_image(p)[1].shape
                if tuple(other) != tuple(shape):
                    raise DataError(f"{p}: channel shape {tuple(other)} differs from {channel_paths[0].name} {shape}")
            mask_src = label_dir / f"{ident}{ending}" if label_dir is not None else None
            if mask_src is not None and not mask_src.is_file():
                raise DataError(f"{mask_src}: missing label file for training case {ident!r}")
            if mask_src is not None:
                mask, mask_geometry = read_mask(mask_src)
                if tuple(mask_geometry.shape) != tuple(shape):
                    raise DataError(f"{mask_src}: mask shape {mask_geometry.shape} differs from its image {shape}")
                bad = sorted(set(np.unique(mask).tolist()) - set(labels.values()))
                if bad:
                    raise DataError(f"{mask_src}: mask value(s) {bad[:8]} not in dataset.json labels {labels}")
            if copy:
                image_refs = []
                for c, p in zip(channels, channel_paths):
                    rel = f"images/{case_id}_{c:04d}{ending}"
                    _copy(p, out_dir / rel)
                    image_refs.append(rel)
                mask_ref = None
                if mask_src is not None:
                    mask_ref = f"masks/{case_id}{ending}"
                    _copy(mask_src, out_dir / mask_ref)
            else:
                image_refs = [str(p.resolve()) for p in channel_paths]
                mask_ref = str(mask_src.resolve()) if mask_src is not None else None
            extra = {"subset": subset, "nnunet_id": ident}
            cases.append(Case(id=case_id, images=image_refs, mask=mask_ref, spacing=spacing, extra=extra))
    n_train = sum(c.extra["subset"] == "imagesTr" for c in cases)
    if "numTraining" in meta and meta["numTraining"] != n_train:
        _add_note(info, f"{meta_path}: numTraining is {meta['numTraining']} but imagesTr holds {n_train} cases")
    return _finish(out_dir, info, cases)


# ---------------------------------------------------------------------------------------- phantom


@register_importer("phantom", needs_source=False)
def import_phantom(src: Path | None, out_dir: Path, *, n_cases: int = 60, size: int = 128, seed: int = 0) -> Dataset:
    """The embedded synthetic phantom data (no SRC): `aidemed.data.phantom.generate_phantom_dataset`."""
    if src is not None:
        raise DataError("the phantom importer takes no source folder")
    try:
        from aidemed.data.phantom import generate_phantom_dataset
    except ImportError as exc:
        raise DataError(f"the phantom generator is not available ({exc})") from exc
    return generate_phantom_dataset(out_dir, n_cases=n_cases, size=size, seed=seed)


# ------------------------------------------------------------------------------------- report CSV


@register_importer("report-csv")
def import_report_csv(
    src: Path,
    out_dir: Path,
    *,
    path_col: str = "path",
    text_col: str = "text",
    label_col: str | None = None,
    id_col: str | None = None,
    image_root: str | Path | None = None,
    site: str = "default",
    name: str | None = None,
) -> Dataset:
    """A CSV of image paths and report texts (the MIMIC-CXR-JPG layout: path, study text), no masks.

    Paths are relative to `image_root` (default: the CSV's folder) or absolute. `text_col` may name
    several columns, comma-separated (e.g. findings,impression): they are joined as "FINDINGS: ...
    IMPRESSION: ..." sections. Images are stored as 8-bit grayscale PNG under DIR/images; the text goes
    into `Case.report`, `label_col` (optional) into `Case.label`. Ids: `id_col`, else the image name
    (the path when names clash). The split is over all cases (70/10/20, seed 0, stratified by label),
    as the mask-based default split would put every unannotated case in train.
    """
    from dataclasses import replace

    from aidemed.data.manifest import atomic_write_text
    from aidemed.data.splits import DEFAULT_FRACTIONS, make_splits

    if not src.is_file():
        raise DataError(f"{src}: report CSV not found (report-csv takes a CSV file as SRC)")
    root = Path(image_root).expanduser() if image_root is not None else src.resolve().parent
    text_cols = [c.strip() for c in str(text_col).split(",") if c.strip()]
    with src.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        wanted = [path_col, *text_cols] + [c for c in (label_col, id_col) if c]
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise DataError(f"{src}: no column(s) {', '.join(missing)} (columns: {', '.join(columns)})")
        rows = list(enumerate(reader, start=2))
    info = DatasetInfo(name=name or safe_id(strip_suffix(src.name)), dims=2, source=str(src.resolve()))
    cases: list[Case] = []
    seen: set[str] = set()
    for lineno, row in rows:
        rel = (row.get(path_col) or "").strip()
        if not rel:
            raise DataError(f"{src}:{lineno}: empty {path_col!r}")
        image_path = Path(rel) if Path(rel).is_absolute() else root / rel
        if not image_path.is_file():
            raise DataError(f"{src}:{lineno}: image {image_path} not found")
        if id_col:
            case_id = safe_id(row[id_col])
        else:
            case_id = safe_id(strip_suffix(Path(rel).name))
            if case_id in seen:
                case_id = safe_id(strip_suffix(rel))
        if case_id in seen:
            raise DataError(f"{src}:{lineno}: case id {case_id!r} appears twice")
        seen.add(case_id)
        image_rel = f"images/{case_id}.png"
        _store_gray_png(image_path, out_dir / image_rel)
        texts = [(c, (row.get(c) or "").strip()) for c in text_cols]
        if len(texts) == 1:
            report = texts[0][1]
        else:
            report = "\n\n".join(f"{c.upper()}: {t}" for c, t in texts if t)
        label = ((row.get(label_col) or "").strip() or None) if label_col else None
        cases.append(Case(id=case_id, images=[image_rel], label=label, site=site, report=report or None,
                          extra={"source_file": rel, "source_line": lineno}))
    info.classes = sorted({c.label for c in cases if c.label})
    no_report = sum(c.report is None for c in cases)
    if no_report:
        _add_note(info, f"{no_report} row(s) with an empty report")
    dataset = _finish(out_dir, info, cases)
    split = make_splits([replace(c, mask="-") for c in cases], seed=0, stratify=("label",))
    record = {"seed": 0, "fractions": DEFAULT_FRACTIONS, "stratify": ["label"], "exclude_labels": [],
              **{k: sorted(v) for k, v in split.items()}, "budgets": {}}
    atomic_write_text(out_dir / "splits.json", json.dumps(record, indent=1) + "\n")
    return dataset
