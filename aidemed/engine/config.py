"""The run configuration: plain data, saved as JSON beside the checkpoints (nnU-Net's plans spirit)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path


@dataclass
class AugmentConfig:
    flip_prob: float = 0.5  # horizontal flip
    rotate_degrees: float = 15.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    affine_prob: float = 0.7
    intensity_prob: float = 0.5
    intensity_scale: float = 0.15  # multiplicative, +/-
    intensity_shift: float = 0.15  # additive, +/-, in z-score units
    gamma_range: tuple[float, float] = (0.8, 1.25)
    noise_std: float = 0.05


@dataclass
class TrainConfig:
    data: str = ""
    method: str = "supervised"
    net: str = "unet-small"
    profile: str = "standard"
    labelled_fraction: float = 1.0
    # Which training data a run builds (aidemed.engine.run.SETTINGS; docs/robustness.md):
    # semi (label budget) | noisy (every given mask may be wrong) | domain-adaptation (+ target_data)
    setting: str = "semi"
    trusted_fraction: float = 0.0  # noisy: the nested budget of expert-verified masks, never rewritten
    target_data: str = ""  # domain-adaptation: the unlabelled target dataset (prepared folder)
    seed: int = 0
    epochs: int = 40
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"  # adamw | adam | sgd
    scheduler: str = "poly"  # poly | cosine | none
    iterations_per_epoch: int = 0  # 0: one pass over the training images (labelled and not)
    val_every: int = 1
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # mixed precision (bf16) on CUDA
    # bf16 autocast on the CPU as well: about 1.5x faster training steps on CPUs with AMX or AVX512-BF16,
    # off by default because older CPUs emulate bf16 slowly and the numbers differ slightly from fp32.
    cpu_bf16: bool = False
    # torch.compile every network (inductor; needs a C++ compiler on the CPU). About 1.6-1.9x faster
    # training steps for unet-base on the CPU once compiled; the first run pays tens of seconds of
    # compilation, later ones read torch's on-disk kernel cache. Kernels differ, so numbers move slightly.
    compile: bool = False
    # Networks in channels-last memory layout: oneDNN's convolutions run faster on it (about 1.2x per
    # training step for unet-base on the CPU, more with `compile`); the layout only, not the model.
    channels_last: bool = False
    num_threads: int = 0  # 0: leave torch's default
    # Also keep checkpoints/epoch-NNN.pt every `keep_every` epochs (0: only last.pt and best.pt), to study
    # how the model changes over training (e.g. benchmarks/audit_with_checkpoints.py); each is a last.pt.
    keep_every: int = 0
    # Also validate an exponential moving average of each trained network's weights (decay per optimiser
    # step; 0: off) as one more candidate for the kept model ("model_ema", "A_ema", ...). Validation Dice
    # jitters from epoch to epoch on a small val split, and selecting the best epoch picks from that
    # jitter; the average moves smoothly (timm's ModelEma, the weights mean_teacher's teacher already has).
    weight_ema: float = 0.0
    # Start every network from these weights (`aidemed pretrain`'s output, a folder or its pretrained.pt):
    # all tensors whose names and shapes match, i.e. all but the output layer. "": random initialisation.
    init_weights: str = ""
    progress: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    method_args: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        values = dict(data)
        if isinstance(values.get("augment"), dict):
            values["augment"] = augment_with(AugmentConfig(), values["augment"])
        return cls(**values)

    def save(self, path: Path) -> None:
        from aidemed.data.manifest import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))


def augment_with(base: AugmentConfig, overrides: dict) -> AugmentConfig:
    """`base` with some fields replaced (`--augment KEY=VALUE`), each checked: a known field, a number, and
    for the ranges a [low, high] pair with low <= high."""
    known = {f.name for f in fields(AugmentConfig)}
    values = {}
    for key, value in overrides.items():
        if key not in known:
            raise ValueError(f"unknown augmentation option {key!r}; known: {', '.join(sorted(known))}")
        if key.endswith("_range"):
            if not (isinstance(value, (list, tuple)) and len(value) == 2
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
                    and value[0] <= value[1]):
                raise ValueError(f"augmentation option {key} must be [low, high] with low <= high, got {value!r}")
            values[key] = (float(value[0]), float(value[1]))
        else:
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"augmentation option {key} must be a number >= 0, got {value!r}")
            if key.endswith("_prob") and value > 1:
                raise ValueError(f"augmentation option {key} is a probability (0 to 1), got {value!r}")
            values[key] = float(value)
    return replace(base, **values)


def merge_method_args(defaults, overrides: dict):
    """Fill a method's dataclass of defaults from the run's method_args, rejecting unknown keys."""
    known = {f.name for f in fields(defaults)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown options for {type(defaults).__name__}: {sorted(unknown)} (known: {sorted(known)})")
    return replace(defaults, **overrides)  # a new instance, so the options' own checks (__post_init__) run
