"""Class-label noise of aidemed.noise.labels: realised rates, destinations, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from aidemed.noise.labels import asymmetric, instance_dependent, scale_to_mean, symmetric, systematic_sample

N = 3000


def labels(n_classes: int = 4, n: int = N, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_classes, size=n)


def rng(seed: int = 1) -> np.random.Generator:
    return np.random.default_rng(seed)


def check_flipped(clean, noisy, flipped):
    np.testing.assert_array_equal(flipped, np.asarray(noisy) != np.asarray(clean))


@pytest.mark.parametrize("n_classes", [2, 3, 10])
@pytest.mark.parametrize("rate", [0.0, 0.05, 0.2, 0.45, 1.0])
def test_symmetric_realised_rate_and_uniform_destinations(rate, n_classes):
    y = labels(n_classes)
    noisy, flipped = symmetric(y, n_classes, rate, rng())
    check_flipped(y, noisy, flipped)
    assert abs(flipped.mean() - rate) <= 1 / N
    assert noisy.min() >= 0 and noisy.max() < n_classes
    if rate >= 0.2 and n_classes > 2:
        # destination offsets (noisy - clean mod C) are uniform over 1..C-1
        offsets = np.bincount((noisy[flipped] - y[flipped]) % n_classes, minlength=n_classes)[1:]
        expected = flipped.sum() / (n_classes - 1)
        assert np.all(np.abs(offsets - expected) < 5 * np.sqrt(expected))


def test_symmetric_is_deterministic_by_seed():
    y = labels()
    a, fa = symmetric(y, 4, 0.3, rng(7))
    b, fb = symmetric(y, 4, 0.3, rng(7))
    c, _ = symmetric(y, 4, 0.3, rng(8))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fa, fb)
    assert (a != c).any()


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_asymmetric_pairs_flip_only_the_source_class(rate):
    y = labels(3)
    noisy, flipped = asymmetric(y, {0: 1, 2: 0}, rate, rng())
    check_flipped(y, noisy, flipped)
    assert not flipped[y == 1].any()
    for src, dst in ((0, 1), (2, 0)):
        members = y == src
        assert abs(flipped[members].mean() - rate) <= 1 / members.sum()
        assert (noisy[flipped & members] == dst).all()


def test_asymmetric_next_and_list_of_pairs():
    y = labels(3)
    noisy, flipped = asymmetric(y, "next", 0.2, rng(), n_classes=3)
    assert (noisy[flipped] == (y[flipped] + 1) % 3).all()
    for c in range(3):
        assert abs(flipped[y == c].mean() - 0.2) <= 1 / (y == c).sum()
    noisy, flipped = asymmetric(y, [(0, 1), (0, 2)], 0.4, rng())
    assert set(np.unique(noisy[flipped])) == {1, 2}


def test_asymmetric_transition_matrix():
    y = labels(3)
    matrix = np.array([[0.7, 0.3, 0.0], [0.0, 1.0, 0.0], [0.05, 0.15, 0.8]])
    noisy, flipped = asymmetric(y, matrix, None, rng())
    check_flipped(y, noisy, flipped)
    assert abs(flipped[y == 0].mean() - 0.3) <= 1 / (y == 0).sum()
    assert not flipped[y == 1].any()
    assert abs(flipped[y == 2].mean() - 0.2) <= 1 / (y == 2).sum()
    assert (noisy[flipped & (y == 0)] == 1).all()
    to = noisy[flipped & (y == 2)]
    assert 0.15 < np.mean(to == 0) < 0.35  # 0.05 / (0.05 + 0.15) = 0.25
    _, flipped = asymmetric(y, matrix, 0.1, rng())  # a rate overrides the diagonal
    assert abs(flipped[y == 2].mean() - 0.1) <= 1 / (y == 2).sum()


def test_asymmetric_accepts_class_names():
    y = np.array(["benign"] * 60 + ["malignant"] * 40)
    noisy, flipped = asymmetric(y, {"benign": "malignant"}, 0.25, rng())
    assert flipped.sum() == 15 and (noisy[flipped] == "malignant").all() and not flipped[60:].any()


def test_instance_dependent_with_difficulty_scores():
    y = labels(3)
    difficulty = np.random.default_rng(5).random(N) ** 2
    noisy, flipped = instance_dependent(y, difficulty, 0.2, rng(), n_classes=3)
    check_flipped(y, noisy, flipped)
    assert abs(flipped.mean() - 0.2) <= 1 / N
    assert difficulty[flipped].mean() > 2 * difficulty[~flipped].mean()
    assert not flipped[difficulty == 0].any()


def test_instance_dependent_with_class_probabilities_follows_the_confusions():
    y = labels(3)
    probs = np.full((N, 3), 0.05)
    probs[np.arange(N), y] = 0.9 - 0.5 * (np.arange(N) % 2)  # odd samples are harder
    probs[np.arange(N), (y + 1) % 3] += 1 - probs.sum(axis=1)  # the confusable class takes the rest
    noisy, flipped = instance_dependent(y, probs, 0.3, rng())
    assert abs(flipped.mean() - 0.3) <= 1 / N
    assert flipped[1::2].mean() > 2 * flipped[::2].mean()
    assert np.mean(noisy[flipped] == (y[flipped] + 1) % 3) > 0.8
    logits_noisy, logits_flipped = instance_dependent(y, np.log(probs), 0.3, rng())  # logits work too
    np.testing.assert_array_equal(logits_flipped, flipped)


def test_scale_to_mean_caps_at_one_and_keeps_the_mean():
    d = np.r_[np.full(10, 100.0), np.linspace(0.01, 1, 90)]
    p = scale_to_mean(d, 0.3)
    assert p.max() == pytest.approx(1.0) and p.mean() == pytest.approx(0.3, abs=1e-6)
    np.testing.assert_allclose(scale_to_mean(np.zeros(5), 0.2), 0.2)


def test_systematic_sample_has_the_requested_inclusion_probabilities():
    p = np.linspace(0.0, 1.0, 11)
    generator = rng(0)
    hits = np.zeros_like(p)
    reps = 4000
    for _ in range(reps):
        selected = systematic_sample(p, generator)
        assert selected.sum() in (int(np.floor(p.sum())), int(np.ceil(p.sum())))
        hits += selected
    np.testing.assert_allclose(hits / reps, p, atol=0.03)


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_invalid_rates_are_refused(rate):
    with pytest.raises(ValueError, match="rate"):
        symmetric(labels(), 4, rate, rng())
