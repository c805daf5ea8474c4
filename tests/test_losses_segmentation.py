"""Segmentation losses against hand-computed values."""

import pytest
import torch

from aidemed.losses import PerSampleDiceCE, soft_consistency


def _two_pixel_case():
    # one sample, two classes, two pixels
    probs = torch.tensor([[[[0.8, 0.3]], [[0.2, 0.7]]]])
    target = torch.tensor([[[[0.6, 0.5]], [[0.4, 0.5]]]])
    return probs, target


@pytest.mark.parametrize(
    "weight, expected",
    [
        # squared errors per pixel: 0.04 for each class at pixel 1, 0.04 at pixel 2; mean over 2x2 = 0.04
        ([1.0, 1.0], 0.04),
        # pixel 2 unweighted: (0.04 + 0.04 + 0 + 0) / 4
        ([1.0, 0.0], 0.02),
        ([0.5, 0.25], (0.5 * 0.08 + 0.25 * 0.08) / 4),
    ],
)
def test_soft_consistency_is_the_public_codes_mse_mean_over_classes_and_pixels(weight, expected):
    probs, target = _two_pixel_case()
    value = soft_consistency(probs, target, torch.tensor([[weight]]))
    assert value.shape == (1,)
    assert value.item() == pytest.approx(expected, abs=1e-7)


def test_soft_consistency_is_per_sample():
    probs, target = _two_pixel_case()
    both = soft_consistency(torch.cat([probs, target]), torch.cat([target, target]), torch.ones(2, 1, 2))
    assert both.tolist() == pytest.approx([0.04, 0.0], abs=1e-7)


def test_per_sample_dice_ce_ranks_a_wrong_sample_above_a_right_one():
    target = torch.zeros(2, 8, 8, dtype=torch.long)
    target[:, 2:6, 2:6] = 1
    logits = torch.zeros(2, 2, 8, 8)
    logits[0, 1] = torch.where(target[0] == 1, 5.0, -5.0)  # agrees with the mask
    logits[1, 1] = torch.where(target[1] == 1, -5.0, 5.0)  # the opposite
    loss = PerSampleDiceCE()(logits, target)
    assert loss.shape == (2,)
    assert loss[0] < 0.05 < 1.0 < loss[1]
