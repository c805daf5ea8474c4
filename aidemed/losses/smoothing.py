"""Generalized label smoothing (GLS) and robust classification losses.

Generalized label smoothing (Wei et al., ICML 2022, "To smooth or not? When label smoothing meets
noisy labels") mixes the one-hot target with the uniform distribution at a rate r <= 1:

* softmax cross-entropy over K classes: target = (1 - r) * onehot(y) + r / K. The loss is linear in
  the target, so it equals (1 - r) * CE(y) + r * mean_k(-log p_k). r = 0 is plain CE, 0 < r <= 1
  label smoothing (r = 1: the uniform target, the label says nothing), r < 0 *negative* smoothing:
  the target leaves [0, 1] (the true class gets more than 1, the others less than 0).
* sigmoid BCE per finding: t = (1 - r) * y + r / 2, loss = -t log s(x) - (1 - t) log(1 - s(x))
  = softplus(x) - t * x, again linear in t, so any real t is fine.

Rates are a float (global LS / global negative LS are the constant-rate special cases) or one per
sample (CE) / per sample and finding (BCE), as produced by `aidemed.losses.rate_policies`. Rates
above 1 are rejected (they would invert the label). With r < 0 the loss is unbounded below as the
logit of the labelled class grows (it rewards over-confidence); Wei et al. warm up with plain CE
before switching negative rates on (`rate_policies.WarmupSchedule`).

`mask` arguments mark entries that count: True = labelled, False = blank/ignored; masked entries
contribute exactly 0 to the loss and to its gradient, and "mean" divides by the number of entries
that count.

Robust baselines: `GeneralizedCrossEntropy` (GCE, Zhang & Sabuncu, NeurIPS 2018) and
`SymmetricCrossEntropy` (SCE, Wang et al., ICCV 2019).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _as_rate(rate, like: torch.Tensor) -> torch.Tensor:
    """Rate as a float tensor broadcastable to `like`; rejects r > 1 (and NaN)."""
    r = torch.as_tensor(rate, dtype=torch.float32, device=like.device)
    if torch.isnan(r).any():
        raise ValueError("smoothing rate is NaN")
    if (r > 1).any():
        raise ValueError(f"smoothing rate must be <= 1 (r > 1 would invert the label), got max {r.max().item():.4g}")
    return r


def _reduce(loss: torch.Tensor, mask: torch.Tensor | None, reduction: str) -> torch.Tensor:
    if mask is not None:
        loss = torch.where(mask, loss, torch.zeros_like(loss))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    count = loss.numel() if mask is None else mask.sum()
    return loss.sum() / torch.clamp(torch.as_tensor(count, dtype=loss.dtype, device=loss.device), min=1)


def _as_mask(mask, shape, device) -> torch.Tensor | None:
    if mask is None:
        return None
    m = torch.as_tensor(mask, device=device).bool()
    if m.shape != shape:
        raise ValueError(f"mask shape {tuple(m.shape)} does not match {tuple(shape)}")
    return m


def generalized_ls_cross_entropy(logits: torch.Tensor, target: torch.Tensor, rate=0.0, reduction: str = "mean",
                                 mask=None) -> torch.Tensor:
    """Softmax CE against (1 - r) onehot(y) + r / K, per sample rate allowed.

    logits (N, K), target (N,) class indices, rate float or (N,), mask (N,) bool (True = counts).
    Returns a scalar ("mean"/"sum") or (N,) ("none", masked samples are 0).
    """
    _check_reduction(reduction)
    if logits.ndim != 2:
        raise ValueError(f"logits must be (N, K), got shape {tuple(logits.shape)}")
    logp = F.log_softmax(logits.float(), dim=1)
    target = torch.as_tensor(target, device=logits.device).long()
    r = _as_rate(rate, logp)
    if r.ndim not in (0, 1) or (r.ndim == 1 and r.shape[0] != logits.shape[0]):
        raise ValueError(f"rate must be a float or shape (N,), got shape {tuple(r.shape)}")
    nll = -logp.gather(1, target[:, None]).squeeze(1)
    uniform = -logp.mean(1)
    loss = (1 - r) * nll + r * uniform
    return _reduce(loss, _as_mask(mask, loss.shape, logits.device), reduction)


def soft_target_bce(logits: torch.Tensor, targets: torch.Tensor, mask=None, reduction: str = "mean") -> torch.Tensor:
    """Sigmoid BCE against real-valued targets: softplus(x) - t * x (= the usual BCE for t in [0, 1]).

    Usable directly with soft labels (the `lsr` policy's U(0.55, 0.85) targets) and with targets
    outside [0, 1] (negative smoothing). logits/targets (N, F), mask (N, F) bool (True = counts).
    """
    _check_reduction(reduction)
    x = logits.float()
    t = torch.as_tensor(targets, dtype=torch.float32, device=x.device)
    if t.shape != x.shape:
        raise ValueError(f"targets shape {tuple(t.shape)} does not match logits {tuple(x.shape)}")
    m = _as_mask(mask, x.shape, x.device)
    if m is not None:  # blanks may carry NaN targets: keep them out of the graph entirely
        t = torch.where(m, t, torch.zeros_like(t))
    loss = F.softplus(x) - t * x
    return _reduce(loss, m, reduction)


def smoothed_binary_targets(targets, rate) -> torch.Tensor:
    """t = (1 - r) * y + r / 2, elementwise (rate float or broadcastable to targets)."""
    y = torch.as_tensor(targets, dtype=torch.float32)
    r = _as_rate(rate, y)
    return (1 - r) * y + r / 2


def generalized_ls_bce(logits: torch.Tensor, targets: torch.Tensor, rate=0.0, mask=None,
                       reduction: str = "mean") -> torch.Tensor:
    """Multi-label sigmoid BCE against t = (1 - r) y + r / 2 per finding.

    logits (N, F), targets (N, F) in {0, 1} (soft targets work too), rate float or (N, F) (or
    anything broadcastable, e.g. (N, 1) or (F,)), mask (N, F) bool, True = labelled, False = blank
    (contributes nothing). "mean" averages over the labelled entries.
    """
    x = logits.float()
    y = torch.as_tensor(targets, dtype=torch.float32, device=x.device)
    m = _as_mask(mask, x.shape, x.device)
    if m is not None:
        y = torch.where(m, y, torch.zeros_like(y))
    r = _as_rate(rate, x)
    if m is not None and r.shape == x.shape:
        r = torch.where(m, r, torch.zeros_like(r))
    t = (1 - r) * y + r / 2
    return soft_target_bce(x, t, mask=m, reduction=reduction)


class GeneralizedLSCrossEntropy(torch.nn.Module):
    """Module form of `generalized_ls_cross_entropy`; `rate` is the default when forward gets none."""

    def __init__(self, rate: float = 0.0, reduction: str = "mean"):
        super().__init__()
        _as_rate(rate, torch.zeros(()))
        _check_reduction(reduction)
        self.rate, self.reduction = rate, reduction

    def forward(self, logits, target, rate=None, mask=None):
        return generalized_ls_cross_entropy(logits, target, self.rate if rate is None else rate, self.reduction, mask)


class GeneralizedLSBCE(torch.nn.Module):
    """Module form of `generalized_ls_bce`; `rate` is the default when forward gets none."""

    def __init__(self, rate: float = 0.0, reduction: str = "mean"):
        super().__init__()
        _as_rate(rate, torch.zeros(()))
        _check_reduction(reduction)
        self.rate, self.reduction = rate, reduction

    def forward(self, logits, targets, rate=None, mask=None):
        return generalized_ls_bce(logits, targets, self.rate if rate is None else rate, mask, self.reduction)


class SoftTargetBCE(torch.nn.Module):
    """Module form of `soft_target_bce` (the loss for the `lsr` policy's soft labels)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        _check_reduction(reduction)
        self.reduction = reduction

    def forward(self, logits, targets, mask=None):
        return soft_target_bce(logits, targets, mask, self.reduction)


class GeneralizedCrossEntropy(torch.nn.Module):
    """GCE (Zhang & Sabuncu 2018): L_q = (1 - p_y^q) / q; q -> 0 is CE, q = 1 is MAE. Default q = 0.7.

    Multi-class: logits (N, K), target (N,). Multi-label (`multilabel=True`): logits/targets (N, F)
    in {0, 1}, applied per finding to the probability of the labelled outcome; optional mask.
    """

    def __init__(self, q: float = 0.7, reduction: str = "mean", multilabel: bool = False):
        super().__init__()
        if not 0 < q <= 1:
            raise ValueError(f"GCE needs 0 < q <= 1, got {q}")
        _check_reduction(reduction)
        self.q, self.reduction, self.multilabel = q, reduction, multilabel

    def forward(self, logits, target, mask=None):
        x = logits.float()
        if self.multilabel:
            y = torch.as_tensor(target, dtype=torch.float32, device=x.device)
            m = _as_mask(mask, x.shape, x.device)
            if m is not None:
                y = torch.where(m, y, torch.zeros_like(y))
            # log p(labelled outcome) = y log s(x) + (1 - y) log s(-x), stable via logsigmoid
            logp = y * F.logsigmoid(x) + (1 - y) * F.logsigmoid(-x)
        else:
            logp = F.log_softmax(x, 1).gather(1, torch.as_tensor(target, device=x.device).long()[:, None]).squeeze(1)
            m = _as_mask(mask, logp.shape, x.device)
        loss = -torch.expm1(self.q * logp) / self.q  # (1 - p^q) / q, accurate for small q
        return _reduce(loss, m, self.reduction)


class SymmetricCrossEntropy(torch.nn.Module):
    """SCE (Wang et al. 2019): alpha * CE + beta * RCE, RCE = -sum_k p_k log q_k with log 0 := A.

    For a one-hot label RCE = -A * (1 - p_y). Defaults alpha = 0.1, beta = 1.0, A = -4 (the
    paper's CIFAR-10 setting). Multi-class only: logits (N, K), target (N,).
    """

    def __init__(self, alpha: float = 0.1, beta: float = 1.0, log_zero: float = -4.0, reduction: str = "mean"):
        super().__init__()
        _check_reduction(reduction)
        self.alpha, self.beta, self.log_zero, self.reduction = alpha, beta, log_zero, reduction

    def forward(self, logits, target, mask=None):
        logp = F.log_softmax(logits.float(), 1)
        target = torch.as_tensor(target, device=logits.device).long()
        logp_y = logp.gather(1, target[:, None]).squeeze(1)
        rce = -self.log_zero * (1 - logp_y.exp())
        loss = self.alpha * (-logp_y) + self.beta * rce
        return _reduce(loss, _as_mask(mask, loss.shape, logits.device), self.reduction)
