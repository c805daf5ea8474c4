"""A timm-style registry of networks, built on MONAI's: `create_model(name, ...)`, `list_models()`.

Adding a variant is adding one registered factory. Segmentation factories take
(in_channels, out_channels); classification factories (task="classification") take
(in_channels, num_classes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch.nn as nn


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: str
    factory: Callable[..., nn.Module]
    description: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, task: str = "segmentation", description: str = ""):
    def decorator(factory):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelEntry(name, task, factory, description or (factory.__doc__ or "").strip())
        return factory

    return decorator


def list_models(task: str | None = None) -> list[str]:
    return sorted(n for n, e in _REGISTRY.items() if task is None or e.task == task)


def get_entry(name: str) -> ModelEntry:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _REGISTRY[name]


def create_model(name: str, in_channels: int = 1, out_channels: int = 2, **kwargs) -> nn.Module:
    return get_entry(name).factory(in_channels, out_channels, **kwargs)
