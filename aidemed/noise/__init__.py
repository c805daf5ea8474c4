"""Label-noise simulators: seeded corruptions of segmentation masks and class labels.

    from aidemed.noise import get_noise_model, corrupt_dataset
    noisy, record = get_noise_model("mixed").corrupt(mask, np.random.default_rng(0))
    corrupt_dataset("prepared/busi", "prepared/busi-noisy", model="mixed", fraction=0.5, seed=0)

See docs/noise.md.
"""

from aidemed.noise.dataset import corrupt_dataset, read_noise_records
from aidemed.noise.labels import asymmetric, instance_dependent, symmetric
from aidemed.noise.masks import (
    MASK_CORRUPTIONS,
    NoiseModel,
    affine,
    coarse_outline,
    elastic_jitter,
    erode_dilate,
    get_noise_model,
    list_noise_models,
    mask_dice,
    missed_lesion,
    register_corruption,
    spurious_blob,
)

__all__ = [
    "MASK_CORRUPTIONS",
    "NoiseModel",
    "affine",
    "asymmetric",
    "coarse_outline",
    "corrupt_dataset",
    "elastic_jitter",
    "erode_dilate",
    "get_noise_model",
    "instance_dependent",
    "list_noise_models",
    "mask_dice",
    "missed_lesion",
    "read_noise_records",
    "register_corruption",
    "spurious_blob",
    "symmetric",
]
