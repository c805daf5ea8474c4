import numpy as np
import pytest

from aidemed.metrics import (
    accuracy,
    auroc_per_finding,
    balanced_accuracy,
    bootstrap_ci,
    expected_calibration_error,
    f1_score,
    macro_auroc,
    roc_auc,
)


def pairwise_auc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    return np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])


def test_auroc_hand_computed_with_and_without_ties():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # positives 0.35, 0.8, 0.4 vs negatives 0.1, 0.4, 0.4: 1 + 3 + (1 + 0.5 + 0.5) = 6 of 9 pairs
    assert roc_auc([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.4, 0.4]) == pytest.approx(6 / 9)
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.5)
    assert roc_auc([1, 1, 0], [0.9, 0.8, 0.1]) == 1.0 and roc_auc([1, 1, 0], [0.1, 0.2, 0.9]) == 0.0
    assert np.isnan(roc_auc([1, 1, 1], [0.1, 0.2, 0.3]))


def test_auroc_matches_pairwise_counting_on_random_tied_scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50)
    s = rng.integers(0, 5, 50) / 4.0  # many ties
    assert roc_auc(y, s) == pytest.approx(pairwise_auc(y, s))


def test_auroc_per_finding_and_macro_skip_single_class_and_unknown_truths():
    y = np.array([[0, 1, 1], [1, 1, np.nan], [0, 1, 0], [1, 1, 1]])
    s = np.array([[0.2, 0.5, 0.9], [0.8, 0.4, 0.0], [0.3, 0.6, 0.1], [0.1, 0.7, 0.5]])
    per = auroc_per_finding(y, s)
    assert per[0] == pytest.approx(0.5)  # positives 0.8, 0.1 vs negatives 0.2, 0.3: 2 of 4 pairs
    assert np.isnan(per[1])  # one class only
    assert per[2] == pytest.approx(1.0)  # the NaN row is ignored: positives 0.9, 0.5 vs negative 0.1
    assert macro_auroc(y, s) == pytest.approx(0.75)
    assert np.isnan(macro_auroc(np.ones((3, 2)), np.zeros((3, 2))))


def test_accuracy_balanced_accuracy_f1_hand_computed():
    y = [0, 0, 0, 0, 1, 1]
    p = [0, 0, 0, 1, 1, 0]
    assert accuracy(y, p) == pytest.approx(4 / 6)
    assert balanced_accuracy(y, p) == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert f1_score(y, p) == pytest.approx(0.5)  # TP 1, FP 1, FN 1
    assert f1_score(y, p, average="macro") == pytest.approx((0.75 + 0.5) / 2)  # class 0: TP 3, FP 1, FN 1
    assert f1_score([0, 0], [0, 0]) == 0.0  # undefined -> 0
    # scores are thresholded (1-D) or argmaxed (2-D)
    assert accuracy(y, [0.1, 0.2, 0.3, 0.7, 0.6, 0.4]) == pytest.approx(4 / 6)
    assert accuracy([2, 0], [[0.1, 0.2, 0.7], [0.3, 0.6, 0.1]]) == 0.5
    assert balanced_accuracy([0, 1, 2, 2], [0, 1, 2, 0]) == pytest.approx((1 + 1 + 0.5) / 3)


def test_ece_two_bins_binary_and_top_label():
    # bin (0, .5]: p .2, .4 (mean .3) vs y mean .5; bin (.5, 1]: p .6, .9 (mean .75) vs y mean 1
    assert expected_calibration_error([0, 1, 1, 1], [0.2, 0.4, 0.6, 0.9], n_bins=2) == pytest.approx(
        0.5 * 0.2 + 0.5 * 0.25)
    probs = [[0.7, 0.2, 0.1], [0.4, 0.5, 0.1], [0.2, 0.2, 0.6], [0.9, 0.05, 0.05]]
    # confidences .7 .5 .6 .9, hits 1 0 1 0: bin 1 {.5}: |0 - .5| * 1/4; bin 2: |2/3 - 11/15| * 3/4
    assert expected_calibration_error([0, 0, 2, 1], probs, n_bins=2) == pytest.approx(0.125 + 0.75 * (11 / 15 - 2 / 3))
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0


def test_bootstrap_ci_contains_estimate_and_is_reproducible():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 80)
    s = np.clip(0.3 * y + rng.normal(0.35, 0.2, 80), 0, 1)
    ci = bootstrap_ci(roc_auc, y, s, n_boot=200, seed=3)
    value, low, high = ci
    assert value == pytest.approx(roc_auc(y, s))
    assert low <= value <= high and low < high
    assert tuple(bootstrap_ci(roc_auc, y, s, n_boot=200, seed=3)) == tuple(ci)
    assert tuple(bootstrap_ci(roc_auc, y, s, n_boot=200, seed=4)) != tuple(ci)
    assert ci.n_valid == 200 and ci.n_skipped == 0
    narrow = bootstrap_ci(roc_auc, y, s, n_boot=200, alpha=0.5, seed=3)
    assert low <= narrow.low <= narrow.high <= high


def test_bootstrap_skips_and_counts_undefined_resamples():
    ci = bootstrap_ci(roc_auc, np.array([0, 1, 0]), np.array([0.2, 0.9, 0.1]), n_boot=100, seed=0)
    assert ci.value == 1.0 and ci.n_skipped > 0 and ci.n_valid + ci.n_skipped == 100
    none_valid = bootstrap_ci(roc_auc, np.array([1, 1]), np.array([0.2, 0.9]), n_boot=10)
    assert np.isnan(none_valid.value) and np.isnan(none_valid.low) and none_valid.n_skipped == 10


def test_bootstrap_resamples_rows_of_multilabel_arrays():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (40, 3)).astype(float)
    s = y * 0.5 + rng.random((40, 3)) * 0.6
    value, low, high = bootstrap_ci(macro_auroc, y, s, n_boot=100)
    assert low <= value <= high
