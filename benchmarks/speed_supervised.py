"""Training throughput of aidemed's supervised method against a plain MONAI loop (issue: foundation).

Same network (MONAI UNet as registered for --net), batch size, optimizer and loss family, same images
(the prepared dataset's training split at the profile's size, in memory). Three loops, interleaved
and repeated so that machine noise hits all of them alike:
  aidemed        Trainer + `supervised` method (batch augmentation, per-sample Dice+CE, logging)
  monai-plain    a bare loop: DataLoader over tensors, DiceCELoss, AdamW, no augmentation
  monai-augment  the usual MONAI loop: Dataset + dictionary transforms (flip, rotate, intensity)

    python benchmarks/speed_supervised.py --data DATA_DIR [--steps 20 --repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from aidemed.data.cache import load_arrays
from aidemed.bench.report import write_benchmark
from aidemed.data.manifest import load_dataset
from aidemed.engine.config import TrainConfig
from aidemed.engine.run import environment, semi_supervised_data
from aidemed.engine.trainer import Trainer
from aidemed.methods import get_method
from aidemed.nets import create_model


def aidemed_loop(cfg: TrainConfig, data, steps: int, run_dir: Path) -> float:
    cfg = TrainConfig(**{**cfg.__dict__, "iterations_per_epoch": steps, "epochs": 1, "progress": False})
    method = get_method("supervised")(cfg, data, torch.device("cpu"))

    class NoValidation:
        def score(self, networks, device):
            return 0.0

    trainer = Trainer(cfg, run_dir, torch.device("cpu"))
    history = trainer.fit(method, NoValidation(), meta={})["history"]
    return history[-1]["images_per_second"]


def _timed_steps(cfg: TrainConfig, in_channels: int, loader, steps: int, unpack) -> float:
    """images/s of `steps` optimiser steps of a freshly seeded network over the loader's batches."""
    from monai.losses import DiceCELoss

    torch.manual_seed(cfg.seed)
    net = create_model(cfg.net, in_channels, 2)
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    net.train()
    began, done = time.perf_counter(), 0
    while done < steps:
        for batch in loader:
            x, y = unpack(batch)
            optimizer.zero_grad()
            loss_fn(net(x), y).backward()
            optimizer.step()
            done += 1
            if done == steps:
                break
    return steps * cfg.batch_size / (time.perf_counter() - began)


def monai_plain_loop(cfg: TrainConfig, images: torch.Tensor, masks: torch.Tensor, steps: int) -> float:
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(images, masks[:, None]), batch_size=cfg.batch_size, shuffle=True, drop_last=True)
    return _timed_steps(cfg, images.shape[1], loader, steps, lambda batch: batch)


def monai_augment_loop(cfg: TrainConfig, images: torch.Tensor, masks: torch.Tensor, steps: int) -> float:
    from monai.data import DataLoader, Dataset
    from monai.transforms import Compose, RandFlipd, RandRotated, RandScaleIntensityd, RandShiftIntensityd

    transforms = Compose([
        RandFlipd(keys=["image", "label"], prob=0.5, spatial_axis=1),
        RandRotated(keys=["image", "label"], range_x=np.pi / 12, prob=0.7, mode=("bilinear", "nearest")),
        RandScaleIntensityd(keys="image", factors=0.15, prob=0.5),
        RandShiftIntensityd(keys="image", offsets=0.15, prob=0.5),
    ])
    items = [{"image": images[i], "label": masks[i][None].float()} for i in range(len(images))]
    loader = DataLoader(Dataset(items, transforms), batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                        num_workers=0)
    return _timed_steps(cfg, images.shape[1], loader, steps,
                        lambda batch: (batch["image"].as_tensor(), batch["label"].as_tensor()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--net", default="unet-small")
    parser.add_argument("--profile", default="standard")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/speed_supervised")
    args = parser.parse_args(argv)

    began = time.perf_counter()
    cfg = TrainConfig(data=str(Path(args.data).resolve()), net=args.net, profile=args.profile,
                      batch_size=args.batch_size)
    dataset = load_dataset(cfg.data)
    splits = dataset.load_splits()
    data = semi_supervised_data(dataset, load_arrays(dataset, cfg.profile), splits, 1.0)
    images, masks = data.images, data.masks
    out = Path(args.out)
    run_dir = out.parent / (out.name + "_scratch")

    loops = {
        "aidemed": lambda: aidemed_loop(cfg, data, args.steps, run_dir),
        "monai-plain": lambda: monai_plain_loop(cfg, images, masks, args.steps),
        "monai-augment": lambda: monai_augment_loop(cfg, images, masks, args.steps),
    }
    for fn in loops.values():  # warm-up: allocator, kernels, first-call costs
        fn()
    samples = {name: [] for name in loops}
    for _ in range(args.repeats):
        for name, fn in loops.items():
            samples[name].append(fn())
            print(f"{name}: {samples[name][-1]:.2f} images/s", flush=True)
    median = {name: statistics.median(v) for name, v in samples.items()}
    result = {
        "command": " ".join(["python", *sys.argv]),
        "images_per_second_median": median,
        "images_per_second_samples": samples,
        "ratio_aidemed_over_monai_plain": median["aidemed"] / median["monai-plain"],
        "ratio_aidemed_over_monai_augment": median["aidemed"] / median["monai-augment"],
        "net": args.net, "size": int(images.shape[-1]), "batch_size": args.batch_size, "steps_per_sample": args.steps,
        "repeats": args.repeats, "n_train_images": len(images), "environment": environment(),
        "wall_seconds": time.perf_counter() - began,
    }
    md = [
        f"Network {args.net}, {result['size']} x {result['size']}, batch {args.batch_size}, AdamW; "
        f"{args.repeats} interleaved repeats of {args.steps} steps after one warm-up each; median reported.", "",
        "| loop | images/s (median) | samples |", "|---|---|---|",
        *[f"| {n} | {median[n]:.2f} | {', '.join(f'{s:.2f}' for s in samples[n])} |" for n in loops], "",
        f"Ratio aidemed / monai-plain: **{result['ratio_aidemed_over_monai_plain']:.3f}** (target >= 0.95); "
        f"aidemed / monai-augment: {result['ratio_aidemed_over_monai_augment']:.3f}.",
    ]
    shutil.rmtree(run_dir, ignore_errors=True)
    print(write_benchmark(out, result, "Supervised training throughput: aidemed vs plain MONAI loops", md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
