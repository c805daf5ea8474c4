"""Reading and writing images and masks, 2D (PNG/JPG/TIFF) and 3D (NIfTI), with their geometry.

Arrays are channel-less and spatial-first in aidemed's order:
  2D: (H, W) with spacing (sy, sx)
  3D: (Z, X, Y) with spacing (sz, sx, sy), i.e. NIfTI's last axis moved to the front so that a
      volume is a stack of 2D slices; `write_mask` moves it back and keeps the original affine.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

NIFTI_SUFFIXES = (".nii.gz", ".nii")
IMAGE_2D_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
SUPPORTED_SUFFIXES = NIFTI_SUFFIXES + IMAGE_2D_SUFFIXES


class DataError(ValueError):
    """A data file that cannot be used; the message names the file and the problem."""


@contextlib.contextmanager
def replaced_atomically(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file beside `path`, unique to this writer, that replaces `path` when the block ends
    and is removed if the block fails. Readers see the old file or the whole new one; two processes
    writing the same file (two sweep jobs rebuilding one summary) each leave a whole file, where a
    shared temporary name let their bytes mix. `suffix` keeps writers that choose the format from the
    name (numpy, PIL, nibabel) working."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class Geometry:
    """Where an array sits in the world: enough to write a prediction back in the input's frame."""

    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    affine: list[list[float]] | None = None  # NIfTI only
    extra: dict = field(default_factory=dict)

    @property
    def ndim(self) -> int:
        return len(self.shape)


def file_suffix(path: str | Path) -> str:
    name = str(path).lower()
    for suffix in SUPPORTED_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return Path(name).suffix


def strip_suffix(name: str) -> str:
    suffix = file_suffix(name)
    return name[: -len(suffix)] if suffix and name.lower().endswith(suffix) else name


def is_nifti(path: str | Path) -> bool:
    return file_suffix(path) in NIFTI_SUFFIXES


def _read_2d(path: Path, as_labels: bool = False) -> tuple[np.ndarray, Geometry]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I", "F") or (as_labels and img.mode == "P"):
                # A palette mask stores label indices; converting it to gray would mix the palette colours.
                array = np.asarray(img, dtype=np.float32)
            else:
                array = np.asarray(img.convert("L"), dtype=np.float32)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: cannot decode image ({exc})") from exc
    return array, Geometry(shape=tuple(array.shape), spacing=(1.0, 1.0))


def _read_nifti(path: Path) -> tuple[np.ndarray, Geometry]:
    import nibabel as nib

    try:
        img = nib.load(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # nibabel raises many types for truncated/corrupt files
        raise DataError(f"{path}: cannot decode NIfTI ({exc})") from exc
    if data.ndim == 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[..., None]
    if data.ndim != 3:
        raise DataError(f"{path}: expected a 2D or 3D NIfTI volume, got shape {data.shape}")
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    zooms = zooms + (1.0,) * (3 - len(zooms))
    array = np.moveaxis(data, -1, 0)
    spacing = (zooms[2], zooms[0], zooms[1])
    geometry = Geometry(shape=tuple(array.shape), spacing=spacing, affine=img.affine.tolist())
    return array, geometry


def read_image(path: str | Path, as_labels: bool = False) -> tuple[np.ndarray, Geometry]:
    """Read one image channel as float32 with its geometry. Raises DataError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if is_nifti(path):
        return _read_nifti(path)
    if file_suffix(path) in IMAGE_2D_SUFFIXES:
        return _read_2d(path, as_labels)
    raise DataError(f"{path}: unsupported file type (supported: {', '.join(SUPPORTED_SUFFIXES)})")


def read_mask(path: str | Path) -> tuple[np.ndarray, Geometry]:
    """Read a label mask as uint8 label values.

    A 2D mask whose values are exactly {0, 255} (the usual 8-bit binary PNG) is read as {0, 1}.
    Other values must be small non-negative integers (a label set); anything else is a DataError.
    """
    array, geometry = read_image(path, as_labels=True)
    values = np.unique(array)
    if not np.all(np.equal(np.mod(values, 1), 0)) or values.min(initial=0) < 0:
        raise DataError(f"{path}: mask values are not a label set (found {values[:8].tolist()}...)")
    if set(values.tolist()) <= {0.0, 255.0} and not is_nifti(path):
        array = array / 255.0
    elif values.max(initial=0) > 254:
        raise DataError(f"{path}: mask values are not a label set (max value {values.max():g})")
    return array.astype(np.uint8), geometry


def write_mask(path: str | Path, mask: np.ndarray, geometry: Geometry | None = None) -> Path:
    """Write a label mask in the input's own format: PNG (label values) or NIfTI with its affine."""
    path = Path(path)
    mask = np.asarray(mask).astype(np.uint8)
    with replaced_atomically(path, suffix=file_suffix(path)) as tmp:
        if is_nifti(path):
            import nibabel as nib

            affine = np.array(geometry.affine) if geometry is not None and geometry.affine else np.eye(4)
            volume = np.moveaxis(mask, 0, -1) if mask.ndim == 3 else mask
            nib.save(nib.Nifti1Image(volume, affine), str(tmp))
        else:
            from PIL import Image

            Image.fromarray(mask).save(tmp, format="PNG")
    return path


def write_image_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a 2D float or uint8 image as 8-bit grayscale PNG (values clipped to 0..255)."""
    from PIL import Image

    path = Path(path)
    array = np.clip(np.asarray(image, dtype=np.float32), 0, 255).round().astype(np.uint8)
    with replaced_atomically(path, suffix=".png") as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
    return path
