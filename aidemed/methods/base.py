"""What every training method shares. A method holds the model logic (networks, optimisers, losses,
what a step does); the loop that owns epochs, devices, precision, validation and checkpoints is
`aidemed.engine.trainer.Trainer`, as in Lightning.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from aidemed.data.augment import augment_batch
from aidemed.engine.config import AugmentConfig, TrainConfig
from aidemed.engine.pretrain import load_matching, read_pretrained
from aidemed.nets import create_model


@dataclass
class TrainData:
    """The training samples of one run, in memory.

    `has_label`: a mask is given for training (ground truth, or a noisy mask in the noisy setting).
    `trusted`: the given mask is ground truth that no method may rewrite.
    """

    images: torch.Tensor  # (N, C, S, S) float32
    masks: torch.Tensor  # (N, S, S) int64, zeros where has_label is False
    has_label: torch.Tensor  # (N,) bool
    trusted: torch.Tensor  # (N,) bool
    case_ids: np.ndarray  # (N,) str
    num_classes: int

    def __len__(self) -> int:
        return len(self.images)

    @property
    def in_channels(self) -> int:
        return self.images.shape[1]

    def indices(self, which: torch.Tensor) -> torch.Tensor:
        return torch.nonzero(which, as_tuple=False).flatten()

    def subset(self, index: torch.Tensor) -> "TrainData":
        """These samples only, in this order."""
        return TrainData(images=self.images[index], masks=self.masks[index], has_label=self.has_label[index],
                         trusted=self.trusted[index], case_ids=self.case_ids[index.numpy()],
                         num_classes=self.num_classes)


@dataclass
class StepContext:
    """What the loop gives a method for one step."""

    epoch: int
    step: int
    generator: torch.Generator
    device: torch.device
    augment: AugmentConfig
    autocast: Callable[[], contextlib.AbstractContextManager]
    data: TrainData
    logs: dict = field(default_factory=dict)

    def batch(self, index: torch.Tensor, labels: dict[str, torch.Tensor],
              image: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Augmented images and label maps for these sample indices, on the device. `image`: these
        samples' images as the method changed them (AIDE's `fda_band`), instead of the data set's."""
        image = self.data.images[index] if image is None else image
        image, labels = augment_batch(image, labels, self.augment, self.generator)
        return image.to(self.device, non_blocking=True), {k: v.to(self.device, non_blocking=True) for k, v in labels.items()}


class Method:
    """Base class; subclasses are registered with `@register_method(name)`."""

    name = "base"
    Options = None  # a dataclass of method-specific options with their defaults
    # Per-setting defaults that replace the dataclass's for runs of that setting (plain data, like
    # nnU-Net's plans); the run's own method_args still override them. `resolved_options()` is what ran.
    setting_options: dict[str, dict] = {}

    def __init__(self, cfg: TrainConfig, data: TrainData, device: torch.device):
        self.cfg, self.data, self.device = cfg, data, device
        self.options = self._options(cfg.method_args)
        self.networks: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.averaged: dict[str, nn.Module] = {}  # weight EMA of each network (cfg.weight_ema > 0)
        self.sample_loss_sum = torch.zeros(len(data), dtype=torch.float64)
        self.sample_loss_steps = torch.zeros(len(data), dtype=torch.float64)
        self.init_report: dict[str, dict] = {}  # per network: the pretrained tensors loaded (cfg.init_weights)
        self._pretrained = None

    def _options(self, overrides: dict):
        return self.check_options(self.cfg.setting, overrides)

    @classmethod
    def check_options(cls, setting: str, overrides: dict):
        """The method's options for a run of this setting; unknown keys raise ValueError (a sweep checks
        every run's options this way before it trains the first)."""
        from aidemed.engine.config import merge_method_args

        if cls.Options is None:
            if overrides:
                raise ValueError(f"method {cls.name!r} takes no method options, got {sorted(overrides)}")
            return None
        return merge_method_args(cls.Options(), cls.method_args_for(setting, overrides))

    @classmethod
    def method_args_for(cls, setting: str, method_args: dict) -> dict:
        """The run's method_args over the method's preset for this setting."""
        return {**cls.setting_options.get(setting, {}), **method_args}

    def resolved_options(self) -> dict:
        """Every option this run used (defaults, setting preset and method_args merged)."""
        return {} if self.options is None else asdict(self.options)

    # ----- building blocks for subclasses
    def new_network(self, key: str, seed_offset: int = 0) -> nn.Module:
        torch.manual_seed(self.cfg.seed * 7 + seed_offset)
        layout = torch.channels_last if self.cfg.channels_last else torch.preserve_format
        # Before the optimiser exists, so its state tensors take the parameters' layout.
        net = create_model(self.cfg.net, self.data.in_channels, self.data.num_classes)
        if self.cfg.init_weights:
            self.init_report[key] = load_matching(net, self._pretrained_weights())
        net = net.to(self.device, memory_format=layout)
        optimizer = make_optimizer(self.cfg, net.parameters())
        self.networks[key], self.optimizers[key] = net, optimizer
        self.schedulers[key] = make_scheduler(self.cfg, optimizer)
        if self.cfg.weight_ema:
            self.averaged[key] = copy.deepcopy(net).requires_grad_(False)
        return net

    def _pretrained_weights(self) -> dict[str, torch.Tensor]:
        if self._pretrained is None:
            self._pretrained = read_pretrained(self.cfg.init_weights, self.cfg.net, self.data.in_channels)
        return self._pretrained

    def record_sample_losses(self, index: torch.Tensor, losses: torch.Tensor) -> None:
        """Add each sample's training loss against its *given* mask to its running sum. Masks that are
        wrong stay harder to fit than right ones through training, so the mean over the run ranks
        suspect masks for `aidemed audit` (the small-loss criterion of co-teaching and O2U-Net)."""
        index = index.cpu()
        self.sample_loss_sum.index_add_(0, index, losses.detach().float().cpu().double())
        self.sample_loss_steps.index_add_(0, index, torch.ones(len(index), dtype=torch.float64))

    def step_optimizer(self, key: str, loss: torch.Tensor) -> None:
        optimizer = self.optimizers[key]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if key in self.averaged:
            ema_update(self.averaged[key], self.networks[key], self.cfg.weight_ema)

    # ----- the interface the loop calls
    def setup(self) -> None:
        raise NotImplementedError

    def epoch_pool(self) -> torch.Tensor:
        """Sample indices an epoch iterates over (cycled to the epoch's length)."""
        return self.data.indices(self.data.has_label)

    def training_step(self, index: torch.Tensor, ctx: StepContext) -> dict[str, float]:
        raise NotImplementedError

    def on_epoch_start(self, epoch: int, ctx: StepContext) -> dict:
        return {}

    def on_epoch_end(self, epoch: int, ctx: StepContext) -> dict:
        for scheduler in self.schedulers.values():
            scheduler.step()
        return {}

    def compile_networks(self) -> None:
        """Compile, in place, every network the method trains or validates (`nn.Module.compile` keeps the
        state-dict keys, so checkpoints stay interchangeable with uncompiled runs)."""
        modules = [*self.networks.values(), *(net for group in self.validation_candidates().values() for net in group)]
        for net in {id(net): net for net in modules}.values():
            net.compile()

    def candidates(self) -> dict[str, list[nn.Module]]:
        """Models to validate: name -> networks whose softmax outputs are averaged."""
        return {key: [net] for key, net in self.networks.items()}

    def validation_candidates(self) -> dict[str, list[nn.Module]]:
        """`candidates()` and, with weight_ema, each candidate again made of the averaged networks
        (name + "_ema"); a candidate with a network that has no average (mean_teacher's teacher) has none."""
        found = dict(self.candidates())
        if self.averaged:
            key_of = {id(net): key for key, net in self.networks.items()}
            for name, nets in list(found.items()):
                keys = [key_of.get(id(net)) for net in nets]
                if all(k in self.averaged for k in keys):
                    found[f"{name}_ema"] = [self.averaged[k] for k in keys]
        return found

    def state_dict(self) -> dict:
        return {
            "networks": {k: v.state_dict() for k, v in self.networks.items()},
            "averaged": {k: v.state_dict() for k, v in self.averaged.items()},
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()},
            "extra": self.extra_state(),
            "sample_losses": {"sum": self.sample_loss_sum, "steps": self.sample_loss_steps},
        }

    def load_state_dict(self, state: dict) -> None:
        for group in ("networks", "optimizers", "schedulers"):
            for key, value in state[group].items():
                getattr(self, group)[key].load_state_dict(value)
        for key, value in state.get("averaged", {}).items():  # older checkpoints have none
            self.averaged[key].load_state_dict(value)
        self.load_extra_state(state.get("extra", {}))
        if "sample_losses" in state:  # checkpoints from before it was recorded have none
            self.sample_loss_sum = state["sample_losses"]["sum"].clone()
            self.sample_loss_steps = state["sample_losses"]["steps"].clone()

    def extra_state(self) -> dict:
        """Tensors or plain data a method keeps between epochs (e.g. AIDE's label copies)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass


@torch.no_grad()
def ema_update(average: nn.Module, current: nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * current, over the whole state dict: floating tensors
    (weights and batch-norm statistics) are averaged, integer ones (BN's batch counter) copied. By hand,
    not torch.optim.swa_utils.AveragedModel: the average stays a plain network of the registered
    architecture, so its state dict is a model checkpoint as it is (no wrapper keys, no counter)."""
    for a, c in zip(average.state_dict().values(), current.state_dict().values()):
        if a.dtype.is_floating_point:
            a.mul_(decay).add_(c, alpha=1 - decay)
        else:
            a.copy_(c)


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.99, nesterov=True, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r} (adamw, adam, sgd)")


def make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer):
    epochs = max(cfg.epochs, 1)
    if cfg.scheduler == "poly":  # nnU-Net's schedule
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: max(1 - e / epochs, 0.0) ** 0.9)
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if cfg.scheduler == "none":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0)
    raise ValueError(f"unknown scheduler {cfg.scheduler!r} (poly, cosine, none)")
