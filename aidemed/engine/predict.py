"""`aidemed predict`: masks written in each input's own geometry, with optional overlays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aidemed.data.cache import zscore
from aidemed.data.io import SUPPORTED_SUFFIXES, DataError, is_nifti, read_image, strip_suffix, write_mask
from aidemed.engine.inference import Predictor
from aidemed.engine.seed import resolve_device


def _input_groups(source: Path, split: str | None, in_channels: int = 1) -> list[tuple[str, list[Path]]]:
    """(case id, channel files) for a prepared dataset, a folder of images, or one file.

    In a folder, files are grouped by nnU-Net's channel suffix (CASE_0000, CASE_0001, ...) when every
    file has one and there are as many suffixes as the model has channels; otherwise `scan_0001.png`
    is just a name."""
    if (source / "manifest.jsonl").is_file():
        from aidemed.data.manifest import load_dataset

        dataset = load_dataset(source)
        ids = dataset.load_splits()[split] if split else [c.id for c in dataset.cases]
        return [(i, dataset.image_paths(dataset.case(i))) for i in ids]
    if split:
        raise DataError(f"{source}: --split needs a prepared dataset folder")
    if source.is_file():
        return [(strip_suffix(source.name), [source])]
    if not source.is_dir():
        raise DataError(f"{source}: no such file or folder")
    files = [p for p in sorted(source.iterdir()) if p.is_file() and p.name.lower().endswith(SUPPORTED_SUFFIXES)]
    stems = [strip_suffix(p.name) for p in files]
    suffixes = {stem[-4:] for stem in stems if len(stem) > 5 and stem[-5] == "_" and stem[-4:].isdigit()}
    # nnU-Net layout: every file ends in a channel suffix, and there are as many as the model has channels.
    nnunet_layout = bool(files) and len(suffixes) == in_channels and all(
        len(stem) > 5 and stem[-5] == "_" and stem[-4:] in suffixes for stem in stems)
    groups: dict[str, list[Path]] = {}
    for path, stem in zip(files, stems):
        groups.setdefault(stem[:-5] if nnunet_layout else stem, []).append(path)
    if not groups:
        raise DataError(f"{source}: no images found ({', '.join(SUPPORTED_SUFFIXES)})")
    return sorted(groups.items())


def overlay_png(path: Path, image: np.ndarray, mask: np.ndarray) -> None:
    """Grayscale image with the predicted foreground tinted red and its outline drawn."""
    from scipy import ndimage

    gray = image - image.min()
    gray = (255 * gray / (gray.max() + 1e-6)).astype(np.float32)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    fg = mask > 0
    edge = fg & ~ndimage.binary_erosion(fg)
    rgb[fg] = 0.6 * rgb[fg] + 0.4 * np.array([255, 0, 0])
    rgb[edge] = [255, 255, 0]
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(path)


def predict_inputs(model: Path, source: str | Path, output: str | Path, split: str | None = None,
                   overlay: bool = False, device: str = "auto", adapt_bn: bool = False,
                   flip: bool = False) -> list[Path]:
    """Predict every input case; with `adapt_bn` the model's batch-norm statistics are first taken from
    these same images (AdaBN: test-time adaptation to a new site, no labels needed); with `flip` each
    prediction averages the image's and its mirror's (test-time augmentation)."""
    predictor = Predictor.from_checkpoint(model, resolve_device(device), flip=flip)
    groups = _input_groups(Path(source), split, predictor.in_channels)
    if adapt_bn:
        # A first pass over the inputs: the statistics must be set before the first case is predicted.
        if not predictor.adapt_batchnorm(_read_case(case_id, files, predictor)[0] for case_id, files in groups):
            raise DataError(f"{model}: --adapt-bn needs a network with batch norm; this one has none")
    output = Path(output)
    written = []
    for case_id, files in groups:
        image, geometry = _read_case(case_id, files, predictor)
        mask, _ = predictor.predict_case(image)
        suffix = ".nii.gz" if is_nifti(files[0]) else ".png"
        written.append(write_mask(output / f"{case_id}{suffix}", mask, geometry))
        if overlay:
            middle = image[0] if image.ndim == 3 else image[0, image.shape[1] // 2]
            shown = mask if mask.ndim == 2 else mask[mask.shape[0] // 2]
            overlay_png(output / "overlays" / f"{case_id}.png", middle, shown)
    return written


def _read_case(case_id: str, files: list[Path], predictor: Predictor):
    """The case's z-scored image (C, ...) and the first channel's geometry."""
    channels = [read_image(f) for f in files]
    if len(channels) != predictor.in_channels:
        raise DataError(f"{files[0]}: the model takes {predictor.in_channels} channel(s), "
                        f"case {case_id} has {len(channels)} file(s)")
    return zscore(np.stack([c[0] for c in channels])), channels[0][1]
