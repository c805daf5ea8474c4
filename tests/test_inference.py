"""predict_probs: the softmax averaged over networks, optionally with the mirrored image."""

import pytest
import torch
from torch import nn

from aidemed.engine.inference import Predictor, predict_probs


class _RampNet(nn.Module):
    """Foreground logit = the image plus a left-to-right ramp: not mirror-symmetric."""

    def forward(self, x):
        ramp = torch.linspace(-2, 2, x.shape[-1]).expand_as(x[:, :1])
        return torch.cat([torch.zeros_like(x[:, :1]), x[:, :1] + ramp], dim=1)


def test_flip_averages_with_the_mirrored_prediction_mapped_back():
    net = _RampNet()
    images = torch.randn(5, 1, 4, 6)
    plain = predict_probs([net], images, batch_size=2, device=torch.device("cpu"))
    mirrored = torch.softmax(net(images.flip(-1)), dim=1).flip(-1)
    flipped = predict_probs([net], images, batch_size=2, device=torch.device("cpu"), flip=True)
    assert torch.allclose(flipped, (plain + mirrored) / 2, atol=1e-6)
    assert not torch.allclose(flipped, plain)
    # the ramp cancels: the mirrored average of (x + r) and (x - r) is symmetric in r
    zero = predict_probs([net], torch.zeros(1, 1, 4, 6), device=torch.device("cpu"), flip=True)
    assert torch.allclose(zero, zero.flip(-1), atol=1e-6)


def test_flip_changes_nothing_for_a_mirror_symmetric_network():
    net = nn.Conv2d(1, 2, 3, padding=1)
    with torch.no_grad():
        net.weight.copy_((net.weight + net.weight.flip(-1)) / 2)
    images = torch.randn(3, 1, 8, 8)
    assert torch.allclose(predict_probs([net], images, flip=True), predict_probs([net], images), atol=1e-5)


@pytest.mark.parametrize("flip", [False, True])
def test_predictor_passes_flip_to_every_prediction(flip):
    predictor = Predictor([_RampNet()], size=6, num_classes=2, device=torch.device("cpu"), flip=flip)
    probs = predictor.probs_at_size(torch.zeros(1, 1, 6, 6).numpy())
    assert torch.allclose(probs, probs.flip(-1), atol=1e-6) == flip
