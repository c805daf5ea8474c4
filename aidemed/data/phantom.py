"""Procedural breast-ultrasound-like phantoms: the embedded default data set.

Each image has a speckled background (Rayleigh-distributed, depth-attenuated, with tissue layers and
dark distractors such as ducts and shadows) and one or two hypoechoic lesions. The class follows the
shape, as in BI-RADS descriptors: `benign` lesions are smooth, wider-than-tall ovals with posterior
enhancement; `malignant` ones are irregular, spiculated, often taller-than-wide with posterior
shadowing. Lesion contrast varies from case to case so that segmentation is not trivial.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from aidemed.data.io import write_image_png, write_mask
from aidemed.data.manifest import Case, Dataset, DatasetInfo, write_dataset


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return noise / (noise.std() + 1e-8)


def _speckle(rng: np.random.Generator, shape: tuple[int, int], grain: float) -> np.ndarray:
    """Fully developed speckle: the magnitude of a smoothed complex Gaussian field (Rayleigh)."""
    real = ndimage.gaussian_filter(rng.standard_normal(shape), (grain * 0.6, grain))
    imag = ndimage.gaussian_filter(rng.standard_normal(shape), (grain * 0.6, grain))
    magnitude = np.hypot(real, imag)
    return magnitude / (magnitude.mean() + 1e-8)


def _lesion_mask(rng: np.random.Generator, size: int, malignant: bool) -> tuple[np.ndarray, tuple[float, float]]:
    """A star-shaped lesion given by a radius function r(theta) around a random centre."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    radius = size * rng.uniform(0.09, 0.2)
    cy = rng.uniform(0.3, 0.75) * size
    cx = rng.uniform(0.25, 0.75) * size
    theta = np.arctan2(yy - cy, xx - cx)
    if malignant:
        aspect = rng.uniform(0.9, 1.4)  # taller-than-wide
        harmonics = [(k, rng.uniform(0.04, 0.14), rng.uniform(0, 2 * np.pi)) for k in range(2, 9)]
        spikes = rng.integers(6, 14)
        spike_amp = rng.uniform(0.08, 0.25)
    else:
        aspect = rng.uniform(0.45, 0.8)  # wider-than-tall
        harmonics = [(k, rng.uniform(0.0, 0.06), rng.uniform(0, 2 * np.pi)) for k in range(2, 4)]
        spikes, spike_amp = 0, 0.0
    r_theta = np.ones_like(theta)
    for k, amp, phase in harmonics:
        r_theta += amp * np.cos(k * theta + phase)
    if spikes:
        r_theta += spike_amp * np.maximum(np.cos(spikes * theta + rng.uniform(0, 6.28)), 0) ** 8
    dist = np.hypot((yy - cy) / aspect, xx - cx)
    return dist <= radius * r_theta, (cy, cx)


def make_phantom(seed: int, size: int = 128, malignant: bool | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """One phantom: (image uint8-range float32 (H, W), mask uint8 (H, W), class label)."""
    rng = np.random.default_rng(seed)
    if malignant is None:
        malignant = bool(rng.random() < 0.4)
    shape = (size, size)
    yy = np.linspace(0, 1, size, dtype=np.float32)[:, None]

    layers = 0.6 + 0.25 * np.sin(2 * np.pi * (yy * rng.uniform(1.5, 3.5) + 0.3 * _smooth_noise(rng, shape, size / 6)))
    attenuation = np.exp(-rng.uniform(0.3, 1.0) * yy)
    echo = layers * attenuation * (1 + 0.25 * _smooth_noise(rng, shape, size / 10))

    mask = np.zeros(shape, dtype=bool)
    n_lesions = 2 if rng.random() < 0.15 else 1
    for _ in range(n_lesions):
        lesion, (cy, cx) = _lesion_mask(rng, size, malignant)
        mask |= lesion
        contrast = rng.uniform(0.15, 0.55)  # lesion echo as a fraction of the surroundings
        soft = ndimage.gaussian_filter(lesion.astype(np.float32), rng.uniform(0.6, 1.8))
        echo = echo * (1 - (1 - contrast) * soft)
        # Posterior acoustic feature: enhancement behind benign, shadowing behind malignant lesions.
        cols = ndimage.gaussian_filter1d(lesion.any(axis=0).astype(np.float32), 2.0)
        below = (np.arange(size)[:, None] > np.argmax(lesion, axis=0)[None, :] + lesion.sum(axis=0)[None, :]).astype(np.float32)
        factor = rng.uniform(0.3, 0.6) if malignant else rng.uniform(1.15, 1.4)
        echo = echo * (1 + (factor - 1) * below * cols[None, :] * np.exp(-3 * np.clip(yy - cy / size, 0, None)))

    for _ in range(rng.integers(1, 4)):  # dark distractors: ducts and vessels, elongated and smooth
        length, width = rng.uniform(0.15, 0.4) * size, rng.uniform(0.015, 0.04) * size
        cy, cx, angle = rng.uniform(0.1, 0.9) * size, rng.uniform(0.1, 0.9) * size, rng.uniform(-0.5, 0.5)
        yy2, xx2 = np.mgrid[0:size, 0:size].astype(np.float32)
        u = (xx2 - cx) * np.cos(angle) + (yy2 - cy) * np.sin(angle)
        v = -(xx2 - cx) * np.sin(angle) + (yy2 - cy) * np.cos(angle)
        duct = ((u / length) ** 2 + (v / width) ** 2 <= 1) & ~mask
        echo = echo * (1 - rng.uniform(0.3, 0.7) * ndimage.gaussian_filter(duct.astype(np.float32), 1.0))

    image = echo * (0.35 + 0.65 * _speckle(rng, shape, grain=rng.uniform(0.8, 1.5)))
    image = image / np.percentile(image, 99.5) * rng.uniform(170, 230)
    return np.clip(image, 0, 255).astype(np.float32), mask.astype(np.uint8), ("malignant" if malignant else "benign")


def generate_phantom_dataset(out_dir: str | Path, n_cases: int = 60, size: int = 128, seed: int = 0) -> Dataset:
    """Write a prepared dataset folder of `n_cases` phantoms (images/, masks/, manifest, split)."""
    from aidemed.data.splits import create_split_file

    out_dir = Path(out_dir)
    cases = []
    for i in range(n_cases):
        case_id = f"phantom_{i:04d}"
        image, mask, label = make_phantom(seed * 1_000_003 + i, size=size)
        write_image_png(out_dir / "images" / f"{case_id}.png", image)
        write_mask(out_dir / "masks" / f"{case_id}.png", mask)
        cases.append(Case(id=case_id, images=[f"images/{case_id}.png"], mask=f"masks/{case_id}.png", label=label,
                          site="phantom", spacing=[1.0, 1.0]))
    info = DatasetInfo(name="phantom", labels={"background": 0, "lesion": 1}, classes=["benign", "malignant"], dims=2,
                       source=f"aidemed.data.phantom seed={seed} n={n_cases} size={size}")
    dataset = write_dataset(out_dir, info, cases)
    create_split_file(dataset, seed=seed)
    return dataset
