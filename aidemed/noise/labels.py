"""Class-label noise: symmetric, asymmetric (class-pair flips) and instance-dependent, seeded.

Every function takes the clean labels (integers 0..C-1; `asymmetric` with explicit pairs also takes
strings such as "benign") and a `numpy.random.Generator`, and returns `(noisy, flipped)`: the noisy
labels (a new array) and a boolean array marking the samples whose label changed. A flipped label
always changes to a *different* class, so `rate` is the fraction of labels that are wrong (some
papers count flips to the same class; their "symmetric 0.4" is a wrong-label rate of 0.4 (C-1)/C).

How samples are picked: each sample i has an inclusion probability p_i (the target rate, or the
instance-dependent probability below), and the flipped set is drawn by systematic sampling over a
random order of the samples: every sample is flipped with probability exactly p_i, and the number of
flips is floor(sum p) or ceil(sum p), so the realised rate equals the target to within one sample
(plain per-sample coin flips would miss it by about sqrt(rate (1 - rate) / n)).

Models:
  symmetric           every sample with probability `rate`, to a uniformly chosen other class.
  asymmetric          class-pair flips: samples of a source class with probability `rate`, to its
                      paired class (pairs {src: dst}, a list of (src, dst), "next" = i -> i+1 mod C),
                      or a C x C transition matrix T: destination j != i drawn in proportion to
                      T[i, j]; flip probability `rate`, or 1 - T[i, i] when rate is None.
  instance_dependent  hard samples are flipped more often. With per-sample difficulty scores d_i >= 0
                      (1D), p_i = min(1, c d_i) with c chosen so that mean(p) = rate, destination
                      uniform among the other classes. With an (n, C) matrix of class probabilities
                      (or logits, softmaxed) from some model, d_i = 1 - P[i, y_i] and the destination
                      is drawn in proportion to P[i, j], j != y_i: the confusions a model would make.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def _check_rate(rate: float) -> float:
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be within [0, 1], got {rate}")
    return rate


def _int_labels(labels, n_classes: int | None) -> tuple[np.ndarray, int]:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1D array, got shape {labels.shape}")
    if labels.size and labels.dtype.kind not in "iu":
        raise ValueError("labels must be integers 0..C-1 (map class names to indices first)")
    if n_classes is None:
        n_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    return labels, int(n_classes)


def systematic_sample(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A boolean selection with P(select i) = p[i] exactly and |selection| in {floor, ceil}(sum p).

    Systematic sampling over a random permutation: the samples' probabilities are laid end to end
    on a line in random order and one point every 1.0, starting at U(0, 1), picks the sample it
    falls on (p_i <= 1, so a sample is picked at most once).
    """
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    selected = np.zeros(p.shape, dtype=bool)
    if p.size == 0:
        return selected
    order = rng.permutation(p.size)
    ends = np.cumsum(p[order])
    starts = ends - p[order]
    u = rng.random()
    # number of points u + k (k = 0, 1, ...) in [start, end)
    hits = np.floor(ends - u + 1e-12) - np.floor(starts - u + 1e-12)
    selected[order[hits > 0]] = True
    return selected


def _other_class(y: np.ndarray, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly drawn class different from each y."""
    if n_classes < 2:
        raise ValueError("label noise needs at least 2 classes")
    shift = rng.integers(1, n_classes, size=y.shape)
    return (y + shift) % n_classes


def symmetric(labels, n_classes: int, rate: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Flip a fraction `rate` of the labels, each to a uniformly chosen other class."""
    rate = _check_rate(rate)
    labels, n_classes = _int_labels(labels, n_classes)
    flipped = systematic_sample(np.full(labels.shape, rate), rng)
    noisy = labels.copy()
    noisy[flipped] = _other_class(labels[flipped], n_classes, rng)
    return noisy, flipped


def _pair_map(pairs, n_classes: int | None) -> dict:
    if isinstance(pairs, str):
        if pairs != "next":
            raise ValueError(f"pairs must be a mapping, a list of (src, dst), a C x C matrix or 'next', got {pairs!r}")
        if not n_classes or n_classes < 2:
            raise ValueError("pairs='next' needs n_classes >= 2")
        return {i: [(i + 1) % n_classes] for i in range(n_classes)}
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    mapping: dict = {}
    for src, dst in items:
        if src == dst:
            raise ValueError(f"a class-pair flip needs two different classes, got ({src!r}, {dst!r})")
        mapping.setdefault(src, []).append(dst)
    return mapping


def asymmetric(
    labels,
    pairs,
    rate: float | None,
    rng: np.random.Generator,
    n_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Class-dependent flips: within each source class, a fraction `rate` goes to its paired class.

    `pairs`: {src: dst}, a list of (src, dst) (a source with several destinations picks one uniformly
    per sample), "next" (i -> i+1 mod n_classes), or a C x C transition matrix given as a numpy array
    (row i: where class i goes; rate None uses 1 - T[i, i] / sum(T[i]) as class i's flip rate).
    Classes without a pair are untouched. Each source class is sampled separately, so its realised
    rate is within one sample of the target.
    """
    matrix = np.asarray(pairs, dtype=np.float64) if isinstance(pairs, np.ndarray) else None
    if rate is None and matrix is None:
        raise ValueError("rate=None is only for a transition matrix")
    if rate is not None:
        rate = _check_rate(rate)
    raw = np.asarray(labels)
    if raw.ndim != 1:
        raise ValueError(f"labels must be a 1D array, got shape {raw.shape}")
    noisy = raw.astype(object) if raw.dtype.kind in "US" else raw.copy()
    flipped = np.zeros(raw.shape, dtype=bool)

    if matrix is not None:
        labels_int, n = _int_labels(raw, matrix.shape[0])
        if matrix.shape != (n, n) or (matrix < 0).any():
            raise ValueError(f"a transition matrix must be a non-negative {n} x {n} array")
        for c in range(n):
            members = np.flatnonzero(labels_int == c)
            off = matrix[c].copy()
            off[c] = 0.0
            if members.size == 0 or off.sum() <= 0:
                continue
            p = rate if rate is not None else float(np.clip(1.0 - matrix[c, c] / matrix[c].sum(), 0, 1))
            chosen = members[systematic_sample(np.full(members.size, p), rng)]
            noisy[chosen] = rng.choice(n, size=chosen.size, p=off / off.sum())
            flipped[chosen] = True
        return noisy, flipped

    mapping = _pair_map(pairs, n_classes)
    for src, destinations in mapping.items():
        members = np.flatnonzero(raw == src)
        if members.size == 0:
            continue
        chosen = members[systematic_sample(np.full(members.size, rate), rng)]
        picks = rng.integers(len(destinations), size=chosen.size)
        for i, pick in zip(chosen, picks):
            noisy[i] = destinations[int(pick)]
        flipped[chosen] = True
    if noisy.dtype == object and raw.dtype.kind in "US":
        noisy = noisy.astype(str)
    return noisy, flipped


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def scale_to_mean(difficulty: np.ndarray, rate: float) -> np.ndarray:
    """p_i = min(1, c d_i) with c such that mean(p) = rate (all p_i = 1 where that is not reachable)."""
    d = np.clip(np.asarray(difficulty, dtype=np.float64), 0.0, None)
    if d.size == 0 or rate == 0:
        return np.zeros_like(d)
    if not (d > 0).any():
        return np.full(d.shape, rate)  # no information: every sample equally likely
    if np.count_nonzero(d) <= rate * d.size:
        return (d > 0).astype(np.float64)
    lo, hi = 0.0, 1.0 / d[d > 0].min()  # at hi every positive score is capped at 1
    for _ in range(100):
        mid = (lo + hi) / 2
        if np.minimum(1.0, mid * d).mean() < rate:
            lo = mid
        else:
            hi = mid
    return np.minimum(1.0, hi * d)


def instance_dependent(
    labels,
    scores,
    rate: float,
    rng: np.random.Generator,
    n_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Flip hard samples more often; the mean flip probability is `rate`.

    `scores`: per-sample difficulty (1D, >= 0; destination uniform among the other classes, needs
    n_classes or infers it from the labels) or an (n, C) matrix of class probabilities or logits
    (difficulty 1 - P[i, y_i], destination drawn from P[i, j != y_i]). See the module docstring.
    """
    rate = _check_rate(rate)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 2:
        n_classes = scores.shape[1] if n_classes is None else n_classes
        if scores.shape[1] != n_classes:
            raise ValueError(f"scores has {scores.shape[1]} columns for {n_classes} classes")
    labels, n_classes = _int_labels(labels, n_classes)
    if scores.shape[0] != labels.shape[0] or scores.ndim not in (1, 2):
        raise ValueError(f"scores must have shape (n,) or (n, C) with n = {labels.shape[0]}, got {scores.shape}")
    if scores.ndim == 2:
        rows_ok = (scores >= 0).all() and np.allclose(scores.sum(axis=1), 1.0, atol=1e-4)
        probs = scores if rows_ok else _softmax(scores)
        difficulty = 1.0 - probs[np.arange(labels.size), labels]
    else:
        probs = None
        difficulty = scores
    p = scale_to_mean(difficulty, rate)
    flipped = systematic_sample(p, rng)
    noisy = labels.copy()
    chosen = np.flatnonzero(flipped)
    if probs is None:
        noisy[chosen] = _other_class(labels[chosen], n_classes, rng)
        return noisy, flipped
    for i in chosen:
        weights = probs[i].copy()
        weights[labels[i]] = 0.0
        if weights.sum() <= 0:
            noisy[i] = _other_class(labels[i : i + 1], n_classes, rng)[0]
        else:
            noisy[i] = rng.choice(n_classes, p=weights / weights.sum())
    return noisy, flipped


def realised_rate(flipped: Sequence[bool] | np.ndarray) -> float:
    flipped = np.asarray(flipped, dtype=bool)
    return float(flipped.mean()) if flipped.size else 0.0
