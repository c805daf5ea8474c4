import math

import pytest
import torch

from aidemed.data.augment import (augment_batch, fourier_style_transfer, invert_affine, low_frequency_mask,
                                  random_affine, warp, warp_labels)
from aidemed.engine.config import AugmentConfig


def test_inverse_affine_maps_a_view_back_onto_the_original():
    gen = torch.Generator().manual_seed(0)
    theta = random_affine(4, gen, rotate_degrees=60, flip_prob=0.5)
    x = torch.zeros(4, 1, 64, 64)
    x[:, :, 24:40, 20:44] = 1.0  # a central block stays inside the frame under rotation
    back = warp(warp(x, theta), invert_affine(theta))
    assert torch.allclose(back[:, :, 28:36, 26:38], x[:, :, 28:36, 26:38], atol=0.05)


def test_pure_flip_is_exact_and_labels_follow_the_image():
    gen = torch.Generator().manual_seed(1)
    theta = random_affine(8, gen, rotate_degrees=0, flip_prob=1.0)
    image = torch.arange(16.0).view(1, 1, 4, 4).repeat(8, 1, 1, 1)
    labels = (image[:, 0] > 7).long()
    assert torch.equal(warp(image, theta), image.flip(-1))
    assert torch.equal(warp_labels(labels, theta), labels.flip(-1))


def test_augment_batch_moves_image_and_every_label_map_together():
    gen = torch.Generator().manual_seed(2)
    mask = torch.zeros(6, 40, 40, dtype=torch.long)
    mask[:, 10:25, 15:30] = 1
    image = mask[:, None].float() * 5.0
    cfg = AugmentConfig(intensity_prob=0.0, noise_std=0.0, rotate_degrees=30, affine_prob=1.0)
    aug_image, aug_labels = augment_batch(image, {"a": mask, "b": mask.clone()}, cfg, gen)
    assert torch.equal(aug_labels["a"], aug_labels["b"])
    inside = aug_image[:, 0] > 2.5
    agreement = (inside == (aug_labels["a"] == 1)).float().mean()
    assert agreement > 0.98
    assert not torch.equal(aug_labels["a"], mask)  # something actually moved


def test_same_generator_seed_gives_the_same_augmentation():
    image = torch.randn(3, 1, 16, 16)
    labels = {"m": (image[:, 0] > 0).long()}
    a = augment_batch(image, labels, AugmentConfig(), torch.Generator().manual_seed(5))
    b = augment_batch(image, labels, AugmentConfig(), torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1]["m"], b[1]["m"])
    assert math.isfinite(float(a[0].sum()))


@pytest.mark.parametrize("size, band, side", [((128, 128), 0.04, 11), ((128, 128), 0.01, 3), ((64, 96), 0.05, 7),
                                              ((16, 16), 0.0, 1), ((16, 16), 0.5, 16)])
def test_low_frequency_window_is_FDA_s_centred_square(size, band, side):
    window = low_frequency_mask(*size, band)
    assert window.shape == size and int(window.sum()) == side * side
    assert window[0, 0]  # the mean (DC) is always in it


def _zscored(x):
    return (x - x.mean(dim=(-2, -1), keepdim=True)) / x.std(dim=(-2, -1), keepdim=True, correction=0)


def test_fourier_style_transfer_with_its_own_amplitude_only_renormalises():
    image = torch.randn(3, 1, 32, 32) * 2 + 1
    same = fourier_style_transfer(image, torch.fft.fft2(image).abs(), band=0.1)
    assert torch.allclose(same, _zscored(image), atol=1e-5)


def test_fourier_style_transfer_takes_the_style_s_low_frequencies_and_keeps_the_rest():
    gen = torch.Generator().manual_seed(0)
    image, style = torch.randn(2, 1, 32, 32, generator=gen), torch.randn(2, 1, 32, 32, generator=gen) * 3
    styled = fourier_style_transfer(image, torch.fft.fft2(style).abs(), band=0.1)  # b = 3 cycles
    window = low_frequency_mask(32, 32, 0.1)
    before, after, wanted = torch.fft.fft2(image), torch.fft.fft2(styled), torch.fft.fft2(style).abs()
    # one positive scale per image (the z-scoring) relates the result's amplitude to the spliced one
    spliced = torch.where(window, wanted, before.abs())
    scale = after.abs()[..., 0, 1] / spliced[..., 0, 1]
    assert torch.allclose(after.abs()[..., ~window], scale[..., None] * before.abs()[..., ~window], rtol=1e-3, atol=1e-4)
    lit = window & (torch.arange(32)[:, None] + torch.arange(32)[None, :] > 0)  # the window without the mean
    assert torch.allclose(after.abs()[..., lit], scale[..., None] * wanted[..., lit], rtol=1e-3, atol=1e-4)
    # the phase, i.e. where things are, is the image's own
    phase_gap = torch.angle(after * before.conj())[..., lit | ~window]
    assert phase_gap.abs().max() < 1e-3
    assert torch.allclose(styled.mean(dim=(-2, -1)), torch.zeros(2, 1), atol=1e-5)
    assert torch.allclose(styled.std(dim=(-2, -1), correction=0), torch.ones(2, 1), atol=1e-5)


def test_augment_options_replace_only_the_named_fields():
    from aidemed.engine.config import augment_with

    cfg = augment_with(AugmentConfig(), {"rotate_degrees": 30, "scale_range": [0.75, 1.33], "noise_std": 0})
    assert cfg.rotate_degrees == 30.0 and cfg.scale_range == (0.75, 1.33) and cfg.noise_std == 0.0
    assert cfg.gamma_range == AugmentConfig().gamma_range and cfg.flip_prob == AugmentConfig().flip_prob


@pytest.mark.parametrize("overrides, named", [
    ({"rotate": 30}, "unknown augmentation option 'rotate'"),
    ({"scale_range": [1.2, 0.8]}, "scale_range must be [low, high]"),
    ({"gamma_range": 1.0}, "gamma_range must be [low, high]"),
    ({"flip_prob": 1.5}, "flip_prob is a probability"),
    ({"noise_std": -0.1}, "noise_std must be a number >= 0"),
    ({"rotate_degrees": "thirty"}, "rotate_degrees must be a number"),
])
def test_bad_augment_options_are_refused_with_the_option_named(overrides, named):
    from aidemed.engine.config import augment_with

    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("]", r"\]")):
        augment_with(AugmentConfig(), overrides)


def test_train_cli_augment_flags_reach_the_run_config_and_survive_its_json(tmp_path):
    import argparse

    from aidemed.cli.train import add_train_arguments, config_from_args
    from aidemed.engine.config import TrainConfig

    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    cfg = config_from_args(parser.parse_args(["--data", str(tmp_path), "--augment", "rotate_degrees=45",
                                              "--augment", "gamma_range=[0.7,1.5]"]))
    assert cfg.augment.rotate_degrees == 45.0 and cfg.augment.gamma_range == (0.7, 1.5)
    cfg.save(tmp_path / "config.json")
    assert TrainConfig.load(tmp_path / "config.json").augment == cfg.augment
    assert config_from_args(parser.parse_args(["--data", str(tmp_path)])).augment == AugmentConfig()
    with pytest.raises(SystemExit, match="--augment: unknown augmentation option 'rotation'"):
        config_from_args(parser.parse_args(["--data", str(tmp_path), "--augment", "rotation=3"]))
    with pytest.raises(SystemExit, match="--augment expects KEY=VALUE"):
        config_from_args(parser.parse_args(["--data", str(tmp_path), "--augment", "rotate_degrees"]))
