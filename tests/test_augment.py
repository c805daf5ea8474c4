import math

import torch

from aidemed.data.augment import augment_batch, invert_affine, random_affine, warp, warp_labels
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
