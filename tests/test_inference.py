"""predict_probs: the softmax averaged over networks, optionally with the mirrored image; AdaBN."""

import pytest
import torch
from torch import nn

import numpy as np

from aidemed.engine.inference import Predictor, adapt_batchnorm, predict_probs


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


def _bn_net() -> nn.Module:
    """Batch norm first, so its statistics are the images' own."""
    torch.manual_seed(0)
    return nn.Sequential(nn.BatchNorm2d(1, momentum=0.3), nn.Conv2d(1, 2, 3, padding=1))


def test_adapt_batchnorm_takes_the_images_statistics_and_leaves_weights_alone():
    net = _bn_net()
    weights = {k: v.clone() for k, v in net.state_dict().items() if "running" not in k and "tracked" not in k}
    images = torch.randn(10, 1, 8, 8) * 3 + 5
    assert adapt_batchnorm([net], images, flip=False) == 1
    bn = net[0]
    assert torch.allclose(bn.running_mean, images.mean().reshape(1), atol=1e-5)
    assert torch.allclose(bn.running_var, images.var().reshape(1), atol=1e-4)  # unbiased, as BN keeps it
    assert bn.momentum == 0.3 and not net.training
    assert all(torch.equal(net.state_dict()[k], v) for k, v in weights.items())


def test_adapt_batchnorm_takes_the_statistics_with_dropout_off():
    net = nn.Sequential(nn.Dropout(p=0.5), nn.BatchNorm2d(1))
    images = torch.randn(16, 1, 8, 8) * 2 + 1
    adapt_batchnorm([net], images, flip=False)
    # dropout active would zero half the pixels and double the rest: mean kept, variance about 2.5x
    assert torch.allclose(net[1].running_var, images.var().reshape(1), atol=1e-4)
    assert not net.training and not net[0].training


def test_adapt_batchnorm_averages_the_batches():
    net = _bn_net()
    images = torch.cat([torch.zeros(4, 1, 4, 4), torch.full((4, 1, 4, 4), 2.0)])
    adapt_batchnorm([net], images, batch_size=4, flip=False)
    assert net[0].running_mean.item() == pytest.approx(1.0)  # cumulative, not an exponential average


def test_adapt_batchnorm_makes_a_constant_intensity_shift_invisible():
    images = torch.randn(12, 1, 8, 8)
    home, new_site = _bn_net(), _bn_net()
    adapt_batchnorm([home], images)
    adapt_batchnorm([new_site], images + 4.0)
    assert torch.allclose(predict_probs([new_site], images + 4.0), predict_probs([home], images), atol=1e-5)
    assert not torch.allclose(predict_probs([home], images + 4.0), predict_probs([home], images), atol=1e-2)


def test_adapt_batchnorm_without_batch_norm_or_images():
    assert adapt_batchnorm([nn.Conv2d(1, 2, 1)], torch.randn(2, 1, 4, 4)) == 0
    with pytest.raises(ValueError, match="no images"):
        adapt_batchnorm([_bn_net()], torch.empty(0, 1, 4, 4))


def test_predictor_adapts_on_full_size_images_and_volume_slices():
    predictor = Predictor([_bn_net()], size=8, num_classes=2, device=torch.device("cpu"))
    image = np.full((1, 20, 30), 3.0, dtype=np.float32)
    volume = np.full((1, 4, 16, 16), 3.0, dtype=np.float32)  # (C, Z, X, Y): 4 slices
    assert predictor.adapt_batchnorm([image, volume]) == 1
    assert predictor.networks[0][0].running_mean.item() == pytest.approx(3.0, abs=1e-4)
