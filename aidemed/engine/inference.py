"""Prediction: at the training profile's size for validation, and in each case's own geometry for
test scoring and `aidemed predict` (probabilities resized back, then argmax)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from aidemed.data.cache import resize_image
from aidemed.engine.checkpoint import CheckpointError, load_checkpoint
from aidemed.nets import create_model


@torch.no_grad()
def predict_probs(networks: list[nn.Module], images: torch.Tensor, batch_size: int = 32,
                  device: torch.device | None = None, flip: bool = False) -> torch.Tensor:
    """Softmax averaged over the networks, (N, K, S, S) on the CPU; networks are put in eval mode.

    `flip`: also predict the horizontally mirrored images, mirror back and average (test-time
    augmentation; left-right is a symmetry of the anatomy in most 2D views, as in nnU-Net's mirroring).
    """
    device = device or next(networks[0].parameters()).device
    for net in networks:
        net.eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(device)
        probs = sum(torch.softmax(net(x).float(), dim=1) for net in networks) / len(networks)
        if flip:
            mirrored = sum(torch.softmax(net(x.flip(-1)).float(), dim=1) for net in networks) / len(networks)
            probs = (probs + mirrored.flip(-1)) / 2
        outputs.append(probs.cpu())
    return torch.cat(outputs) if outputs else torch.empty(0)


@torch.no_grad()
def adapt_batchnorm(networks: list[nn.Module], images: torch.Tensor, batch_size: int = 64,
                    flip: bool = True) -> int:
    """Replace every batch-norm layer's running statistics with those of `images` (N, C, S, S): AdaBN
    (Li et al., 2018), the cheapest adaptation to a new site, whose scanner shifts intensity and texture
    statistics more than shape. Weights are untouched; with `flip` the mirrored images count too.
    Returns how many layers were adapted (0: the networks have no batch norm, nothing changed)."""
    if len(images) == 0:
        raise ValueError("adapt_batchnorm: no images to take the statistics from")
    adapted = 0
    for net in networks:
        layers = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        momenta = [m.momentum for m in layers]
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None  # a cumulative average over the batches, not an exponential one
        net.eval()  # dropout and the like as at inference: the statistics are those the model will see
        for layer in layers:
            layer.train()
        device = next(net.parameters()).device
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device)
            net(x)
            if flip:
                net(x.flip(-1))
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        net.eval()
        adapted += len(layers)
    return adapted


def per_case_dice(pred: torch.Tensor, target: torch.Tensor, case_index: torch.Tensor, num_cases: int,
                  num_classes: int) -> torch.Tensor:
    """Foreground-mean Dice per case from per-sample label maps; slices of a volume pool together.
    Empty rule as in aidemed.metrics: a class absent from both prediction and truth scores 1."""
    scores = []
    for c in range(1, num_classes):
        p, t = (pred == c).flatten(1), (target == c).flatten(1)
        tp = torch.zeros(num_cases).index_add_(0, case_index, (p & t).sum(1).float())
        total = torch.zeros(num_cases).index_add_(0, case_index, (p.sum(1) + t.sum(1)).float())
        scores.append(torch.where(total > 0, 2 * tp / total.clamp(min=1), torch.ones_like(total)))
    return torch.stack(scores, 1).mean(1)


class Predictor:
    """The selected model of a run (one network, or an ensemble) at its training resolution."""

    def __init__(self, networks: list[nn.Module], size: int, num_classes: int, device: torch.device,
                 in_channels: int = 1, flip: bool = False):
        self.networks, self.size, self.num_classes, self.device = networks, size, num_classes, device
        self.in_channels, self.flip = in_channels, flip

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: torch.device | str = "cpu", flip: bool = False) -> "Predictor":
        state = load_checkpoint(path)
        try:
            meta = state["meta"]
            networks = []
            for weights in state["networks"]:
                net = create_model(meta["net"], meta["in_channels"], meta["num_classes"])
                net.load_state_dict(weights)
                networks.append(net.to(device).eval())
        except (KeyError, RuntimeError, TypeError) as exc:
            raise CheckpointError(f"{path}: not a usable aidemed model checkpoint ({exc})") from exc
        return cls(networks, int(meta["size"]), int(meta["num_classes"]), torch.device(device),
                   int(meta["in_channels"]), flip)

    def probs_at_size(self, images: np.ndarray) -> torch.Tensor:
        """(N, C, H, W) z-scored full-resolution samples -> (N, K, S, S) probabilities."""
        resized = torch.from_numpy(np.stack([resize_image(img, self.size) for img in images]))
        return predict_probs(self.networks, resized, device=self.device, flip=self.flip)

    def adapt_batchnorm(self, images: Iterable[np.ndarray]) -> int:
        """AdaBN on these z-scored (C, H, W) or (C, Z, X, Y) images (every slice of a volume counts). Each
        is resized as it comes, so a generator keeps only the model-size samples in memory."""
        resized = [resize_image(s, self.size) for image in images
                   for s in (np.moveaxis(image, 1, 0) if image.ndim == 4 else image[None])]
        return adapt_batchnorm(self.networks, torch.from_numpy(np.stack(resized)) if resized else torch.empty(0))

    def predict_case(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(C, H, W) or (C, Z, X, Y) z-scored image -> (label map, probabilities) in its own geometry."""
        volume = image.ndim == 4
        samples = np.moveaxis(image, 1, 0) if volume else image[None]  # (N, C, H, W)
        probs = self.probs_at_size(samples)
        probs = F.interpolate(probs, size=samples.shape[-2:], mode="bilinear", align_corners=False)
        labels = probs.argmax(1).numpy().astype(np.uint8)
        probs = probs.numpy()
        if volume:
            return labels, np.moveaxis(probs, 0, 1)
        return labels[0], probs[0]
