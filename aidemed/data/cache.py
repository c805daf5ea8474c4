"""Decoded, resized arrays of a prepared dataset, cached on disk so an epoch never re-decodes images.

A profile is a square training resolution (the "standard" profile is 128 x 128). Every case of the
manifest is decoded once, z-score normalised per case, resized, and stored in
`DIR/cache/arrays-<size>-<key>.npz`; the key hashes the manifest and the files' sizes and mtimes, so a
changed dataset is re-decoded. 3D volumes become stacks of 2D slices (one sample per slice).
"""

from __future__ import annotations

import hashlib
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from aidemed.data.io import DataError, read_image, read_mask, replaced_atomically
from aidemed.data.manifest import Case, Dataset

CACHE_VERSION = 1
PROFILES = {"small": 64, "standard": 128, "large": 256}


@dataclass
class ArraySet:
    """Per-sample arrays: a sample is a 2D image or one slice of a 3D volume."""

    case_ids: np.ndarray  # (N,) str
    slice_index: np.ndarray  # (N,) int, -1 for 2D cases
    images: np.ndarray  # (N, C, S, S) float32, z-scored per case
    masks: np.ndarray  # (N, S, S) uint8 (zeros where has_mask is False)
    has_mask: np.ndarray  # (N,) bool

    def __len__(self) -> int:
        return len(self.case_ids)

    def select_cases(self, case_ids: list[str] | set[str]) -> "ArraySet":
        wanted = set(case_ids)
        keep = np.array([c in wanted for c in self.case_ids], dtype=bool)
        missing = wanted - set(self.case_ids[keep].tolist())
        if missing:
            raise DataError(f"cases not in the cached arrays: {sorted(missing)[:5]}")
        return ArraySet(self.case_ids[keep], self.slice_index[keep], self.images[keep], self.masks[keep],
                        self.has_mask[keep])


def resolve_size(profile: str | int) -> int:
    if isinstance(profile, int) or str(profile).isdigit():
        return int(profile)
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)} or a pixel size")
    return PROFILES[profile]


def _cache_key(dataset: Dataset, size: int) -> str:
    digest = hashlib.sha1(f"v{CACHE_VERSION}-{size}".encode())
    digest.update((dataset.root / "manifest.jsonl").read_bytes())
    for case in dataset.cases:
        for path in dataset.image_paths(case) + ([dataset.mask_path(case)] if case.mask else []):
            try:
                stat = path.stat()
                digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
            except OSError:
                digest.update(f"{path}:missing".encode())
    return digest.hexdigest()[:16]


def zscore(image: np.ndarray) -> np.ndarray:
    return (image - image.mean()) / (image.std() + 1e-6)


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """(C, H, W) float -> (C, size, size), antialiased bilinear."""
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]
    return F.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0].numpy()


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    tensor = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
    return F.interpolate(tensor, size=(size, size), mode="nearest-exact")[0, 0].numpy().astype(np.uint8)


def decode_case(dataset: Dataset, case: Case) -> tuple[np.ndarray, np.ndarray | None]:
    """Full-resolution (C, *spatial) z-scored image and (*spatial) mask (None if unannotated)."""
    channels = [read_image(p)[0] for p in dataset.image_paths(case)]
    shapes = {c.shape for c in channels}
    if len(shapes) != 1:
        raise DataError(f"{dataset.image_paths(case)[0]}: channels of case {case.id} differ in shape {sorted(shapes)}")
    image = zscore(np.stack(channels))
    mask = None
    if case.mask:
        mask, _ = read_mask(dataset.mask_path(case))
        if mask.shape != image.shape[1:]:
            raise DataError(f"{dataset.mask_path(case)}: mask shape {mask.shape} differs from image {image.shape[1:]}")
    return image, mask


def _decode_resized(dataset: Dataset, case: Case, size: int):
    image, mask = decode_case(dataset, case)
    if image.ndim == 3:  # 2D: (C, H, W)
        images = resize_image(image, size)[None]
        masks = (resize_mask(mask, size) if mask is not None else np.zeros((size, size), np.uint8))[None]
        return images, masks, np.array([-1])
    slices = range(image.shape[1])  # 3D: (C, Z, X, Y) -> one sample per z
    images = np.stack([resize_image(image[:, z], size) for z in slices])
    if mask is not None:
        masks = np.stack([resize_mask(mask[z], size) for z in slices])
    else:
        masks = np.zeros((len(images), size, size), np.uint8)
    return images, masks, np.arange(len(images))


def build_arrays(dataset: Dataset, size: int) -> ArraySet:
    parts = [(case, *_decode_resized(dataset, case, size)) for case in dataset.cases]
    channels = {p[1].shape[1] for p in parts}
    if len(channels) > 1:
        raise DataError(f"{dataset.root}: cases have different channel counts {sorted(channels)}")
    return ArraySet(
        case_ids=np.array([case.id for case, images, _, _ in parts for _ in range(len(images))]),
        slice_index=np.concatenate([s for *_, s in parts]),
        images=np.concatenate([p[1] for p in parts]).astype(np.float32),
        masks=np.concatenate([p[2] for p in parts]),
        has_mask=np.array([case.mask is not None for case, images, _, _ in parts for _ in range(len(images))]),
    )


def load_arrays(dataset: Dataset, profile: str | int = "standard") -> ArraySet:
    """All cases of the dataset at the profile's size, from the on-disk cache when it is current."""
    size = resolve_size(profile)
    path = dataset.root / "cache" / f"arrays-{size}-{_cache_key(dataset, size)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return ArraySet(z["case_ids"], z["slice_index"], z["images"], z["masks"], z["has_mask"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            warnings.warn(f"{path}: unreadable cache ({exc}); decoding the images again")
    arrays = build_arrays(dataset, size)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f"arrays-{size}-*.npz"):
            if ".tmp" not in stale.name:  # another process's file being written
                stale.unlink(missing_ok=True)
        with replaced_atomically(path, suffix=".tmp.npz") as tmp:
            np.savez(tmp, case_ids=arrays.case_ids, slice_index=arrays.slice_index, images=arrays.images,
                     masks=arrays.masks, has_mask=arrays.has_mask)
    except OSError as exc:
        warnings.warn(f"{path.parent}: cannot write the array cache ({exc}); continuing without it")
    return arrays


def cache_path_for(dataset: Dataset, profile: str | int = "standard") -> Path:
    size = resolve_size(profile)
    return dataset.root / "cache" / f"arrays-{size}-{_cache_key(dataset, size)}.npz"
