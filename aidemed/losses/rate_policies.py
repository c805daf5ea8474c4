"""Rate policies: turn report-derived labels into (targets, rates, mask) for generalized label smoothing.

Input, per sample (multi-class) or per sample and finding (multi-label, arrays (N, F)):

* `labels` in CheXpert coding: 1 positive, 0 negative, -1 uncertain, NaN/None blank (not mentioned);
* optionally the labeler's certainty `grades` (names from `aidemed.reports.grades`: definite,
  probable, possible, cannot_exclude, unlikely, negated) or its `scores` (the grade scores; a score
  maps to the grade with the nearest score). Without either, a label stands for a default grade:
  1 -> definite, 0 -> negated, -1 -> possible.

Output: `SmoothedLabels(targets, rates, mask)`, float32/bool numpy arrays of the labels' shape, fed to
`generalized_ls_bce(logits, targets, rates, mask)` (targets in {0, 1} or soft, rates <= 1, mask True =
counts). Blank entries are masked out (`blank="ignore"`, the default) or read as negatives
(`blank="zeros"`, target 0 with rate `blank_rate`).

Policies (`get_rate_policy(name, **params)`, `list_rate_policies()`):

* `certainty` (default): each grade has a *direction* (the side of the statement: definite,
  probable, possible and cannot_exclude say "present", unlikely and negated say "absent") and a rate.
  Default map (DEFAULT_CERTAINTY_RATES), with the binary target t = (1 - r) * direction + r / 2:

  | grade          | direction | rate | target t |
  |----------------|-----------|------|----------|
  | definite       | 1         | -0.2 | 1.10     |
  | probable       | 1         | +0.4 | 0.80     |
  | possible       | 1         | +0.8 | 0.60     |
  | cannot_exclude | 1         | +1.0 | 0.50     |
  | unlikely       | 0         | +0.4 | 0.20     |
  | negated        | 0         | -0.2 | -0.10    |

  Firm statements get a small negative rate (negative smoothing: trust them), hedges a positive rate
  growing with the hedge; the negative side mirrors the positive one (negated <-> definite,
  unlikely <-> probable). A map is valid ("monotone") when every rate is <= 1, rates do not decrease
  along definite -> probable -> possible -> cannot_exclude and along negated -> unlikely, and the
  target t does not decrease with the grade score (negated < unlikely < ... < definite).
* `constant(rate)`: the same rate for every labelled entry (global LS for r > 0, global negative LS
  for r < 0, plain report labels for r = 0); uncertain labels follow `uncertain` = "ones" (default),
  "zeros", "ignore" or "grade" (the grade's direction).
* `u_ones`, `u_zeros`: uncertain -> 1 / 0, rate 0 (CheXpert's U-Ones / U-Zeros).
* `u_ignore`: uncertain masked out, rate 0 (U-Ignore).
* `lsr` (Pham et al. 2021, label smoothing regularization for uncertain labels): uncertain -> a soft
  target drawn from U(0.55, 0.85) (`mode="ones"`, default) or U(0, 0.3) (`mode="zeros"`), seeded
  (`seed`, the same labels give the same targets on every call); rate 0, so train with the BCE
  directly on the soft targets (`generalized_ls_bce` with rate 0 = `soft_target_bce`).
* `adaptive`: the `certainty` policy with a grade->rate map fitted on the validation split, see
  `AdaptivePolicy.fit`.

For multi-class training (softmax CE over class indices), a policy's `rates_for(grades)` gives one
rate per sample from the grade of the statement that assigned its class (`certainty`, `adaptive`,
`constant`); targets are the class indices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from aidemed.reports.grades import (
    CANNOT_EXCLUDE,
    DEFINITE,
    GRADE_SCORES,
    NEGATED,
    NEGATIVE,
    POSITIVE,
    POSSIBLE,
    PROBABLE,
    UNCERTAIN,
    UNLIKELY,
)

GRADES = tuple(sorted(GRADE_SCORES, key=GRADE_SCORES.get, reverse=True))  # definite ... negated

# the side of the statement: 1 = the finding is said to be present (however hedged), 0 = absent
GRADE_DIRECTION: dict[str, int] = {
    DEFINITE: 1,
    PROBABLE: 1,
    POSSIBLE: 1,
    CANNOT_EXCLUDE: 1,
    UNLIKELY: 0,
    NEGATED: 0,
}

DEFAULT_CERTAINTY_RATES: dict[str, float] = {
    DEFINITE: -0.2,
    PROBABLE: 0.4,
    POSSIBLE: 0.8,
    CANNOT_EXCLUDE: 1.0,
    UNLIKELY: 0.4,
    NEGATED: -0.2,
}

# chains along which rates must not decrease (firm -> hedged), per direction
POSITIVE_CHAIN = (DEFINITE, PROBABLE, POSSIBLE, CANNOT_EXCLUDE)
NEGATIVE_CHAIN = (NEGATED, UNLIKELY)

# the grade a bare CheXpert label stands for when no grade/score is given
DEFAULT_GRADE_OF_LABEL = {POSITIVE: DEFINITE, NEGATIVE: NEGATED, UNCERTAIN: POSSIBLE}

DEFAULT_RATE_GRID = (-0.4, -0.2, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass
class SmoothedLabels:
    """Training targets: `targets` float32, `rates` float32 (<= 1), `mask` bool (True = counts)."""

    targets: np.ndarray
    rates: np.ndarray
    mask: np.ndarray

    def soft_targets(self) -> np.ndarray:
        """The binary GLS targets (1 - r) t + r / 2 (0 where masked)."""
        return np.where(self.mask, (1 - self.rates) * self.targets + self.rates / 2, 0.0).astype(np.float32)

    def to_torch(self, device=None):
        import torch

        return (torch.as_tensor(self.targets, device=device), torch.as_tensor(self.rates, device=device),
                torch.as_tensor(self.mask, device=device))


# ---- input normalisation ---------------------------------------------------------------------------------------

def _is_blank(value) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    try:
        return bool(math.isnan(value))
    except TypeError:
        return False


def as_label_array(labels) -> np.ndarray:
    """CheXpert-coded labels as float array with NaN for blanks (None, NaN, '')."""
    try:
        out = np.asarray(labels, dtype=np.float64)  # None -> NaN
    except (TypeError, ValueError):  # e.g. '' for blanks
        arr = np.asarray(labels, dtype=object)
        out = np.full(arr.shape, np.nan, dtype=np.float64)
        for idx, v in np.ndenumerate(arr):
            if not _is_blank(v):
                out[idx] = float(v)
    bad = ~np.isnan(out) & ~np.isin(out, (1.0, 0.0, -1.0))
    if bad.any():
        raise ValueError(f"labels must be 1, 0, -1 or blank (CheXpert coding), got {out[bad][0]!r}")
    return out


def grade_from_score(score) -> str | None:
    """The grade whose score is nearest (None for a blank score)."""
    if _is_blank(score):
        return None
    s = float(score)
    return min(GRADES, key=lambda g: abs(GRADE_SCORES[g] - s))


_blank_of = np.frompyfunc(_is_blank, 1, 1)


def resolve_grades(labels: np.ndarray, grades=None, scores=None) -> np.ndarray:
    """Grade names (object array, None for blanks) from grades, else scores, else the bare labels."""
    shape = labels.shape
    out = np.full(shape, None, dtype=object)
    if grades is not None:
        g = np.asarray(grades, dtype=object).reshape(shape)
        given = ~_blank_of(g).astype(bool)
        unknown = set(g[given].tolist()) - set(GRADE_DIRECTION)
        if unknown:
            raise ValueError(f"unknown grade {sorted(map(str, unknown))[0]!r}; grades: {', '.join(GRADES)}")
        out[given] = g[given]
    elif scores is not None:
        sc = np.asarray(scores, dtype=object).reshape(shape)
        sc = np.where(_blank_of(sc).astype(bool), np.nan, sc).astype(np.float64)
        grade_scores = np.array([GRADE_SCORES[gr] for gr in GRADES])
        nearest = np.abs(sc[..., None] - grade_scores).argmin(-1)
        given = ~np.isnan(sc)
        out[given] = np.array(GRADES, dtype=object)[nearest[given]]
    out[np.isnan(labels)] = None  # blank labels have no grade
    for code, grade in DEFAULT_GRADE_OF_LABEL.items():  # labelled entries without a grade
        out[(labels == code) & np.equal(out, None)] = grade
    return out


def check_rate_map(rates: Mapping[str, float]) -> dict[str, float]:
    """Validate a grade -> rate map (all six grades, r <= 1, monotone; see the module docstring)."""
    missing = set(GRADE_DIRECTION) - set(rates)
    unknown = set(rates) - set(GRADE_DIRECTION)
    if missing or unknown:
        raise ValueError(f"rate map needs exactly the grades {GRADES}; missing {sorted(missing)}, "
                         f"unknown {sorted(unknown)}")
    rates = {g: float(rates[g]) for g in GRADES}
    bad = [g for g, r in rates.items() if not r <= 1]
    if bad:
        raise ValueError(f"rates must be <= 1; got {', '.join(f'{g}={rates[g]}' for g in bad)}")
    for chain in (POSITIVE_CHAIN, NEGATIVE_CHAIN):
        for a, b in zip(chain, chain[1:]):
            if rates[b] < rates[a]:
                raise ValueError(f"rate map is not monotone: {b} ({rates[b]}) < {a} ({rates[a]}); "
                                 "a more hedged grade must not get a smaller rate")
    targets = [binary_target(GRADE_DIRECTION[g], rates[g]) for g in reversed(GRADES)]  # by increasing score
    if any(b < a - 1e-12 for a, b in zip(targets, targets[1:])):
        raise ValueError(f"rate map is not monotone: soft targets {dict(zip(reversed(GRADES), targets))} "
                         "must not decrease with the grade score")
    return rates


def binary_target(direction: float, rate: float) -> float:
    return (1 - rate) * direction + rate / 2


# ---- policies ---------------------------------------------------------------------------------------------------

class RatePolicy:
    """Base: labels (+ grades/scores) -> SmoothedLabels.

    Subclasses implement `_entry(label, grade) -> (target, rate, counts)` for a labelled entry (called
    once per distinct (label, grade) pair) and optionally `_post` for per-entry randomness.
    """

    name = "base"

    def __init__(self, blank: str = "ignore", blank_rate: float | None = None):
        if blank not in ("ignore", "zeros"):
            raise ValueError(f"blank must be 'ignore' or 'zeros', got {blank!r}")
        if blank_rate is not None and blank_rate > 1:
            raise ValueError(f"blank_rate must be <= 1, got {blank_rate}")
        self.blank, self.blank_rate = blank, blank_rate

    def _entry(self, label: int, grade: str) -> tuple[float, float, bool]:
        raise NotImplementedError

    def _default_blank_rate(self) -> float:
        return 0.0

    def __call__(self, labels, grades=None, scores=None) -> SmoothedLabels:
        lab = as_label_array(labels)
        grd = resolve_grades(lab, grades, scores)
        targets = np.zeros(lab.shape, np.float32)
        rates = np.zeros(lab.shape, np.float32)
        mask = np.zeros(lab.shape, bool)
        blank_rate = self._default_blank_rate() if self.blank_rate is None else self.blank_rate
        if self.blank == "zeros":
            blank = np.isnan(lab)
            targets[blank], rates[blank], mask[blank] = 0.0, blank_rate, True
        for code in (POSITIVE, NEGATIVE, UNCERTAIN):  # at most 3 x 6 distinct (label, grade) entries
            has_code = lab == code
            if not has_code.any():
                continue
            for grade in GRADES:
                sel = has_code & np.equal(grd, grade)
                if sel.any():
                    targets[sel], rates[sel], mask[sel] = self._entry(code, grade)
        self._post(lab, targets, mask)
        return SmoothedLabels(targets, rates, mask)

    def _post(self, labels, targets, mask) -> None:
        """Hook for vectorised changes after the per-entry pass (lsr draws its soft targets here)."""

    def rates_for(self, grades) -> np.ndarray:
        """One rate per sample for multi-class CE, from the grade of each sample's class statement."""
        raise NotImplementedError(f"policy {self.name!r} has no grade -> rate map for multi-class training")

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"


def _uncertain_direction(mode: str, grade: str) -> float | None:
    if mode == "ones":
        return 1.0
    if mode == "zeros":
        return 0.0
    if mode == "grade":
        return float(GRADE_DIRECTION[grade])
    return None  # ignore


class CertaintyPolicy(RatePolicy):
    """Grade -> (direction, rate); the rate map is validated by `check_rate_map`."""

    name = "certainty"

    def __init__(self, rates: Mapping[str, float] | None = None, blank: str = "ignore",
                 blank_rate: float | None = None):
        super().__init__(blank, blank_rate)
        self.rate_map = check_rate_map({**DEFAULT_CERTAINTY_RATES, **(rates or {})})

    def _entry(self, label, grade):
        # the grade decides; a label that contradicts its grade (e.g. 1 with "negated") is an input error
        direction = GRADE_DIRECTION[grade]
        if label == POSITIVE and direction != 1 or label == NEGATIVE and direction != 0:
            raise ValueError(f"label {label} contradicts grade {grade!r}")
        return float(direction), self.rate_map[grade], True

    def rates_for(self, grades) -> np.ndarray:
        g = np.asarray(grades, dtype=object)
        out = np.zeros(g.shape, np.float32)
        for idx, v in np.ndenumerate(g):
            if not _is_blank(v) and v not in self.rate_map:
                raise ValueError(f"unknown grade {v!r}; grades: {', '.join(GRADES)}")
            out[idx] = 0.0 if _is_blank(v) else self.rate_map[v]
        return out


class ConstantPolicy(RatePolicy):
    name = "constant"

    def __init__(self, rate: float = 0.1, uncertain: str = "ones", blank: str = "ignore",
                 blank_rate: float | None = None):
        super().__init__(blank, blank_rate)
        if rate > 1:
            raise ValueError(f"rate must be <= 1, got {rate}")
        if uncertain not in ("ones", "zeros", "ignore", "grade"):
            raise ValueError(f"uncertain must be ones, zeros, ignore or grade, got {uncertain!r}")
        self.rate, self.uncertain = float(rate), uncertain

    def _default_blank_rate(self):
        return self.rate

    def _entry(self, label, grade):
        if label == UNCERTAIN:
            d = _uncertain_direction(self.uncertain, grade)
            return (0.0, 0.0, False) if d is None else (d, self.rate, True)
        return float(label), self.rate, True

    def rates_for(self, grades) -> np.ndarray:
        return np.full(np.asarray(grades, dtype=object).shape, self.rate, np.float32)


class _UncertainMapPolicy(RatePolicy):
    uncertain = "ones"

    def _entry(self, label, grade):
        if label == UNCERTAIN:
            d = _uncertain_direction(self.uncertain, grade)
            return (0.0, 0.0, False) if d is None else (d, 0.0, True)
        return float(label), 0.0, True


class UOnesPolicy(_UncertainMapPolicy):
    name, uncertain = "u_ones", "ones"


class UZerosPolicy(_UncertainMapPolicy):
    name, uncertain = "u_zeros", "zeros"


class UIgnorePolicy(_UncertainMapPolicy):
    name, uncertain = "u_ignore", "ignore"


class LSRPolicy(RatePolicy):
    """Uncertain -> soft target ~ U(low, high), rate 0; defaults U(0.55, 0.85) (LSR-Ones)."""

    name = "lsr"

    def __init__(self, mode: str = "ones", low: float | None = None, high: float | None = None, seed: int = 0,
                 blank: str = "ignore", blank_rate: float | None = None):
        super().__init__(blank, blank_rate)
        if mode not in ("ones", "zeros"):
            raise ValueError(f"mode must be 'ones' or 'zeros', got {mode!r}")
        default = (0.55, 0.85) if mode == "ones" else (0.0, 0.3)
        self.low = default[0] if low is None else float(low)
        self.high = default[1] if high is None else float(high)
        if not 0 <= self.low <= self.high <= 1:
            raise ValueError(f"need 0 <= low <= high <= 1, got ({self.low}, {self.high})")
        self.mode, self.seed = mode, seed

    def _entry(self, label, grade):
        return (float(label) if label != UNCERTAIN else np.nan), 0.0, True

    def _post(self, labels, targets, mask):
        uncertain = labels == UNCERTAIN
        rng = np.random.default_rng(self.seed)
        draws = rng.uniform(self.low, self.high, size=labels.shape).astype(np.float32)  # one per entry: stable
        targets[uncertain] = draws[uncertain]


class AdaptivePolicy(CertaintyPolicy):
    """The certainty policy with a grade -> rate map fitted on the validation split.

    `fit(val_probs, val_true, grades)`: `val_probs` are a model's probabilities that the finding is
    present on the validation samples (best: a model trained with plain CE, e.g. the warm-up
    checkpoint), `val_true` the ground truth (0/1, NaN = unknown), `grades` the report grades of the
    same entries (None = blank). For each grade g and candidate rate r from `grid`, the model's
    probabilities on the entries of grade g are smoothed the same way the training targets would be,
    q = clip((1 - r) p + r / 2, eps, 1 - eps): r > 0 softens, r < 0 sharpens. The rate is the one that
    best fits the ground truth: lowest NLL (criterion "nll", separable per grade) or highest AUROC of
    the smoothed probabilities pooled over all graded entries ("auroc"). A model that is over-confident
    on the samples a grade describes asks for a positive rate on that grade, an under-confident one for
    a negative rate. Criterion "reliability" reads only the truth and the grades: each grade's val
    accuracy (shrunk to the default map by `prior_strength` pseudo-counts) becomes r = 2 (1 - accuracy),
    capped at 1 (see `_reliability_costs`). The search is monotone-constrained (the chains of `check_rate_map`; the "nll"
    criterion solves it exactly by dynamic programming, "auroc" by coordinate ascent from the default
    map); grades without validation entries keep the rate closest to their default that the constraint
    allows. Ties go to the rate closest to the default map. (With every rate <= 1, monotone chains
    already keep the soft targets in grade-score order, so the fitted map always passes
    `check_rate_map`.)
    """

    name = "adaptive"

    def __init__(self, grid: Sequence[float] = DEFAULT_RATE_GRID, criterion: str = "nll", eps: float = 1e-4,
                 rates: Mapping[str, float] | None = None, blank: str = "ignore", blank_rate: float | None = None,
                 prior_strength: float = 4.0):
        super().__init__(rates, blank, blank_rate)
        if criterion not in ("nll", "auroc", "reliability"):
            raise ValueError(f"criterion must be 'nll', 'auroc' or 'reliability', got {criterion!r}")
        if prior_strength < 0:
            raise ValueError(f"prior_strength must be >= 0, got {prior_strength}")
        self.prior_strength = float(prior_strength)
        self.grid = tuple(sorted(float(r) for r in grid))
        if not self.grid or self.grid[-1] > 1:
            raise ValueError(f"grid must be non-empty with rates <= 1, got {grid}")
        self.criterion, self.eps = criterion, eps
        self.fitted = False
        self.fit_scores: dict[str, dict[float, float]] = {}

    def _smoothed(self, p, r):
        return np.clip((1 - r) * p + r / 2, self.eps, 1 - self.eps)

    def fit(self, val_probs, val_true, grades) -> "AdaptivePolicy":
        p = np.asarray(val_probs, dtype=np.float64).ravel()
        y = np.asarray(val_true, dtype=np.float64).ravel()
        g = np.asarray(grades, dtype=object).ravel()
        if not p.shape == y.shape == g.shape:
            raise ValueError(f"val_probs, val_true and grades must have the same size, "
                             f"got {p.size}, {y.size}, {g.size}")
        keep = ~np.isnan(y) & np.array([not _is_blank(v) for v in g], dtype=bool)
        if self.criterion != "reliability":  # the reliability criterion does not read the probabilities
            keep &= ~np.isnan(p)
        p, y, g = p[keep], y[keep], g[keep]
        unknown = set(g) - set(GRADE_DIRECTION)
        if unknown:
            raise ValueError(f"unknown grades {sorted(unknown)}")
        default = self.rate_map
        tie = {gr: {r: 1e-9 * abs(r - default[gr]) for r in self.grid} for gr in GRADES}
        if self.criterion == "reliability":
            cost = self._reliability_costs(y, g, default)
            self.fit_scores = cost
            fitted = {}
            for chain in (POSITIVE_CHAIN, NEGATIVE_CHAIN):
                fitted.update(_monotone_chain_argmin(chain, self.grid, {gr: {r: c + tie[gr][r] for r, c in
                                                                             cost[gr].items()} for gr in GRADES}))
        elif self.criterion == "nll":
            cost = {}
            for gr in GRADES:
                sel = g == gr
                cost[gr] = {}
                for r in self.grid:
                    if sel.any():
                        q = self._smoothed(p[sel], r)
                        nll = float(-np.mean(y[sel] * np.log(q) + (1 - y[sel]) * np.log(1 - q)))
                    else:
                        nll = 0.0
                    cost[gr][r] = nll + tie[gr][r]
            self.fit_scores = cost
            fitted = {}
            for chain in (POSITIVE_CHAIN, NEGATIVE_CHAIN):
                fitted.update(_monotone_chain_argmin(chain, self.grid, cost))
        else:
            from aidemed.metrics.classification import roc_auc

            fitted = {gr: min(self.grid, key=lambda r, gr=gr: abs(r - default[gr])) for gr in GRADES}
            fitted = _repair_monotone(fitted)

            def objective(m):
                s = np.empty_like(p)
                for gr in GRADES:
                    sel = g == gr
                    s[sel] = self._smoothed(p[sel], m[gr])
                auc = roc_auc(y, s)
                return (-np.inf if np.isnan(auc) else auc) - sum(tie[gr][m[gr]] for gr in GRADES)

            best = objective(fitted)
            for _ in range(5):  # coordinate ascent sweeps
                improved = False
                for gr in GRADES:
                    for r in self.grid:
                        cand = {**fitted, gr: r}
                        if not _is_chain_monotone(cand):
                            continue
                        val = objective(cand)
                        if val > best + 1e-12:
                            best, fitted, improved = val, cand, True
                if not improved:
                    break
            self.fit_scores = {"auroc": {0.0: best}}
        self.rate_map = check_rate_map(fitted)
        self.fitted = True
        return self


    def _reliability_costs(self, y, g, default) -> dict[str, dict[float, float]]:
        """Criterion "reliability": how often a grade's statements are right on val, as a rate.

        A statement of grade g is right when the truth equals its direction. Its accuracy a_g, shrunk
        towards the accuracy the default map implies (a0 = 1 - r0 / 2, at most 1) with
        `prior_strength` pseudo-counts, is the probability the GLS target should give the stated side:
        t = 1 - r / 2, so r_g = 2 (1 - a_g), capped at 1 (a grade right less than half the time
        carries no usable direction for a rate <= 1). Cost: n_g (r - r_g)^2, so the monotone fit
        weighs grades by how many val statements back them.
        """
        cost = {}
        for gr in GRADES:
            sel = g == gr
            right = float(np.sum(y[sel] == GRADE_DIRECTION[gr]))
            a0 = min(1.0, 1 - default[gr] / 2)
            accuracy = (right + self.prior_strength * a0) / (sel.sum() + self.prior_strength) \
                if sel.sum() + self.prior_strength > 0 else a0
            wanted = min(1.0, 2 * (1 - accuracy))
            weight = max(float(sel.sum()), 1e-3)
            cost[gr] = {r: weight * (r - wanted) ** 2 for r in self.grid}
        return cost


def _is_chain_monotone(m) -> bool:
    return all(m[b] >= m[a] for chain in (POSITIVE_CHAIN, NEGATIVE_CHAIN) for a, b in zip(chain, chain[1:]))


def _repair_monotone(m):
    m = dict(m)
    for chain in (POSITIVE_CHAIN, NEGATIVE_CHAIN):
        for a, b in zip(chain, chain[1:]):
            m[b] = max(m[b], m[a])
    return m


def _monotone_chain_argmin(chain, grid, cost) -> dict[str, float]:
    """Minimise sum_g cost[g][r_g] over non-decreasing r along `chain` (r from `grid`), exactly."""
    best = {r: cost[chain[0]][r] for r in grid}  # best total ending at grade 0 with rate r
    back = []
    for gr in chain[1:]:
        prefix_best, prefix_arg, nxt, arg = np.inf, None, {}, {}
        for r in grid:  # grid ascending: best over previous rates <= r
            if best[r] < prefix_best:
                prefix_best, prefix_arg = best[r], r
            nxt[r], arg[r] = prefix_best + cost[gr][r], prefix_arg
        back.append(arg)
        best = nxt
    r = min(grid, key=lambda v: best[v])
    out = {chain[-1]: r}
    for gr, arg in zip(reversed(chain[:-1]), reversed(back)):
        r = arg[r]
        out[gr] = r
    return out


# ---- registry ---------------------------------------------------------------------------------------------------

_POLICIES: dict[str, Callable[..., RatePolicy]] = {
    "certainty": CertaintyPolicy,
    "constant": ConstantPolicy,
    "u_ones": UOnesPolicy,
    "u_zeros": UZerosPolicy,
    "u_ignore": UIgnorePolicy,
    "lsr": LSRPolicy,
    "adaptive": AdaptivePolicy,
}


def register_rate_policy(name: str, factory: Callable[..., RatePolicy]) -> None:
    if name in _POLICIES:
        raise ValueError(f"rate policy {name!r} is registered twice")
    _POLICIES[name] = factory


def list_rate_policies() -> list[str]:
    return sorted(_POLICIES)


def get_rate_policy(name: str = "certainty", **params) -> RatePolicy:
    if name not in _POLICIES:
        raise ValueError(f"unknown rate policy {name!r}; available: {', '.join(list_rate_policies())}")
    return _POLICIES[name](**params)


class WarmupSchedule:
    """Plain CE for the first `warmup_epochs` epochs (rates 0), then the policy's rates.

    `ramp_epochs` > 0 ramps the rates linearly from 0 to full over that many epochs after warm-up.
    Epochs count from 0: with warmup_epochs=2, epochs 0 and 1 are plain CE.
    """

    def __init__(self, warmup_epochs: int = 0, ramp_epochs: int = 0):
        if warmup_epochs < 0 or ramp_epochs < 0:
            raise ValueError("warmup_epochs and ramp_epochs must be >= 0")
        self.warmup_epochs, self.ramp_epochs = int(warmup_epochs), int(ramp_epochs)

    def factor(self, epoch: int) -> float:
        if epoch < self.warmup_epochs:
            return 0.0
        if self.ramp_epochs == 0:
            return 1.0
        return min(1.0, (epoch - self.warmup_epochs + 1) / self.ramp_epochs)

    def __call__(self, rates, epoch: int):
        """The rates to use at `epoch` (float, numpy array or tensor; same type back)."""
        return rates * self.factor(epoch)
