import itertools

import numpy as np
import pytest
import torch

from aidemed.losses import (
    DEFAULT_CERTAINTY_RATES,
    WarmupSchedule,
    generalized_ls_bce,
    get_rate_policy,
    list_rate_policies,
)
from aidemed.losses.rate_policies import GRADES, NEGATIVE_CHAIN, POSITIVE_CHAIN, check_rate_map, grade_from_score
from aidemed.reports.grades import (
    CANNOT_EXCLUDE,
    DEFINITE,
    GRADE_LABELS,
    GRADE_SCORES,
    NEGATED,
    POSSIBLE,
    PROBABLE,
    UNLIKELY,
)

NAN = float("nan")


def test_registry_lists_every_policy_and_names_them_on_error():
    assert set(list_rate_policies()) >= {"certainty", "constant", "u_ones", "u_zeros", "u_ignore", "lsr", "adaptive"}
    with pytest.raises(ValueError, match="certainty"):
        get_rate_policy("nope")


def test_certainty_default_map_and_its_targets():
    grades = list(GRADES)  # definite ... negated
    labels = [GRADE_LABELS[g] for g in grades]
    out = get_rate_policy("certainty")(labels, grades=grades)
    assert out.rates.tolist() == pytest.approx([-0.2, 0.4, 0.8, 1.0, 0.4, -0.2])
    assert out.targets.tolist() == [1, 1, 1, 1, 0, 0] and out.mask.all()
    assert out.soft_targets().tolist() == pytest.approx([1.1, 0.8, 0.6, 0.5, 0.2, -0.1])
    soft = out.soft_targets()
    assert all(a > b for a, b in zip(soft, soft[1:]))  # ordered like the grade scores
    assert DEFAULT_CERTAINTY_RATES == {DEFINITE: -0.2, PROBABLE: 0.4, POSSIBLE: 0.8, CANNOT_EXCLUDE: 1.0,
                                       UNLIKELY: 0.4, NEGATED: -0.2}


def test_certainty_reads_scores_or_bare_labels_and_masks_blanks():
    policy = get_rate_policy("certainty")
    labels = [[1, -1, 0, None], [-1, NAN, -1, 0]]
    scores = [[1.0, 0.75, 0.0, None], [0.3, None, 0.15, 0.0]]
    out = policy(labels, scores=scores)
    assert out.mask.tolist() == [[True, True, True, False], [True, False, True, True]]
    assert np.allclose(out.rates, [[-0.2, 0.4, -0.2, 0.0], [1.0, 0.0, 0.4, -0.2]])
    assert out.targets.tolist() == [[1, 1, 0, 0], [1, 0, 0, 0]]
    bare = policy([1, -1, 0, None])  # 1 -> definite, -1 -> possible, 0 -> negated
    assert bare.rates.tolist() == pytest.approx([-0.2, 0.8, -0.2, 0.0])
    assert grade_from_score(0.7) == PROBABLE and grade_from_score(None) is None
    zeros = get_rate_policy("certainty", blank="zeros", blank_rate=0.1)([None, 1])
    assert zeros.mask.tolist() == [True, True] and zeros.targets.tolist() == [0, 1]
    assert zeros.rates.tolist() == pytest.approx([0.1, -0.2])


def test_certainty_rejects_bad_input_and_bad_maps():
    policy = get_rate_policy("certainty")
    with pytest.raises(ValueError, match="contradicts"):
        policy([0], grades=[DEFINITE])
    with pytest.raises(ValueError, match="unknown grade"):
        policy([1], grades=["certain"])
    with pytest.raises(ValueError, match="CheXpert"):
        policy([2])
    with pytest.raises(ValueError, match="<= 1"):
        get_rate_policy("certainty", rates={CANNOT_EXCLUDE: 1.2})
    with pytest.raises(ValueError, match="monotone"):
        get_rate_policy("certainty", rates={PROBABLE: 0.9})  # more than possible's 0.8
    custom = get_rate_policy("certainty", rates={DEFINITE: 0.0, NEGATED: 0.0})
    assert custom.rates_for([DEFINITE, POSSIBLE, None]).tolist() == pytest.approx([0.0, 0.8, 0.0])


def test_constant_and_chexpert_policies():
    labels = [1, 0, -1, None]
    grades = [DEFINITE, NEGATED, UNLIKELY, None]
    c = get_rate_policy("constant", rate=-0.1)(labels, grades)
    assert c.targets.tolist() == [1, 0, 1, 0] and c.rates.tolist() == pytest.approx([-0.1, -0.1, -0.1, 0])
    assert c.mask.tolist() == [True, True, True, False]
    assert get_rate_policy("constant", rate=0.3, uncertain="grade")(labels, grades).targets.tolist() == [1, 0, 0, 0]
    assert get_rate_policy("constant", rate=0.2).rates_for([DEFINITE, None]).tolist() == pytest.approx([0.2, 0.2])
    ones, zeros, ignore = (get_rate_policy(n)(labels) for n in ("u_ones", "u_zeros", "u_ignore"))
    assert ones.targets.tolist() == [1, 0, 1, 0] and ones.mask.tolist() == [True, True, True, False]
    assert zeros.targets.tolist() == [1, 0, 0, 0] and zeros.mask.tolist() == [True, True, True, False]
    assert ignore.mask.tolist() == [True, True, False, False]
    assert not ones.rates.any() and not zeros.rates.any() and not ignore.rates.any()
    with pytest.raises(ValueError):
        get_rate_policy("constant", rate=1.5)


def test_lsr_soft_targets_are_seeded_and_in_range():
    labels = np.array([[-1, 1, 0, -1], [None, -1, -1, 1]], dtype=object)
    a = get_rate_policy("lsr", seed=0)(labels)
    unc = np.array([[1, 0, 0, 1], [0, 1, 1, 0]], bool)
    assert ((a.targets[unc] >= 0.55) & (a.targets[unc] <= 0.85)).all()
    assert a.targets[~unc & a.mask].tolist() == [1, 0, 1] and not a.rates.any()
    assert np.array_equal(a.targets, get_rate_policy("lsr", seed=0)(labels).targets)
    assert not np.array_equal(a.targets, get_rate_policy("lsr", seed=1)(labels).targets)
    z = get_rate_policy("lsr", mode="zeros")(labels)
    assert ((z.targets[unc] >= 0.0) & (z.targets[unc] <= 0.3)).all()
    loss = generalized_ls_bce(torch.zeros(2, 4), *a.to_torch())  # logits 0: loss = ln 2 whatever the target
    assert loss.item() == pytest.approx(np.log(2), abs=1e-6)


def _brute_force_monotone(cost, grid):
    best = {}
    for chain in (POSITIVE_CHAIN, NEGATIVE_CHAIN):
        combos = [c for c in itertools.product(grid, repeat=len(chain)) if all(b >= a for a, b in zip(c, c[1:]))]
        pick = min(combos, key=lambda c: sum(cost[g][r] for g, r in zip(chain, c)))
        best.update(zip(chain, pick))
    return best


def test_adaptive_fit_sharpens_trusted_grades_and_softens_unreliable_ones():
    rng = np.random.default_rng(0)
    n = 40
    # definite: truth always 1, model under-confident at 0.7 -> sharpen (most negative rate on the grid)
    # possible: truth 50/50, model over-confident at 0.95 -> soften fully (rate 1)
    probs = np.r_[np.full(n, 0.7), np.full(n, 0.95)]
    truth = np.r_[np.ones(n), rng.permutation(np.r_[np.ones(n // 2), np.zeros(n // 2)])]
    grades = [DEFINITE] * n + [POSSIBLE] * n
    policy = get_rate_policy("adaptive").fit(probs, truth, grades)
    m = policy.rate_map
    assert m[DEFINITE] == -0.4 and m[POSSIBLE] == 1.0 and m[CANNOT_EXCLUDE] == 1.0
    assert m[PROBABLE] == 0.4 and m[NEGATED] == -0.2 and m[UNLIKELY] == 0.4  # no data: closest to the defaults
    check_rate_map(m)
    assert policy([1, -1], grades=[DEFINITE, POSSIBLE]).rates.tolist() == pytest.approx([-0.4, 1.0])


def test_adaptive_fit_is_the_best_monotone_map():
    rng = np.random.default_rng(1)
    grades = rng.choice(list(GRADES), 300)
    truth = rng.integers(0, 2, 300).astype(float)
    probs = np.clip(rng.random(300) * 0.5 + 0.5 * truth * (grades == DEFINITE), 0.01, 0.99)
    truth[:10] = np.nan  # unknown truths are ignored
    policy = get_rate_policy("adaptive").fit(probs, truth, grades)
    assert policy.fitted
    expected = _brute_force_monotone(policy.fit_scores, policy.grid)
    total = lambda m: sum(policy.fit_scores[g][m[g]] for g in GRADES)  # noqa: E731
    assert total(policy.rate_map) == pytest.approx(total(expected), abs=1e-12)
    check_rate_map(policy.rate_map)
    auroc = get_rate_policy("adaptive", criterion="auroc", grid=(-0.2, 0.0, 0.5, 1.0)).fit(probs, truth, grades)
    check_rate_map(auroc.rate_map)
    assert set(auroc.rate_map.values()) <= {-0.2, 0.0, 0.5, 1.0}


def test_warmup_schedule():
    w = WarmupSchedule(2)
    assert [w.factor(e) for e in range(4)] == [0.0, 0.0, 1.0, 1.0]
    rates = np.array([-0.2, 0.4])
    assert not w(rates, 1).any() and w(rates, 2).tolist() == [-0.2, 0.4]
    assert torch.equal(w(torch.tensor([0.4]), 0), torch.tensor([0.0]))
    ramp = WarmupSchedule(1, ramp_epochs=2)
    assert [ramp.factor(e) for e in range(4)] == [0.0, 0.5, 1.0, 1.0]
    assert WarmupSchedule(0).factor(0) == 1.0


def test_policy_output_feeds_the_bce():
    out = get_rate_policy("certainty")([[1, -1, None], [0, 0, -1]], scores=[[1.0, 0.5, None], [0.0, 0.0, 0.15]])
    targets, rates, mask = out.to_torch()
    logits = torch.zeros(2, 3, requires_grad=True)
    loss = generalized_ls_bce(logits, targets, rates, mask)
    loss.backward()
    assert torch.isfinite(loss) and logits.grad[0, 2] == 0
    # d/dx (softplus(x) - t x) at 0 = 1/2 - t, averaged over the 5 labelled entries
    expected = (0.5 - torch.tensor(out.soft_targets())) / 5 * torch.tensor(out.mask)
    assert torch.allclose(logits.grad, expected.float(), atol=1e-6)
    assert GRADE_SCORES[UNLIKELY] == 0.15  # the scores above are the labeler's


def _val_statements(right_per_grade: dict, n: int = 10):
    """n val statements per grade, `right` of them with the truth on the grade's side."""
    from aidemed.losses.rate_policies import GRADE_DIRECTION

    y, g = [], []
    for grade, right in right_per_grade.items():
        d = GRADE_DIRECTION[grade]
        y += [d] * right + [1 - d] * (n - right)
        g += [grade] * n
    return np.array(y, float), np.array(g, object)


def test_adaptive_reliability_turns_val_accuracy_into_rates():
    y, g = _val_statements({"definite": 9, "probable": 5, "possible": 2, "cannot_exclude": 1, "unlikely": 7,
                            "negated": 10})
    policy = get_rate_policy("adaptive", criterion="reliability", prior_strength=0)
    policy.fit(np.full(len(y), np.nan), y, g)  # the model's probabilities are not used
    # r = 2 (1 - accuracy), capped at 1, snapped to the grid
    assert policy.rate_map == {"definite": 0.2, "probable": 1.0, "possible": 1.0, "cannot_exclude": 1.0,
                               "unlikely": 0.6, "negated": 0.0}


def test_adaptive_reliability_shrinks_to_the_default_and_stays_monotone():
    # definite right 8/10 (r 0.4) but probable 10/10 (r 0.0): the monotone fit pools them at 0.2
    y, g = _val_statements({"definite": 8, "probable": 10})
    fitted = get_rate_policy("adaptive", criterion="reliability", prior_strength=0).fit(np.zeros(len(y)), y, g)
    assert fitted.rate_map["definite"] == fitted.rate_map["probable"] == 0.2
    # no val statements of a grade: its default accuracy (cannot_exclude: rate 1.0) decides
    assert fitted.rate_map["cannot_exclude"] == 1.0
    # with pseudo-counts a grade seen twice moves only part of the way from its default
    y, g = _val_statements({"possible": 2}, n=2)  # always right: alone it would ask for rate 0
    shrunk = get_rate_policy("adaptive", criterion="reliability", prior_strength=4).fit(np.zeros(2), y, g)
    assert shrunk.rate_map["possible"] == 0.6  # accuracy (2 + 4 * 0.6) / 6 = 0.733 -> r 0.53 -> grid 0.6
    with pytest.raises(ValueError, match="prior_strength"):
        get_rate_policy("adaptive", criterion="reliability", prior_strength=-1)
