"""Baselines for noisy masks and domain adaptation.

coteaching   Han et al., *Co-teaching: Robust training of deep neural networks with extremely noisy
             labels*, NeurIPS 2018. Two networks A and B; in each batch each network ranks the samples
             by its own per-sample loss (Dice + CE against the given masks) and its peer is updated on
             the `keep` smallest-loss samples, keep rate R(e) = 1 - forget_rate * min(e / Tk, 1). The
             masks are never corrected. Trusted masks (`TrainData.trusted`) are always kept when
             `keep_trusted`. Candidates for selection: A and B.
source_only  plain `supervised` training on the labelled cases; in the domain-adaptation setting those
             are the source cases only (the target's are unlabelled), so it is the source-only model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from aidemed.losses.segmentation import PerSampleDiceCE
from aidemed.methods.base import Method, StepContext
from aidemed.methods.registry import register_method
from aidemed.methods.supervised import Supervised


@dataclass
class CoTeachingOptions:
    forget_rate: float = 0.2  # tau: the estimated noise rate, the share of each batch finally dropped
    ramp_epochs: int = 10  # T_k: epochs over which the forget rate grows linearly from 0 to tau
    keep_trusted: bool = True  # trusted (ground-truth) samples are always among the kept ones


def keep_rate(epoch: int, forget_rate: float, ramp_epochs: int) -> float:
    """R(e) = 1 - forget_rate * min(e / T_k, 1) (Han et al., 2018)."""
    progress = min(epoch / ramp_epochs, 1.0) if ramp_epochs > 0 else 1.0
    return 1.0 - forget_rate * progress


def small_loss_selection(loss: torch.Tensor, keep: float, trusted: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean mask of the ceil(keep * n) smallest losses (at least one), plus every trusted sample."""
    n_keep = min(len(loss), max(1, math.ceil(keep * len(loss) - 1e-9)))
    chosen = torch.zeros_like(loss, dtype=torch.bool)
    chosen[torch.argsort(loss)[:n_keep]] = True
    if trusted is not None:
        chosen |= trusted
    return chosen


@register_method("coteaching")
class CoTeaching(Method):
    Options = CoTeachingOptions

    def setup(self) -> None:
        o = self.options
        if not 0.0 <= o.forget_rate < 1.0:
            raise ValueError(f"coteaching forget_rate must be within [0, 1), got {o.forget_rate}")
        self.new_network("A", seed_offset=1)
        self.new_network("B", seed_offset=2)
        self.loss = PerSampleDiceCE()

    def training_step(self, index: torch.Tensor, ctx: StepContext) -> dict[str, float]:
        o = self.options
        image, labels = ctx.batch(index, {"label": self.data.masks[index]})
        trusted = self.data.trusted[index].to(self.device) if o.keep_trusted else None
        for net in self.networks.values():
            net.train()
        with ctx.autocast():
            logits = {k: self.networks[k](image) for k in ("A", "B")}
        losses = {k: self.loss(logits[k], labels["label"]) for k in ("A", "B")}
        self.record_sample_losses(index, (losses["A"] + losses["B"]) / 2)
        keep = keep_rate(ctx.epoch, o.forget_rate, o.ramp_epochs)
        # Each network picks its small-loss samples; its PEER learns from them.
        chosen = {k: small_loss_selection(losses[k].detach(), keep, trusted) for k in ("A", "B")}
        logs = {"keep_rate": keep}
        for k, peer in (("A", "B"), ("B", "A")):
            loss = losses[k][chosen[peer]].mean()
            self.step_optimizer(k, loss)
            logs[f"loss_{k}"] = loss.item()
            logs[f"kept_by_{peer}"] = float(chosen[peer].float().mean())
        logs["loss"] = (logs["loss_A"] + logs["loss_B"]) / 2
        return logs


@register_method("source_only")
class SourceOnly(Supervised):
    """`supervised` under the name the domain-adaptation tables use: trained on the labelled (source)
    cases only. Identical to `supervised` in every setting."""
