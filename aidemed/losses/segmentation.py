"""Segmentation losses with a per-sample reduction (AIDE's small-loss filtering ranks samples)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss


class PerSampleDiceCE(torch.nn.Module):
    """Cross-entropy (mean over pixels) + soft Dice over foreground classes, one value per sample.

    Dice is MONAI's DiceLoss (softmax, one-hot target, background excluded, per sample); the
    cross-entropy is averaged over each sample's pixels so both terms are on the same scale.
    """

    def __init__(self, dice_weight: float = 1.0, ce_weight: float = 1.0):
        super().__init__()
        self.dice_weight, self.ce_weight = dice_weight, ce_weight
        self.dice = DiceLoss(include_background=False, to_onehot_y=True, softmax=True, reduction="none")

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits.float(), target.long(), reduction="none").flatten(1).mean(1)
        dice = self.dice(logits.float(), target[:, None].long()).flatten(1).mean(1)
        return self.ce_weight * ce + self.dice_weight * dice


def soft_consistency(probs: torch.Tensor, target_probs: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per-sample confidence-weighted squared error w (p_c - q_c)^2, averaged over classes and pixels.

    The mean over classes (not their sum) is what AIDE's public code computes (an element-wise MSE
    times the confidence map, then `.mean()`), and its beta = 10 is calibrated to it: summing over
    the two classes of a binary mask doubles the term, and on BUSI that stronger pull made the
    networks collapse once lambda reached 1.
    """
    return (weight[:, None] * (probs - target_probs) ** 2).flatten(1).mean(1)
