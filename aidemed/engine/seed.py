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


def cpu_has_native_bf16() -> bool | None:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX); None when torch cannot tell."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if not all(callable(probe) for probe in probes):
        return None
    return any(probe() for probe in probes)


def warn_if_bf16_is_emulated(device: torch.device, cpu_bf16: bool) -> str | None:
    """--cpu-bf16 on a CPU without native bf16 runs, but slower than fp32 (emulated): say so once, before
    a run spends hours at that speed. Returns the message (None when there is nothing to say)."""
    import warnings

    if device.type != "cpu" or not cpu_bf16 or cpu_has_native_bf16() is not False:
        return None
    message = ("--cpu-bf16 on a CPU without AVX512-BF16 or AMX: bf16 is emulated there and training is "
               "several times slower than fp32 (lscpu shows the flags); train without --cpu-bf16")
    warnings.warn(message, RuntimeWarning, stacklevel=2)
    return message


def mixed_precision(device: torch.device, enabled: bool, cpu: bool = False):
    """bf16 autocast on CUDA when `enabled`, on the CPU when `cpu`; otherwise a no-op context."""
    import contextlib

    if device.type == "cuda" and enabled:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    if device.type == "cpu" and cpu:
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
