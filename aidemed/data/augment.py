"""Augmentation on whole batches of tensors (one affine grid per batch, no per-image Python loop).

Written here rather than with MONAI's per-sample dictionary transforms because training keeps the
whole data set in memory as tensors, and AIDE needs the same random views applied to images and
mapped back onto predictions, in a batch, on the device. Every random draw takes an explicit
torch.Generator so a run is reproducible and a resumed run repeats the same draws.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from aidemed.engine.config import AugmentConfig


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def random_affine(
    n: int,
    generator: torch.Generator,
    rotate_degrees: float,
    scale_range: tuple[float, float] = (1.0, 1.0),
    flip_prob: float = 0.5,
    apply_prob: float = 1.0,
) -> torch.Tensor:
    """(n, 2, 3) matrices in affine_grid's convention (output coordinates -> input coordinates)."""
    angle = _uniform(n, -rotate_degrees, rotate_degrees, generator) * math.pi / 180
    scale = _uniform(n, *scale_range, generator)
    flip = torch.where(torch.rand(n, generator=generator) < flip_prob, -1.0, 1.0)
    active = torch.rand(n, generator=generator) < apply_prob
    angle = torch.where(active, angle, torch.zeros_like(angle))
    scale = torch.where(active, scale, torch.ones_like(scale))
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos * flip, -sin
    theta[:, 1, 0], theta[:, 1, 1] = sin * flip, cos
    return theta


def invert_affine(theta: torch.Tensor) -> torch.Tensor:
    linear = theta[:, :, :2]
    inverse = torch.linalg.inv(linear)
    shift = -(inverse @ theta[:, :, 2:])
    return torch.cat([inverse, shift], dim=2)


def warp(x: torch.Tensor, theta: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Resample (B, C, H, W) by per-sample affine matrices; outside the frame is zero."""
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def warp_labels(labels: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """(B, H, W) integer label maps warped with nearest-neighbour sampling."""
    return warp(labels[:, None].float(), theta, mode="nearest")[:, 0].round().to(labels.dtype)


def intensity_augment(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    active = (torch.rand(n, generator=generator) < cfg.intensity_prob).to(x.device, x.dtype).view(n, 1, 1, 1)
    scale = _uniform(n, 1 - cfg.intensity_scale, 1 + cfg.intensity_scale, generator).to(x).view(n, 1, 1, 1)
    shift = _uniform(n, -cfg.intensity_shift, cfg.intensity_shift, generator).to(x).view(n, 1, 1, 1)
    gamma = _uniform(n, *cfg.gamma_range, generator).to(x).view(n, 1, 1, 1)
    # Gamma acts on a min-max rescaled copy so that it bends contrast without changing the range.
    low = x.amin(dim=(1, 2, 3), keepdim=True)
    high = x.amax(dim=(1, 2, 3), keepdim=True)
    unit = (x - low) / (high - low + 1e-6)
    bent = unit.clamp_min(0) ** gamma * (high - low) + low
    noise = torch.randn(x.shape, generator=generator).to(x) * cfg.noise_std
    augmented = bent * scale + shift + noise
    return active * augmented + (1 - active) * x


def augment_batch(
    image: torch.Tensor,
    labels: dict[str, torch.Tensor],
    cfg: AugmentConfig,
    generator: torch.Generator,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Same random spatial transform for the image and every label map, then intensity changes."""
    theta = random_affine(image.shape[0], generator, cfg.rotate_degrees, cfg.scale_range, cfg.flip_prob,
                          cfg.affine_prob)
    image = warp(image, theta)
    labels = {name: warp_labels(value, theta) for name, value in labels.items()}
    return intensity_augment(image, cfg, generator), labels


def low_frequency_mask(height: int, width: int, band: float) -> torch.Tensor:
    """(H, W) bool mask of the unshifted 2-D spectrum's frequencies within b = floor(band * min(H, W))
    cycles per image on both axes (FDA's centred square window, before fftshift)."""
    b = math.floor(band * min(height, width))
    fy = torch.fft.fftfreq(height) * height
    fx = torch.fft.fftfreq(width) * width
    return (fy.abs()[:, None] <= b) & (fx.abs()[None, :] <= b)


def fourier_style_transfer(image: torch.Tensor, style_amplitude: torch.Tensor, band: float) -> torch.Tensor:
    """Fourier Domain Adaptation (Yang & Soatto, CVPR 2020): each image keeps its phase (the anatomy) and
    takes its partner's low-frequency amplitude (brightness layout, gain, attenuation with depth), then
    is z-scored again, as every case is when the data set is cached. `image` and `style_amplitude`
    ((n, C, H, W), the partner's `torch.fft.fft2(...).abs()`) are paired row by row.

    Written here because MONAI has no cross-image spectral transform (its Fourier transforms filter or
    add k-space spikes to one image)."""
    height, width = image.shape[-2:]
    spectrum = torch.fft.fft2(image.float())
    window = low_frequency_mask(height, width, band).to(image.device)
    amplitude = torch.where(window, style_amplitude.to(spectrum.real), spectrum.abs())
    styled = torch.fft.ifft2(torch.polar(amplitude, spectrum.angle())).real
    per_case = (-3, -2, -1)  # over all of a case's channels, as `aidemed.data.cache.zscore`
    mean = styled.mean(dim=per_case, keepdim=True)
    std = styled.std(dim=per_case, keepdim=True, correction=0).clamp_min(1e-6)
    return ((styled - mean) / std).to(image.dtype)
