"""Mask corruptions of aidemed.noise.masks: expected geometry, valid labels, records, determinism."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import ndimage

from aidemed.metrics.segmentation import segmentation_metrics
from aidemed.noise.masks import (
    COARSE_MODES,
    DEFAULT_PARAMS,
    MASK_CORRUPTIONS,
    NoiseModel,
    affine,
    coarse_outline,
    elastic_jitter,
    erode_dilate,
    get_noise_model,
    lesion_radius,
    list_noise_models,
    mask_dice,
    missed_lesion,
    spurious_blob,
)

R = 15


def disc(size: int = 64, radius: float = R, centre=(32, 32)) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) <= radius**2).astype(np.uint8)


def star(size: int = 64, spikes: int = 6) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - size / 2
    theta = np.arctan2(yy, xx)
    return (np.hypot(yy, xx) <= 18 * (0.55 + 0.45 * np.cos(spikes * theta))).astype(np.uint8)


def two_class() -> np.ndarray:
    mask = disc()
    mask[disc(radius=7) > 0] = 2
    return mask


def two_blobs() -> np.ndarray:
    return np.maximum(disc(radius=8, centre=(16, 16)), disc(radius=6, centre=(46, 46)))


def volume() -> np.ndarray:
    return np.stack([np.zeros((64, 64), np.uint8), disc(radius=10), two_class(), disc(radius=10), np.zeros((64, 64), np.uint8)])


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def n_components(mask: np.ndarray) -> int:
    return ndimage.label(mask > 0, structure=np.ones((3,) * mask.ndim))[1]


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_erosion_shrinks_a_disc_by_k(k):
    mask = disc()
    noisy = erode_dilate(mask, rng(), k=k, direction="erode")
    assert noisy.sum() == pytest.approx(math.pi * (R - k) ** 2, rel=0.05)
    assert not (noisy & ~mask.astype(bool)).any()  # inside the original


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_dilation_grows_a_disc_by_k(k):
    mask = disc()
    noisy = erode_dilate(mask, rng(), k=k, direction="dilate")
    assert noisy.sum() == pytest.approx(math.pi * (R + k) ** 2, rel=0.05)
    assert (noisy[mask > 0] == 1).all()  # contains the original


def test_erosion_never_removes_the_whole_lesion_and_records_k():
    info = {}
    noisy = erode_dilate(disc(radius=4), rng(), k=50, direction="erode", info=info)
    assert noisy.any() and info["direction"] == "erode" and info["k"] < 5


def test_relative_k_scales_with_the_lesion():
    small, large = {}, {}
    erode_dilate(disc(radius=5), rng(), k=0.4, relative=True, direction="dilate", info=small)
    erode_dilate(disc(size=128, radius=20, centre=(64, 64)), rng(), k=0.4, relative=True, direction="dilate", info=large)
    assert small["k"] == 2 and large["k"] == 8


@pytest.mark.parametrize("mask", [disc(), two_class(), volume()], ids=["disc", "two_class", "3d"])
def test_affine_with_zero_parameters_is_the_identity(mask):
    np.testing.assert_array_equal(affine(mask, rng(), shift=0, rotate=0, scale=1), mask)


def test_affine_shift_moves_the_centroid():
    mask = disc()
    noisy = affine(mask, rng(), shift=3, rotate=0, scale=1)
    moved = np.array(ndimage.center_of_mass(noisy)) - np.array(ndimage.center_of_mass(mask))
    np.testing.assert_allclose(moved, [3, 3], atol=0.01)
    assert noisy.sum() == mask.sum()


def test_affine_scale_changes_the_area():
    mask = disc()
    assert affine(mask, rng(), shift=0, rotate=0, scale=1.2).sum() == pytest.approx(mask.sum() * 1.44, rel=0.05)


def test_elastic_jitter_moves_the_boundary_only():
    mask = disc()
    noisy = elastic_jitter(mask, rng(), alpha=3, sigma=4)
    assert 0.8 < mask_dice(noisy, mask) < 1.0
    assert noisy[disc(radius=R - 4) > 0].all()  # the interior stays
    assert not noisy[disc(radius=R + 4) == 0].any()  # nothing far outside


@pytest.mark.parametrize("mode", COARSE_MODES)
def test_coarse_outline_of_a_convex_shape_changes_little(mode):
    mask = disc()
    info = {}
    noisy = coarse_outline(mask, rng(), mode=mode, tolerance=2, info=info)
    assert info["mode"] == mode
    assert mask_dice(noisy, mask) > 0.93


def test_coarse_outline_of_a_star_grows_it():
    mask = star()
    hull = coarse_outline(mask, rng(), mode="convex_hull")
    assert hull.sum() > 1.3 * mask.sum() and (hull[mask > 0] == 1).all()
    assert mask_dice(coarse_outline(mask, rng(), mode="ellipse"), mask) < 0.9
    assert mask_dice(coarse_outline(mask, rng(), mode="polygon", tolerance=4), mask) < 0.97


def test_coarse_outline_random_mode_is_recorded():
    modes = set()
    for seed in range(12):
        info = {}
        coarse_outline(disc(), rng(seed), info=info)
        modes.add(info["mode"])
    assert modes == set(COARSE_MODES)


def test_missed_lesion_empties_the_mask():
    assert not missed_lesion(two_class(), rng()).any()


def test_missed_lesion_can_drop_one_of_several_components():
    mask = two_blobs()
    info = {}
    noisy = missed_lesion(mask, rng(), drop="one", info=info)
    assert n_components(noisy) == 1 and info["n_components"] == 2
    assert (noisy[noisy > 0] == mask[noisy > 0]).all()
    assert not missed_lesion(disc(), rng(), drop="one").any()  # a single lesion: empty


@pytest.mark.parametrize("mask", [disc(), two_class(), volume()], ids=["disc", "two_class", "3d"])
def test_spurious_blob_adds_a_separate_component(mask):
    info = {}
    noisy = spurious_blob(mask, rng(), info=info)
    assert info["placed"] and n_components(noisy) == n_components(mask) + 1
    assert (noisy[mask > 0] == mask[mask > 0]).all()
    assert info["label"] in np.unique(mask)


def test_spurious_blob_on_an_empty_mask_paints_label_one():
    noisy = spurious_blob(np.zeros((48, 48), np.uint8), rng())
    assert set(np.unique(noisy)) == {0, 1}


CASES = {"disc": disc(), "star": star(), "two_class": two_class(), "two_blobs": two_blobs(), "3d": volume()}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", sorted(MASK_CORRUPTIONS))
@pytest.mark.parametrize("relative", [False, True], ids=["pixels", "defaults"])
def test_every_corruption_keeps_shape_dtype_and_labels(name, case, relative):
    mask = CASES[case]
    params = DEFAULT_PARAMS[name] if relative else {}
    a = MASK_CORRUPTIONS[name](mask, rng(3), **params)
    b = MASK_CORRUPTIONS[name](mask, rng(3), **params)
    assert a.shape == mask.shape and a.dtype == np.uint8
    assert set(np.unique(a)) <= set(np.unique(mask))
    np.testing.assert_array_equal(a, b)  # determinism by seed
    assert mask.sum() == CASES[case].sum()  # the input is not modified


@pytest.mark.parametrize("name", sorted(set(MASK_CORRUPTIONS) - {"spurious_blob"}))
def test_an_empty_mask_stays_empty(name):
    empty = np.zeros((32, 32), np.uint8)
    assert not MASK_CORRUPTIONS[name](empty, rng(), **DEFAULT_PARAMS[name]).any()


def test_lesion_radius():
    assert lesion_radius(disc()) == pytest.approx(R, rel=0.02)
    assert lesion_radius(np.zeros((8, 8), bool)) == 0.0
    assert lesion_radius(volume()) == pytest.approx(R, rel=0.02)


def test_named_models_are_registered():
    names = list_noise_models()
    assert "mixed" in names and set(MASK_CORRUPTIONS) <= set(names)
    assert set(get_noise_model("mixed").weights) == set(MASK_CORRUPTIONS)
    assert get_noise_model("erode").params["erode_dilate"]["direction"] == "erode"
    with pytest.raises(ValueError, match="unknown noise model"):
        get_noise_model("nope")
    with pytest.raises(ValueError, match="unknown corruption"):
        NoiseModel("bad", {"blur": 1.0})


@pytest.mark.parametrize("name", ["mixed", "mixed_strong", *sorted(MASK_CORRUPTIONS)])
def test_records_dice_equals_a_recomputation(name):
    model = get_noise_model(name)
    for seed, mask in enumerate([disc(), star(), two_blobs()]):
        noisy, record = model.corrupt(mask, rng(seed))
        assert record["corruption"] in model.weights
        expected = segmentation_metrics(noisy, mask, label=1)["dice"]
        assert record["dice_noisy_vs_clean"] == pytest.approx(expected)
        json.dumps(record)  # plain data


def test_mask_dice_rules():
    empty = np.zeros((8, 8), np.uint8)
    assert mask_dice(empty, empty) == 1.0
    assert mask_dice(disc(), np.zeros_like(disc())) == 0.0
    assert mask_dice(two_class(), two_class()) == 1.0


def test_model_round_trips_through_a_dict_and_a_json_file(tmp_path):
    model = get_noise_model("mixed")
    path = tmp_path / "my_noise.json"
    path.write_text(json.dumps(model.to_dict()))
    again = get_noise_model(str(path))
    assert again.weights == model.weights and again.params == model.params
    a, ra = model.corrupt(star(), rng(5))
    b, rb = again.corrupt(star(), rng(5))
    np.testing.assert_array_equal(a, b)
    assert ra == rb


def test_mixed_strong_is_the_mixed_mixture_with_larger_magnitudes():
    mixed, strong = get_noise_model("mixed"), get_noise_model("mixed_strong")
    assert strong.weights == mixed.weights

    def mean_dice(model, kind):
        records = [model.corrupt(star(), rng(seed))[1] for seed in range(300)]
        return np.mean([r["dice_noisy_vs_clean"] for r in records if r["corruption"] == kind])

    for kind in ("erode_dilate", "affine", "elastic_jitter", "coarse_outline"):  # the boundary corruptions
        assert mean_dice(strong, kind) < mean_dice(mixed, kind) - 0.05, kind


def test_mixed_model_draws_every_corruption():
    model = get_noise_model("mixed")
    seen = {model.corrupt(disc(), rng(seed))[1]["corruption"] for seed in range(60)}
    assert seen == set(MASK_CORRUPTIONS)
