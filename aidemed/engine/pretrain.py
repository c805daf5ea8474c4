"""Self-supervised pretraining by image restoration (Models Genesis: Zhou et al., Medical Image Analysis
2021), and loading its weights into the networks a method trains (`TrainConfig.init_weights`).

The network learns to restore a training image from a corrupted copy of it: a non-linear intensity
mapping, local pixel shuffling, and in-painting or out-painting (regions replaced by noise). No mask is
read, so every training image of a label-budget run teaches the encoder and decoder what breast tissue
and lesions look like before the few masks teach where the lesion is. The corruptions are MONAI's
(`RandHistogramShift`, `RandCoarseShuffle`, `RandCoarseDropout`, the pieces of MONAI's own
self-supervised tutorial); only the loop is written here, because `aidemed.engine.trainer.Trainer`
selects models by validation Dice and a restoration model has none.

The pretrained network is the registered segmentation network with one output per image channel;
fine-tuning loads every tensor whose name and shape match (all but the output layer) into each network
a method builds. A method with two networks (AIDE, cps) gets the same pretrained body in both and
different random output layers, as two networks on one ImageNet backbone do in CPS.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from aidemed.data.augment import augment_batch
from aidemed.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from aidemed.engine.config import AugmentConfig, TrainConfig, augment_with
from aidemed.engine.seed import epoch_generator, mixed_precision

FORMAT = "aidemed-pretrained-v1"
CORRUPTION_STREAM = 0x9E7E5  # separates the corruption draws from the geometric augmentation's


@dataclass
class PretrainConfig:
    data: str = ""
    # More prepared datasets whose `splits` images are restored too (e.g. a new site's unlabelled images
    # for domain adaptation); the val images stay `data`'s.
    extra_data: tuple[str, ...] = ()
    net: str = "unet-base"
    profile: str = "standard"
    splits: tuple[str, ...] = ("train",)  # whose images are restored; never the test split
    seed: int = 0
    epochs: int = 100
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    scheduler: str = "cosine"
    # Models Genesis' probabilities: each corruption is drawn independently per image.
    nonlinear_prob: float = 0.9
    shuffle_prob: float = 0.5
    paint_prob: float = 0.9
    outpaint_share: float = 0.5  # of the painted images, the share out-painted (the rest in-painted)
    device: str = "auto"
    cpu_bf16: bool = False
    amp: bool = True
    channels_last: bool = False
    compile: bool = False
    num_threads: int = 0
    progress: bool = True
    # Flips, rotations and scaling only: the corruptions above change the intensities.
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(intensity_prob=0.0))

    def __post_init__(self):
        self.splits = tuple(self.splits)
        self.extra_data = tuple(self.extra_data)
        if "test" in self.splits:
            raise ValueError("pretraining on the test split's images would leak them into every model scored on it")
        for name in ("nonlinear_prob", "shuffle_prob", "paint_prob", "outpaint_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability (0 to 1), got {getattr(self, name)!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be at least 1, got {self.epochs} and {self.batch_size}")

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict) -> "PretrainConfig":
        values = {k: v for k, v in data.items() if k in {f.name for f in fields(cls)}}
        if isinstance(values.get("augment"), dict):
            values["augment"] = augment_with(AugmentConfig(), values["augment"])
        return cls(**values)


# Settings that change where and how fast pretraining runs, not what it learns.
RUNTIME_ONLY = ("device", "num_threads", "progress", "compile", "channels_last")


def corruption(cfg: PretrainConfig, size: int):
    """The restoration task's input corruption for one (C, S, S) image, sized for S x S images
    (Models Genesis' proportions: in-painted holes 1/6-1/3 of the side, out-painting keeps windows of
    3/7-4/7, shuffled blocks up to 1/10)."""
    from monai.transforms import (Compose, Identity, OneOf, RandCoarseDropout, RandCoarseShuffle,
                                  RandHistogramShift)

    inpaint = RandCoarseDropout(holes=1, max_holes=5, spatial_size=max(1, size // 6),
                                max_spatial_size=max(1, size // 3), dropout_holes=True, prob=1.0)
    outpaint = RandCoarseDropout(holes=1, max_holes=5, spatial_size=max(1, 3 * size // 7),
                                 max_spatial_size=max(1, 4 * size // 7), dropout_holes=False, prob=1.0)
    paint = cfg.paint_prob
    weights = [paint * (1 - cfg.outpaint_share), paint * cfg.outpaint_share, 1 - paint]
    keep = [(t, w) for t, w in zip((inpaint, outpaint, Identity()), weights) if w > 0]
    return Compose([
        RandHistogramShift(num_control_points=(5, 10), prob=cfg.nonlinear_prob),
        RandCoarseShuffle(holes=20, max_holes=60, spatial_size=2, max_spatial_size=max(2, size // 10),
                          prob=cfg.shuffle_prob),
        OneOf([t for t, _ in keep], weights=[w for _, w in keep]),
    ])


def corrupt_batch(images: torch.Tensor, transform, state: np.random.RandomState) -> torch.Tensor:
    """Each image of (B, C, S, S) corrupted independently, the random draws taken from `state`."""
    transform.set_random_state(state=state)
    out = [torch.as_tensor(np.asarray(transform(image.numpy())), dtype=torch.float32) for image in images]
    return torch.stack(out)


def restoration_network(name: str, in_channels: int) -> nn.Module:
    from aidemed.nets import create_model

    return create_model(name, in_channels, in_channels)


def pretrain(cfg: PretrainConfig, out_dir: str | Path, resume: bool = False) -> dict:
    """Train the restoration task; write OUT/pretrained.pt (the final epoch's weights), OUT/metrics.csv
    (restoration loss per epoch, train and val) and OUT/results.json. A finished folder with the same
    config is returned as it is; an interrupted one continues from OUT/last.pt with `resume`."""
    from aidemed.data.cache import resolve_size
    from aidemed.data.manifest import atomic_write_text
    from aidemed.engine.history import write_history
    from aidemed.engine.run import environment, prepare_run
    from aidemed.engine.trainer import require_compiler
    from aidemed.methods.base import make_optimizer, make_scheduler

    out = Path(out_dir)
    if _guard(cfg, out, resume):
        return json.loads((out / "results.json").read_text())
    device, dataset, splits, arrays = prepare_run(cfg)
    images = _training_images(cfg, _split_images(dataset, splits, arrays, cfg.splits))
    val_images = torch.from_numpy(arrays.select_cases(splits["val"]).images) if "val" not in cfg.splits else None
    size = resolve_size(cfg.profile)

    torch.manual_seed(cfg.seed)
    layout = torch.channels_last if cfg.channels_last else torch.preserve_format
    net = restoration_network(cfg.net, images.shape[1]).to(device, memory_format=layout)
    loop_cfg = TrainConfig(optimizer=cfg.optimizer, lr=cfg.lr, weight_decay=cfg.weight_decay,
                           scheduler=cfg.scheduler, epochs=cfg.epochs)
    optimizer, history, start = make_optimizer(loop_cfg, net.parameters()), [], 0
    scheduler = make_scheduler(loop_cfg, optimizer)
    if resume and (out / "last.pt").is_file():
        state = load_checkpoint(out / "last.pt", map_location=device)
        net.load_state_dict(state["network"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, start = list(state["history"]), int(state["epoch"]) + 1
    if cfg.compile:
        require_compiler(device)
        net.compile()
    transform = corruption(cfg, size)
    autocast = lambda: mixed_precision(device, cfg.amp, cfg.cpu_bf16)  # noqa: E731
    val_state = _fixed_val_corruption(val_images, transform, cfg.seed)
    for epoch in range(start, cfg.epochs):
        began = time.perf_counter()
        row = {"epoch": epoch, "train_mse": _restoration_epoch(net, optimizer, images, transform, cfg, epoch,
                                                              device, autocast, layout),
               "lr": optimizer.param_groups[0]["lr"]}
        scheduler.step()
        if val_state is not None:
            row["val_mse"] = _restoration_mse(net, *val_state, device, autocast, layout)
        row["epoch_seconds"] = time.perf_counter() - began
        history.append(row)
        write_history(out, history)
        save_checkpoint(out / "last.pt", {"epoch": epoch, "network": net.state_dict(), "optimizer": optimizer.state_dict(),
                                          "scheduler": scheduler.state_dict(), "history": history,
                                          "config": cfg.to_dict()})
        _print_epoch(cfg, row)
    save_checkpoint(out / "pretrained.pt", {
        "format": FORMAT, "net": cfg.net, "in_channels": int(images.shape[1]), "size": size,
        "network": net.state_dict(), "config": cfg.to_dict(),
    })
    result = {"config": cfg.to_dict(), "dataset": dataset.info.name, "n_images": len(images),
              "splits": list(cfg.splits), "final": history[-1],
              "train_seconds": float(sum(r["epoch_seconds"] for r in history)), "environment": environment()}
    atomic_write_text(out / "results.json", json.dumps(result, indent=2, default=float) + "\n")
    return result


def _restoration_epoch(net, optimizer, images, transform, cfg: PretrainConfig, epoch: int, device, autocast,
                       layout) -> float:
    """One pass over the images in a seeded order; the mean training loss. The geometric augmentation
    and the corruptions draw from streams of (seed, epoch), so a resumed run repeats them."""
    generator = epoch_generator(cfg.seed, epoch)
    state = np.random.RandomState((cfg.seed * 1_000_003 + epoch * 7919 + CORRUPTION_STREAM) % 2**32)
    order = torch.randperm(len(images), generator=generator)
    steps = max(1, math.ceil(len(images) / cfg.batch_size))
    net.train()
    total = 0.0
    for step in range(steps):
        index = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
        target, _ = augment_batch(images[index], {}, cfg.augment, generator)
        corrupted = corrupt_batch(target, transform, state)
        with autocast():
            restored = net(corrupted.to(device, memory_format=layout))
        loss = F.mse_loss(restored.float(), target.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
    return total / steps


def _print_epoch(cfg: PretrainConfig, row: dict) -> None:
    if cfg.progress:
        val = f", val MSE {row['val_mse']:.4f}" if "val_mse" in row else ""
        print(f"pretrain epoch {row['epoch'] + 1}/{cfg.epochs}: train MSE {row['train_mse']:.4f}{val} "
              f"({row['epoch_seconds']:.1f} s)", flush=True)


def _training_images(cfg: PretrainConfig, primary: torch.Tensor) -> torch.Tensor:
    """`data`'s `splits` images (`primary`, already loaded) and those of every `extra_data` dataset, one tensor."""
    from aidemed.data.cache import load_arrays
    from aidemed.data.manifest import load_dataset

    parts = [primary]
    for root in cfg.extra_data:
        extra = load_dataset(root)
        part = _split_images(extra, extra.load_splits(), load_arrays(extra, cfg.profile), cfg.splits)
        if part.shape[1:] != primary.shape[1:]:
            raise ValueError(f"{root}: images of shape {tuple(part.shape[1:])}, {cfg.data}'s are "
                             f"{tuple(primary.shape[1:])} (channels must match)")
        parts.append(part)
    return torch.cat(parts)


def _split_images(dataset, splits: dict, arrays, names: tuple[str, ...]) -> torch.Tensor:
    unknown = [s for s in names if s not in splits]
    if unknown:
        raise ValueError(f"{dataset.root}: the split file has no split {unknown} (has {sorted(splits)})")
    return torch.from_numpy(arrays.select_cases([c for s in names for c in splits[s]]).images)


def _guard(cfg: PretrainConfig, out: Path, resume: bool) -> bool:
    """True when OUT already holds this finished pretraining; errors when it holds another config or an
    unfinished run without `resume`."""
    from aidemed.data.manifest import atomic_write_text
    from aidemed.engine.run import differing_keys

    saved = out / "config.json"
    current = cfg.to_dict()
    if saved.is_file():
        previous = PretrainConfig.from_dict(json.loads(saved.read_text())).to_dict()
        changed = [k for k in differing_keys(previous, current) if k not in RUNTIME_ONLY]
        if changed:
            raise ValueError(f"{saved}: this folder holds a pretraining with another config (differs in {changed}); "
                             "use a new output folder")
        if (out / "pretrained.pt").is_file() and (out / "results.json").is_file():
            return True
        if not resume and (out / "last.pt").is_file():
            raise ValueError(f"{out}: holds an unfinished pretraining; pass --resume to continue it")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(saved, json.dumps(current, indent=2) + "\n")
    return False


def _fixed_val_corruption(val_images, transform, seed: int):
    """The val images and one fixed corruption of them, so val MSE is comparable between epochs."""
    if val_images is None or len(val_images) == 0:
        return None
    state = np.random.RandomState((seed + CORRUPTION_STREAM) % 2**32)
    return corrupt_batch(val_images, transform, state), val_images


@torch.no_grad()
def _restoration_mse(net, corrupted, target, device, autocast, layout) -> float:
    net.eval()
    total = 0.0
    for start in range(0, len(corrupted), 32):
        x = corrupted[start:start + 32].to(device, memory_format=layout)
        with autocast():
            restored = net(x)
        total += float(F.mse_loss(restored.float(), target[start:start + 32].to(device), reduction="sum"))
    return total / target.numel()


# ----- fine-tuning from pretrained weights

def read_pretrained(path: str | Path, net_name: str, in_channels: int) -> dict[str, torch.Tensor]:
    """The network weights of an `aidemed pretrain` output (OUT/pretrained.pt or OUT), checked against
    the network the run builds."""
    path = Path(path)
    if path.is_dir():
        path = path / "pretrained.pt"
    state = load_checkpoint(path)
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an `aidemed pretrain` output (format {state.get('format')!r}, "
                              f"expected {FORMAT!r})")
    if state["net"] != net_name:
        raise ValueError(f"{path}: pretrained network is {state['net']!r}, but this run builds {net_name!r} "
                         f"(pass --net {state['net']} or pretrain {net_name})")
    if int(state["in_channels"]) != in_channels:
        raise ValueError(f"{path}: pretrained on {state['in_channels']}-channel images, this run's have {in_channels}")
    return state["network"]


def load_matching(net: nn.Module, weights: dict[str, torch.Tensor]) -> dict:
    """Copy every tensor whose name and shape match into `net` (the output layer, sized for the
    restoration's channels, keeps its random initialisation). Returns what was loaded and left out."""
    own = net.state_dict()
    matching = {k: v for k, v in weights.items() if k in own and own[k].shape == v.shape}
    if not matching:
        raise ValueError("no pretrained tensor matches this network's names and shapes")
    net.load_state_dict(matching, strict=False)
    left_out = sorted(set(own) - set(matching))
    return {"loaded": len(matching), "of": len(own), "left_out": left_out}

