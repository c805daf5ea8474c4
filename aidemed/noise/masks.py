"""Segmentation-mask noise: seeded corruptions of label maps and mixtures of them.

Every corruption is a pure function

    noisy = fn(mask, rng, **params, info=None)

on a channel-less uint8 label map, 2D (H, W) or 3D (Z, X, Y) in aidemed's axis order (see
`aidemed.data.io`), returning a new label map of the same shape and dtype whose values stay within
the input's labels (the one exception: `spurious_blob` on an empty mask paints label 1). All
randomness comes from `rng` (a `numpy.random.Generator`), so one seed gives one result. When `info`
is a dict, the function fills it with the values it actually drew (e.g. `{"k": 2, "direction":
"erode"}`), which is what the per-case noise records store.

Lengths (k, shift, alpha, sigma, tolerance, radius) are in pixels (voxels), or, with
`relative=True`, fractions of the lesion's equivalent radius r = sqrt(area / (pi * components)) of
the class being corrupted (in 3D: of its largest slice), so that one parameter set means the same
thing for 48 px phantoms and 600 px ultrasound images. A parameter given as a pair (lo, hi) is drawn
uniformly from that range for each call (integers inclusive); a single number is used as is.

Multi-class label maps: the shape corruptions (erode_dilate, elastic_jitter, coarse_outline) work on
each foreground class in turn and paint the results back in increasing label order (a higher label
wins where two noisy classes overlap); affine, missed_lesion and spurious_blob act on the label map
as a whole (one transform, one component, one blob of one present label).

3D volumes are stacks of slices whose thickness often differs from the in-plane spacing, so the
geometry is corrupted in-plane: erode_dilate and coarse_outline work slice by slice, affine rotates,
scales and shifts within the slices, elastic_jitter uses a smooth 3D field with in-plane
displacements only; missed_lesion uses 3D connected components and spurious_blob adds a 3D blob.

`NoiseModel` mixes corruptions with weights; `get_noise_model(name)` gives the named models of
`list_noise_models()` (`mixed` plus one single-kind model per corruption).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from aidemed.metrics.segmentation import bounding_box, overlap_metrics, present_labels

MaskCorruption = Callable[..., np.ndarray]
MASK_CORRUPTIONS: dict[str, MaskCorruption] = {}


def register_corruption(name: str) -> Callable[[MaskCorruption], MaskCorruption]:
    """Register `fn(mask, rng, **params, info=None) -> noisy` under `name` in MASK_CORRUPTIONS."""

    def decorator(fn: MaskCorruption) -> MaskCorruption:
        MASK_CORRUPTIONS[name] = fn
        return fn

    return decorator


# --------------------------------------------------------------------------------------- helpers


def _check_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim not in (2, 3):
        raise ValueError(f"expected a 2D (H, W) or 3D (Z, X, Y) label map, got shape {mask.shape}")
    if mask.dtype == bool:
        return mask.astype(np.uint8)
    if mask.dtype.kind not in "iu" or (mask.size and (mask.min() < 0 or mask.max() > 255)):
        raise ValueError("a mask must be a label map of integers 0..255")
    return mask.astype(np.uint8, copy=False)


def draw(rng: np.random.Generator, value, integer: bool = False):
    """A number as is, or a uniform draw from a (lo, hi) range (integers: both ends included)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"a range is (lo, hi), got {value!r}")
        lo, hi = value
        if hi < lo:
            raise ValueError(f"a range needs lo <= hi, got {value!r}")
        if integer:
            return int(rng.integers(int(lo), int(hi) + 1))
        return float(rng.uniform(lo, hi))
    return int(value) if integer else float(value)


def _components(binary: np.ndarray) -> tuple[np.ndarray, int]:
    structure = ndimage.generate_binary_structure(binary.ndim, binary.ndim)  # 8 / 26-connected
    return ndimage.label(binary, structure=structure)


def lesion_radius(binary: np.ndarray) -> float:
    """Equivalent radius sqrt(area / (pi * components)) of a binary mask in pixels; in 3D that of
    its largest slice; 0 for an empty mask."""
    binary = np.asarray(binary, dtype=bool)
    if binary.ndim == 3:
        return max((lesion_radius(s) for s in binary), default=0.0)
    area = int(np.count_nonzero(binary))
    if area == 0:
        return 0.0
    n = _components(binary)[1]
    return math.sqrt(area / (math.pi * max(n, 1)))


def _length(rng, value, relative: bool, radius: float, integer: bool = False, minimum: float = 0.0):
    """Draw a length; relative lengths are fractions of `radius`."""
    x = draw(rng, value)
    if relative:
        x = x * radius
    x = max(x, minimum) if x >= 0 else min(x, -minimum)
    return int(round(x)) if integer else float(x)


def _per_class(mask: np.ndarray, fn: Callable[[np.ndarray, int], np.ndarray]) -> np.ndarray:
    """Apply `fn(binary, label) -> binary` to each foreground class; paint back in label order."""
    out = np.zeros_like(mask)
    for label in present_labels(mask):
        out[fn(mask == label, label)] = label
    return out


def _slicewise(binary: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    if binary.ndim == 2:
        return fn(binary)
    out = np.zeros_like(binary)
    for z in range(binary.shape[0]):
        if binary[z].any():
            out[z] = fn(binary[z])
    return out


def _crop(binary: np.ndarray, margin: int) -> tuple[slice, ...]:
    box = bounding_box(binary, margin=max(int(margin), 0))
    return box if box is not None else tuple(slice(0, n) for n in binary.shape)


# ----------------------------------------------------------------------------------- corruptions


@register_corruption("erode_dilate")
def erode_dilate(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    k=(1, 3),
    direction: str = "random",
    relative: bool = False,
    info: dict | None = None,
) -> np.ndarray:
    """Erode or dilate each foreground class by k pixels (Euclidean disc, via distance transforms).

    `k`: pixels, a number or an (lo, hi) range drawn once per call (with `relative=True`, fractions
    of the class's lesion radius, rounded, at least 1 px). `direction`: "erode", "dilate" or
    "random" (either, with probability 1/2). Erosion keeps the pixels farther than k from the
    background (outside the image counts as background) and is capped below the object's largest
    inscribed radius, so a class never vanishes entirely; dilation adds the background pixels
    within k of the class. 3D: slice by slice.
    """
    mask = _check_mask(mask)
    if direction == "random":
        direction = "erode" if rng.random() < 0.5 else "dilate"
    if direction not in ("erode", "dilate"):
        raise ValueError(f"direction must be 'erode', 'dilate' or 'random', got {direction!r}")
    k_value = k if not isinstance(k, (list, tuple)) else draw(rng, k, integer=not relative)
    drawn: list[int] = []

    def one(binary: np.ndarray, label: int) -> np.ndarray:
        kk = _length(rng, k_value, relative, lesion_radius(binary), integer=True, minimum=1 if relative else 0)
        if direction == "dilate":
            drawn.append(kk)
            return _slicewise(binary, lambda b: _dilate(b, kk))
        # Cap: erosion by k keeps pixels with distance > k, so k must stay below the largest distance.
        slices = binary if binary.ndim == 3 else [binary]
        depth = max((ndimage.distance_transform_edt(np.pad(b, 1)).max() for b in slices if b.any()), default=0.0)
        kk = int(min(kk, max(math.ceil(depth) - 1, 0)))
        drawn.append(kk)
        return _slicewise(binary, lambda b: _erode(b, kk))

    noisy = _per_class(mask, one)
    if info is not None:
        info.update(direction=direction, k=drawn[0] if len(drawn) == 1 else drawn)
    return noisy


def _erode(binary: np.ndarray, k: int) -> np.ndarray:
    if k <= 0 or not binary.any():
        return binary.copy()
    box = _crop(binary, 1)
    out = np.zeros_like(binary)
    dist = ndimage.distance_transform_edt(np.pad(binary[box], 1))[1:-1, 1:-1]
    out[box] = dist > k
    return out


def _dilate(binary: np.ndarray, k: int) -> np.ndarray:
    if k <= 0 or not binary.any():
        return binary.copy()
    box = _crop(binary, k + 1)
    out = np.zeros_like(binary)
    out[box] = ndimage.distance_transform_edt(~binary[box]) <= k
    return out


@register_corruption("affine")
def affine(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    shift=(-4.0, 4.0),
    rotate=(-10.0, 10.0),
    scale=(0.9, 1.1),
    relative: bool = False,
    info: dict | None = None,
) -> np.ndarray:
    """Shift, rotate and scale the label map about the foreground's centroid (nearest neighbour).

    `shift`: pixels per in-plane axis (each axis drawn separately; `relative=True`: fractions of the
    lesion radius); `rotate`: degrees; `scale`: factor. shift=0, rotate=0, scale=1 is the identity.
    3D: the same in-plane transform for every slice (z untouched).
    """
    mask = _check_mask(mask)
    fg = mask > 0
    radius = lesion_radius(fg)
    shifts = [_length(rng, shift, relative, radius) for _ in range(2)]
    angle = draw(rng, rotate)
    factor = draw(rng, scale)
    if info is not None:
        info.update(shift=[round(s, 3) for s in shifts], rotate=round(angle, 3), scale=round(factor, 4))
    if not fg.any() or (shifts == [0.0, 0.0] and angle == 0.0 and factor == 1.0):
        return mask.copy()
    if factor <= 0:
        raise ValueError(f"scale must be positive, got {factor}")
    plane = fg.any(axis=0) if mask.ndim == 3 else fg
    centre = np.array(ndimage.center_of_mass(plane))
    theta = math.radians(angle)
    # output -> input mapping: x_in = A^-1 (x_out - c - t) + c
    forward = factor * np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    inverse = np.linalg.inv(forward)
    offset = centre - inverse @ (centre + np.array(shifts))
    if mask.ndim == 2:
        return ndimage.affine_transform(mask, inverse, offset=offset, order=0, mode="constant", cval=0)
    matrix3 = np.eye(3)
    matrix3[1:, 1:] = inverse
    return ndimage.affine_transform(mask, matrix3, offset=np.r_[0.0, offset], order=0, mode="constant", cval=0)


@register_corruption("elastic_jitter")
def elastic_jitter(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    alpha=(2.0, 4.0),
    sigma=(4.0, 8.0),
    relative: bool = False,
    info: dict | None = None,
) -> np.ndarray:
    """Warp each class's boundary with a smooth random displacement field.

    The field is Gaussian-smoothed white noise (`sigma`: smoothness, pixels) scaled so that its
    largest displacement is `alpha` pixels (`relative=True`: both are fractions of the lesion
    radius); the class is resampled linearly and thresholded at 0.5, so its boundary wobbles by up
    to alpha while the interior stays. 3D: a smooth 3D field with in-plane displacements.
    """
    mask = _check_mask(mask)
    drawn = []

    def one(binary: np.ndarray, label: int) -> np.ndarray:
        radius = lesion_radius(binary)
        a = abs(_length(rng, alpha, relative, radius))
        s = max(_length(rng, sigma, relative, radius), 0.5)
        drawn.append({"alpha": round(a, 3), "sigma": round(s, 3)})
        return warp_binary(binary, rng, a, s)

    noisy = _per_class(mask, one)
    if info is not None:
        info.update(drawn[0] if len(drawn) == 1 else {"per_class": drawn})
    return noisy


def warp_binary(binary: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float) -> np.ndarray:
    """A binary mask warped by a smooth random in-plane displacement field of max magnitude alpha."""
    if alpha <= 0 or not binary.any():
        return binary.copy()
    box = _crop(binary, math.ceil(alpha) + 2)
    crop = binary[box].astype(np.float32)
    grid = list(np.meshgrid(*[np.arange(n, dtype=np.float32) for n in crop.shape], indexing="ij"))
    moving_axes = (0, 1) if crop.ndim == 2 else (1, 2)
    for axis in moving_axes:
        field_ = ndimage.gaussian_filter(rng.standard_normal(crop.shape).astype(np.float32), sigma, mode="reflect")
        peak = float(np.abs(field_).max())
        if peak > 0:
            grid[axis] = grid[axis] + field_ * (alpha / peak)
    warped = ndimage.map_coordinates(crop, grid, order=1, mode="constant", cval=0.0) > 0.5
    out = np.zeros_like(binary)
    out[box] = warped
    return out


COARSE_MODES = ("convex_hull", "polygon", "ellipse")


@register_corruption("coarse_outline")
def coarse_outline(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    mode: str = "random",
    tolerance=(1.5, 4.0),
    relative: bool = False,
    info: dict | None = None,
) -> np.ndarray:
    """Replace each object's outline by a coarse one, as a hurried annotator would draw it.

    `mode`: "convex_hull" (skimage.morphology.convex_hull_image), "polygon" (the outer contour
    simplified with skimage.measure.approximate_polygon at `tolerance` pixels, or fractions of the
    lesion radius with `relative=True`), "ellipse" (the ellipse with the object's second moments,
    from skimage.measure.regionprops), or "random" (one of the three per call). Holes are filled.
    Works per class and per connected component; 3D: slice by slice.
    """
    mask = _check_mask(mask)
    if mode == "random":
        mode = COARSE_MODES[int(rng.integers(len(COARSE_MODES)))]
    if mode not in COARSE_MODES:
        raise ValueError(f"mode must be one of {COARSE_MODES} or 'random', got {mode!r}")
    tolerances = []

    def one(binary: np.ndarray, label: int) -> np.ndarray:
        tol = abs(_length(rng, tolerance, relative, lesion_radius(binary))) if mode == "polygon" else 0.0
        tolerances.append(round(tol, 3))
        return _slicewise(binary, lambda b: _coarse_2d(b, mode, tol))

    noisy = _per_class(mask, one)
    if info is not None:
        info["mode"] = mode
        if mode == "polygon":
            info["tolerance"] = tolerances[0] if len(tolerances) == 1 else tolerances
    return noisy


def _coarse_2d(binary: np.ndarray, mode: str, tolerance: float) -> np.ndarray:
    from skimage import draw as skdraw
    from skimage import measure
    from skimage.morphology import convex_hull_image

    out = np.zeros_like(binary)
    labels, n = _components(binary)
    for index, region in enumerate(ndimage.find_objects(labels), start=1):
        if region is None:
            continue
        component = labels == index
        if mode == "convex_hull":
            box = _crop(component, 1)
            out[box] |= convex_hull_image(component[box])
        elif mode == "polygon":
            box = _crop(component, 1)
            padded = np.pad(component[box], 1).astype(np.float32)
            contours = measure.find_contours(padded, 0.5)
            contour = max(contours, key=len)
            poly = measure.approximate_polygon(contour, tolerance=tolerance) if tolerance > 0 else contour
            rr, cc = skdraw.polygon(poly[:, 0] - 1, poly[:, 1] - 1, shape=component[box].shape)
            filled = np.zeros(component[box].shape, dtype=bool)
            filled[rr, cc] = True
            if not filled.any():  # a polygon thinner than a pixel row: keep the object
                filled = component[box]
            out[box] |= filled
        else:  # ellipse
            props = measure.regionprops(component.astype(np.uint8))[0]
            cy, cx = props.centroid
            # regionprops' axis lengths are 4 * sqrt(eigenvalue); the +0.5 keeps thin objects.
            r_major = max(props.axis_major_length / 2, 0.5)
            r_minor = max(props.axis_minor_length / 2, 0.5)
            rr, cc = skdraw.ellipse(cy, cx, r_major, r_minor, shape=binary.shape, rotation=props.orientation)
            if rr.size == 0:
                out |= component
            out[rr, cc] = True
    return out


@register_corruption("missed_lesion")
def missed_lesion(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    drop: str = "all",
    info: dict | None = None,
) -> np.ndarray:
    """A lesion the annotator missed. `drop="all"`: the mask becomes empty; `drop="one"`: when the
    foreground has several connected components (8-/26-connected, 3D in 3D), one of them chosen at
    random is removed, otherwise the mask becomes empty."""
    mask = _check_mask(mask)
    if drop not in ("all", "one"):
        raise ValueError(f"drop must be 'all' or 'one', got {drop!r}")
    labels, n = _components(mask > 0)
    if drop == "one" and n > 1:
        index = int(rng.integers(1, n + 1))
        noisy = mask.copy()
        noisy[labels == index] = 0
        if info is not None:
            info.update(drop="one", n_components=int(n), dropped_voxels=int(np.count_nonzero(labels == index)))
        return noisy
    if info is not None:
        info.update(drop="all", n_components=int(n))
    return np.zeros_like(mask)


@register_corruption("spurious_blob")
def spurious_blob(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    radius=(3.0, 8.0),
    relative: bool = False,
    label: int | None = None,
    info: dict | None = None,
) -> np.ndarray:
    """Add a false-positive blob away from the foreground.

    The blob is an ellipse (3D: ellipsoid, its z radius capped at a quarter of the slices) of mean
    radius `radius` pixels (`relative=True`: fractions of the lesion radius; for an empty mask of
    the image's smaller in-plane side divided by 10), aspect 0.6..1 and random orientation, with a
    slightly jittered outline. Its centre is drawn uniformly among the pixels at least 1.5 radii +
    2 px from the foreground and one radius from the image border, so it forms a separate component;
    where there is no room the radius is halved (down to 1 px) and, failing that, nothing is added
    (info["placed"] = False). `label`: the blob's label (default: one of the present labels at random,
    1 for an empty mask).
    """
    mask = _check_mask(mask)
    fg = mask > 0
    labels_present = present_labels(mask)
    if label is None:
        label = int(labels_present[int(rng.integers(len(labels_present)))]) if labels_present else 1
    reference = lesion_radius(fg) if fg.any() else min(mask.shape[-2:]) / 10
    r = max(_length(rng, radius, relative, reference), 1.0)
    aspect = float(rng.uniform(0.6, 1.0))
    angle = float(rng.uniform(0, math.pi))
    dist_fg = ndimage.distance_transform_edt(~fg) if fg.any() else np.full(mask.shape, np.inf)
    coords = np.indices(mask.shape)
    while True:
        r_z = max(1.0, min(r, mask.shape[0] / 4)) if mask.ndim == 3 else 0.0
        room = dist_fg >= 1.5 * r + 2
        for axis in (-2, -1):  # the blob stays inside the image
            room &= (coords[axis] >= r) & (coords[axis] <= mask.shape[axis] - 1 - r)
        if mask.ndim == 3:
            room &= (coords[0] >= r_z - 1) & (coords[0] <= mask.shape[0] - r_z)
        candidates = np.flatnonzero(room)
        if candidates.size or r <= 1.0:
            break
        r = max(r / 2, 1.0)
    if candidates.size == 0:
        if info is not None:
            info.update(placed=False)
        return mask.copy()
    centre = np.unravel_index(int(candidates[int(rng.integers(candidates.size))]), mask.shape)
    # The ellipse in-plane (last two axes), rotated by `angle`.
    ry, rx = r / math.sqrt(aspect), r * math.sqrt(aspect)
    dy = coords[-2] - centre[-2]
    dx = coords[-1] - centre[-1]
    u = dy * math.cos(angle) + dx * math.sin(angle)
    v = -dy * math.sin(angle) + dx * math.cos(angle)
    inside = (u / ry) ** 2 + (v / rx) ** 2
    if mask.ndim == 3:
        inside = inside + ((coords[0] - centre[0]) / r_z) ** 2
    blob = inside <= 1.0
    # A gently irregular outline; the placement margin (1.5 r + 2) leaves room for it.
    blob = warp_binary(blob, rng, alpha=min(0.25 * r, 3.0), sigma=max(0.5 * r, 1.0)) if r >= 3 else blob
    blob &= dist_fg >= 2
    noisy = mask.copy()
    noisy[blob & ~fg] = label
    if info is not None:
        info.update(placed=True, label=int(label), radius=round(r, 3), centre=[int(c) for c in centre],
                    voxels=int(np.count_nonzero(blob & ~fg)))
    return noisy


# ------------------------------------------------------------------------------------ noise models


def mask_dice(noisy: np.ndarray, clean: np.ndarray) -> float:
    """Dice of a noisy label map against the clean one: the mean over the foreground labels present
    in either (aidemed.metrics.segmentation.overlap_metrics; both empty = 1)."""
    labels = present_labels(noisy, clean)
    if not labels:
        return 1.0
    return float(np.mean([overlap_metrics(noisy == c, clean == c)["dice"] for c in labels]))


@dataclass
class NoiseModel:
    """A mixture of mask corruptions: plain data, so it can be saved with the noisy dataset.

    `weights`: corruption name -> relative weight (normalised when drawing); `params`: corruption
    name -> keyword arguments of that corruption. `corrupt` draws one corruption per call.
    """

    name: str
    weights: dict[str, float]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self):
        unknown = sorted(set(self.weights) - set(MASK_CORRUPTIONS))
        if unknown:
            raise ValueError(f"unknown corruption(s) {unknown} (known: {', '.join(sorted(MASK_CORRUPTIONS))})")
        bad = sorted(set(self.params) - set(self.weights))
        if bad:
            raise ValueError(f"parameters given for corruption(s) {bad} that have no weight in the model")
        if not self.weights or any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError(f"noise model {self.name!r}: weights must be non-negative with a positive sum")

    def choose(self, rng: np.random.Generator) -> str:
        names = list(self.weights)
        p = np.array([self.weights[n] for n in names], dtype=float)
        return names[int(rng.choice(len(names), p=p / p.sum()))]

    def corrupt(self, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """(noisy label map, record) with record = {"corruption", "params", "dice_noisy_vs_clean"};
        "params" holds the values actually drawn."""
        mask = _check_mask(mask)
        name = self.choose(rng)
        drawn: dict[str, Any] = {}
        noisy = MASK_CORRUPTIONS[name](mask, rng, **self.params.get(name, {}), info=drawn)
        record = {"corruption": name, "params": drawn, "dice_noisy_vs_clean": mask_dice(noisy, mask)}
        return noisy, record

    def to_dict(self) -> dict:
        return {"name": self.name, "weights": dict(self.weights), "params": copy.deepcopy(self.params)}

    @classmethod
    def from_dict(cls, data: Mapping) -> "NoiseModel":
        params = {k: {p: (tuple(v) if isinstance(v, list) else v) for p, v in kw.items()}
                  for k, kw in (data.get("params") or {}).items()}
        return cls(name=str(data.get("name", "custom")), weights=dict(data["weights"]), params=params)


# Default parameters of the named models: relative lengths (fractions of the lesion radius), so the
# noise means the same on small phantoms and on full-size images.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "erode_dilate": {"k": (0.1, 0.3), "direction": "random", "relative": True},
    "affine": {"shift": (-0.25, 0.25), "rotate": (-15.0, 15.0), "scale": (0.85, 1.15), "relative": True},
    "elastic_jitter": {"alpha": (0.1, 0.25), "sigma": (0.3, 0.6), "relative": True},
    "coarse_outline": {"mode": "random", "tolerance": (0.1, 0.3), "relative": True},
    "missed_lesion": {"drop": "one"},
    "spurious_blob": {"radius": (0.3, 0.7), "relative": True},
}

MIXED_WEIGHTS: dict[str, float] = {
    "erode_dilate": 0.3,
    "affine": 0.15,
    "elastic_jitter": 0.2,
    "coarse_outline": 0.2,
    "missed_lesion": 0.05,
    "spurious_blob": 0.1,
}

# The same mixture with every magnitude roughly doubled: the corruptions of an annotator drawing loosely
# or in a hurry. Under `mixed` about half of BUSI's corrupted masks keep Dice > 0.9 to the clean mask, too
# little noise to hurt a supervised model (docs/robustness.md); `mixed_strong` moves most below 0.8.
STRONG_PARAMS: dict[str, dict[str, Any]] = {
    "erode_dilate": {"k": (0.3, 0.6), "direction": "random", "relative": True},
    "affine": {"shift": (-0.5, 0.5), "rotate": (-30.0, 30.0), "scale": (0.7, 1.3), "relative": True},
    "elastic_jitter": {"alpha": (0.25, 0.5), "sigma": (0.3, 0.6), "relative": True},
    "coarse_outline": {"mode": "random", "tolerance": (0.3, 0.6), "relative": True},
    "missed_lesion": {"drop": "one"},
    "spurious_blob": {"radius": (0.5, 1.0), "relative": True},
}

NOISE_MODELS: dict[str, Callable[[], NoiseModel]] = {}


def register_noise_model(name: str, factory: Callable[[], NoiseModel]) -> None:
    NOISE_MODELS[name] = factory


def _single(name: str, model_name: str | None = None, **overrides) -> Callable[[], NoiseModel]:
    """A factory of the model that applies only `name`, with the default parameters (+ overrides)."""

    def factory() -> NoiseModel:
        return NoiseModel(model_name or name, {name: 1.0}, {name: {**DEFAULT_PARAMS[name], **overrides}})

    return factory


def _mixture(name: str, params: dict[str, dict[str, Any]]) -> Callable[[], NoiseModel]:
    """A factory of the `mixed` mixture with the given parameter table (fresh copies on every call)."""
    return lambda: NoiseModel(name, dict(MIXED_WEIGHTS), {k: dict(params[k]) for k in MIXED_WEIGHTS})


register_noise_model("mixed", _mixture("mixed", DEFAULT_PARAMS))
register_noise_model("mixed_strong", _mixture("mixed_strong", STRONG_PARAMS))
for _name in MASK_CORRUPTIONS:
    register_noise_model(_name, _single(_name))
register_noise_model("erode", _single("erode_dilate", "erode", direction="erode"))
register_noise_model("dilate", _single("erode_dilate", "dilate", direction="dilate"))


def list_noise_models() -> list[str]:
    return sorted(NOISE_MODELS)


def get_noise_model(model: str | Path | Mapping | NoiseModel) -> NoiseModel:
    """A NoiseModel from a registered name, a JSON file ({"weights": ..., "params": ...}), a dict of
    that form, or a NoiseModel (returned as is)."""
    if isinstance(model, NoiseModel):
        return model
    if isinstance(model, Mapping):
        return NoiseModel.from_dict(model)
    name = str(model)
    if name in NOISE_MODELS:
        return NOISE_MODELS[name]()
    if name.endswith(".json") and Path(name).is_file():
        data = json.loads(Path(name).read_text())
        data.setdefault("name", Path(name).stem)
        return NoiseModel.from_dict(data)
    raise ValueError(f"unknown noise model {name!r} (known: {', '.join(list_noise_models())}; or a .json file)")
