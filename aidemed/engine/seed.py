from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """An independent random stream per (seed, epoch): a resumed run repeats the same draws."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch * 7919 + stream * 104_729)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
    return torch.device(name)


def mixed_precision(device: torch.device, enabled: bool, cpu: bool = False):
    """bf16 autocast on CUDA when `enabled`, on the CPU when `cpu`; otherwise a no-op context."""
    import contextlib

    if device.type == "cuda" and enabled:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    if device.type == "cpu" and cpu:
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
