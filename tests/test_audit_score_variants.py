"""benchmarks/audit_score_variants.py: other per-mask scores against the model's probabilities."""

import numpy as np
import pytest
from script_support import benchmark_script


def _square(lo, hi, size=8):
    mask = np.zeros((size, size))
    mask[lo:hi, lo:hi] = 1
    return mask


def _scores(p, given):
    return benchmark_script("audit_score_variants").variant_scores(np.stack(p), np.stack(given))


def test_a_mask_the_confident_model_agrees_with_scores_zero():
    p = _square(2, 6)
    scores = _scores([p], [p])
    for name in ("disagreement", "soft_given", "confidence_weighted", "excess", "component_max"):
        assert scores[name][0] == pytest.approx(0.0), name


@pytest.mark.parametrize("name", ["disagreement", "confidence_weighted", "excess", "component_max"])
def test_a_spurious_blob_scores_above_the_right_mask(name):
    p = _square(2, 6) * 0.95
    blob = _square(2, 6)
    blob[7, 7] = 1
    scores = _scores([p, p], [_square(2, 6), blob])
    assert scores[name][1] > scores[name][0]


def test_the_model_s_doubt_discounts_confidence_weighted_and_excess():
    # the same given mask, the same model mask; the first model is sure, the second doubts (p = 0.6)
    given = _square(2, 6)
    model = _square(2, 7)
    sure, doubtful = model * 0.99 + 0.005, model * 0.6 + 0.2
    scores = _scores([sure, doubtful], [given, given])
    assert scores["disagreement"][0] == pytest.approx(scores["disagreement"][1])
    assert scores["confidence_weighted"][1] < scores["confidence_weighted"][0]
    assert scores["excess"][1] < scores["excess"][0]


def test_component_max_sees_a_missed_region_however_small():
    p = _square(2, 6) * 0.99
    p[7, 7] = 0.99  # the model sees a second, one-pixel lesion the given mask lacks
    scores = _scores([p], [_square(2, 6)])
    assert scores["component_max"][0] == pytest.approx(0.99)
    assert scores["disagreement"][0] < 0.1
