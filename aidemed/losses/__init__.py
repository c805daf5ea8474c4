"""Losses: segmentation (Dice + CE per sample), generalized label smoothing, robust classification losses,
and the rate policies that map report certainty to smoothing rates."""

from aidemed.losses.rate_policies import (
    DEFAULT_CERTAINTY_RATES,
    GRADE_DIRECTION,
    AdaptivePolicy,
    RatePolicy,
    SmoothedLabels,
    WarmupSchedule,
    get_rate_policy,
    list_rate_policies,
    register_rate_policy,
)
from aidemed.losses.segmentation import PerSampleDiceCE, soft_consistency
from aidemed.losses.smoothing import (
    GeneralizedCrossEntropy,
    GeneralizedLSBCE,
    GeneralizedLSCrossEntropy,
    SoftTargetBCE,
    SymmetricCrossEntropy,
    generalized_ls_bce,
    generalized_ls_cross_entropy,
    smoothed_binary_targets,
    soft_target_bce,
)

__all__ = [
    "DEFAULT_CERTAINTY_RATES",
    "GRADE_DIRECTION",
    "AdaptivePolicy",
    "GeneralizedCrossEntropy",
    "GeneralizedLSBCE",
    "GeneralizedLSCrossEntropy",
    "PerSampleDiceCE",
    "RatePolicy",
    "SmoothedLabels",
    "SoftTargetBCE",
    "SymmetricCrossEntropy",
    "WarmupSchedule",
    "generalized_ls_bce",
    "generalized_ls_cross_entropy",
    "get_rate_policy",
    "list_rate_policies",
    "register_rate_policy",
    "smoothed_binary_targets",
    "soft_consistency",
    "soft_target_bce",
]
