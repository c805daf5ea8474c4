"""Classification metrics in numpy: accuracy, balanced accuracy, AUROC, F1, ECE, bootstrap CIs.

Conventions
* `y_true`: class indices (N,) for binary/multi-class, (N, F) 0/1 with NaN = unknown for multi-label.
* Label metrics (accuracy, balanced accuracy, F1) take predicted labels, or scores: a 2-D score
  array is turned into labels by argmax, a 1-D float array that is not integer-valued by
  `score >= threshold` (0.5).
* AUROC is the Mann-Whitney statistic with average ranks for ties (a tie between a positive and a
  negative counts 1/2); NaN when only one class is present (undefined).
* ECE uses equal-width bins on [0, 1] (15 by default; a bin is (lo, hi], the first also holds 0):
  binary (1-D probabilities of class 1): sum_b n_b / N * |mean(y) - mean(p)| over the bin;
  multi-class (N, K): top-label, with confidence max_k p_k and accuracy [argmax = y].
* `bootstrap_ci` resamples samples (rows) with replacement: a percentile interval; resamples where
  the metric is undefined (NaN or ValueError) are skipped and counted.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.stats import rankdata


def _to_labels(y_pred, threshold: float = 0.5) -> np.ndarray:
    a = np.asarray(y_pred)
    if a.ndim == 2:
        return a.argmax(1)
    if a.ndim != 1:
        raise ValueError(f"predictions must be 1-D labels/scores or 2-D scores, got shape {a.shape}")
    if np.issubdtype(a.dtype, np.floating) and not np.all(np.isclose(a, np.round(a))):
        return (a >= threshold).astype(int)
    return a.astype(int)


def _pair(y_true, y_pred, threshold):
    t = np.asarray(y_true).astype(int).ravel()
    p = _to_labels(y_pred, threshold)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred have different lengths: {t.shape} vs {p.shape}")
    if t.size == 0:
        raise ValueError("empty input")
    return t, p


def accuracy(y_true, y_pred, threshold: float = 0.5) -> float:
    t, p = _pair(y_true, y_pred, threshold)
    return float(np.mean(t == p))


def balanced_accuracy(y_true, y_pred, threshold: float = 0.5) -> float:
    """Mean recall over the classes present in y_true."""
    t, p = _pair(y_true, y_pred, threshold)
    return float(np.mean([np.mean(p[t == c] == c) for c in np.unique(t)]))


def f1_score(y_true, y_pred, average: str = "binary", pos_label: int = 1, threshold: float = 0.5) -> float:
    """F1 = 2 TP / (2 TP + FP + FN); 0 when undefined (no positives predicted or present).

    average="binary": for `pos_label`; "macro": unweighted mean over classes in y_true or y_pred.
    """
    t, p = _pair(y_true, y_pred, threshold)

    def f1(c):
        tp = np.sum((p == c) & (t == c))
        denom = 2 * tp + np.sum((p == c) & (t != c)) + np.sum((p != c) & (t == c))
        return 0.0 if denom == 0 else 2 * tp / denom

    if average == "binary":
        return float(f1(pos_label))
    if average == "macro":
        return float(np.mean([f1(c) for c in np.union1d(t, p)]))
    raise ValueError(f"average must be 'binary' or 'macro', got {average!r}")


def roc_auc(y_true, y_score) -> float:
    """Binary AUROC (Mann-Whitney U / (n_pos n_neg), average ranks for ties); NaN if one class only."""
    y = np.asarray(y_true, dtype=float).ravel()
    s = np.asarray(y_score, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true and y_score have different lengths: {y.shape} vs {s.shape}")
    keep = ~np.isnan(y)
    y, s = y[keep], s[keep]
    if np.isnan(s).any():
        raise ValueError("y_score contains NaN")
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)  # average ranks
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def auroc_per_finding(y_true, y_score) -> np.ndarray:
    """AUROC of each column of (N, F) arrays (NaN truths ignored); NaN where a column has one class."""
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(y_score, dtype=float)
    if y.ndim != 2 or y.shape != s.shape:
        raise ValueError(f"need (N, F) arrays of the same shape, got {y.shape} and {s.shape}")
    return np.array([roc_auc(y[:, f], s[:, f]) for f in range(y.shape[1])])


def macro_auroc(y_true, y_score) -> float:
    """Mean AUROC over the findings with both classes present (NaN if none); 1-D input: binary AUROC."""
    y = np.asarray(y_true, dtype=float)
    if y.ndim == 1:
        return roc_auc(y_true, y_score)
    per = auroc_per_finding(y_true, y_score)
    per = per[~np.isnan(per)]
    return float(per.mean()) if per.size else float("nan")


def expected_calibration_error(y_true, y_prob, n_bins: int = 15) -> float:
    """Equal-width-bin ECE: binary for 1-D probabilities of class 1, top-label for (N, K)."""
    t = np.asarray(y_true).ravel()
    p = np.asarray(y_prob, dtype=float)
    if p.ndim == 2:
        conf = p.max(1)
        hit = (p.argmax(1) == t.astype(int)).astype(float)
    elif p.ndim == 1:
        conf, hit = p, t.astype(float)
    else:
        raise ValueError(f"y_prob must be (N,) or (N, K), got shape {p.shape}")
    if conf.shape != hit.shape or conf.size == 0:
        raise ValueError(f"y_true and y_prob do not match: {t.shape} vs {p.shape}")
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    # bin b holds (b / B, (b + 1) / B]; 0 goes to the first bin
    inner_edges = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    bins = np.searchsorted(inner_edges, conf, side="left")
    ece = 0.0
    for b in np.unique(bins):
        sel = bins == b
        ece += sel.sum() / conf.size * abs(hit[sel].mean() - conf[sel].mean())
    return float(ece)


class BootstrapCI(tuple):
    """(value, low, high) that also carries `n_valid` / `n_skipped` resamples and `alpha`."""

    def __new__(cls, value, low, high, n_valid, n_skipped, alpha):
        obj = super().__new__(cls, (value, low, high))
        obj.n_valid, obj.n_skipped, obj.alpha = n_valid, n_skipped, alpha
        return obj

    value = property(lambda self: self[0])
    low = property(lambda self: self[1])
    high = property(lambda self: self[2])

    def __repr__(self):
        return (f"BootstrapCI(value={self[0]:.4g}, low={self[1]:.4g}, high={self[2]:.4g}, "
                f"n_valid={self.n_valid}, n_skipped={self.n_skipped})")


def bootstrap_ci(metric_fn: Callable, y_true, y_score, n_boot: int = 1000, alpha: float = 0.05,
                 seed: int = 0) -> BootstrapCI:
    """Point estimate and percentile bootstrap (1 - alpha) interval of metric_fn(y_true, y_score).

    Samples (rows) are drawn with replacement `n_boot` times (numpy Generator seeded by `seed`);
    resamples where the metric is undefined (NaN, or a ValueError) are skipped and counted in
    `n_skipped`. low/high are NaN if no resample was valid.
    """
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    n = len(y_true)
    if len(y_score) != n:
        raise ValueError(f"y_true and y_score have different numbers of samples: {n} vs {len(y_score)}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    value = float(metric_fn(y_true, y_score))
    rng = np.random.default_rng(seed)
    stats, skipped = [], 0
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        try:
            v = float(metric_fn(y_true[idx], y_score[idx]))
        except ValueError:
            v = float("nan")
        if np.isnan(v):
            skipped += 1
        else:
            stats.append(v)
    if stats:
        low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    else:
        low = high = float("nan")
    return BootstrapCI(value, float(low), float(high), len(stats), skipped, alpha)
