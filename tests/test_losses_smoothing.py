import math

import pytest
import torch
import torch.nn.functional as F

from aidemed.losses import (
    GeneralizedCrossEntropy,
    GeneralizedLSBCE,
    GeneralizedLSCrossEntropy,
    SoftTargetBCE,
    SymmetricCrossEntropy,
    generalized_ls_bce,
    generalized_ls_cross_entropy,
    soft_target_bce,
)

LN = math.log


def soft_ce(p, t):
    return sum(-ti * LN(pi) for pi, ti in zip(p, t))


# p = (1/4, 3/4) from logits (0, ln 3); p = (1/8, 2/8, 5/8) from logits (0, ln 2, ln 5)
CASES = [((0.0, LN(3)), 1, (0.25, 0.75)), ((0.0, LN(2), LN(5)), 2, (1 / 8, 2 / 8, 5 / 8))]


@pytest.mark.parametrize("logits,y,p", CASES)
@pytest.mark.parametrize("r", [0.0, 0.2, -0.2, 1.0])
def test_ce_matches_hand_computed_soft_target(logits, y, p, r):
    k = len(p)
    target = [(1 - r) * (c == y) + r / k for c in range(k)]
    got = generalized_ls_cross_entropy(torch.tensor([logits]), torch.tensor([y]), r)
    assert got.item() == pytest.approx(soft_ce(p, target), abs=1e-6)


def test_ce_hand_values_as_numbers():
    logits, y = torch.tensor([[0.0, LN(3)]]), torch.tensor([1])
    # -ln .75; .9 (-ln .75) + .1 (-ln .25); 1.1 (-ln .75) - .1 (-ln .25); (-ln .75 - ln .25) / 2
    expected = {0.0: 0.2876821, 0.2: 0.3975433, -0.2: 0.1778209, 1.0: 0.8369882}
    for r, value in expected.items():
        assert generalized_ls_cross_entropy(logits, y, r).item() == pytest.approx(value, abs=1e-6)
    logits3 = torch.tensor([[0.0, LN(2), LN(5)]])
    assert generalized_ls_cross_entropy(logits3, torch.tensor([2]), -0.2).item() == pytest.approx(
        1.2 * LN(8 / 5) - 0.2 * (LN(8) + LN(4) + LN(8 / 5)) / 3, abs=1e-6)


def test_ce_identity_and_per_sample_rates():
    torch.manual_seed(0)
    logits, y = torch.randn(6, 4), torch.randint(0, 4, (6,))
    r = torch.tensor([0.0, 0.2, -0.2, 1.0, -0.5, 0.7])
    got = generalized_ls_cross_entropy(logits, y, r, reduction="none")
    logp = F.log_softmax(logits, 1)
    identity = (1 - r) * F.cross_entropy(logits, y, reduction="none") + r * (-logp).mean(1)
    target = (1 - r)[:, None] * F.one_hot(y, 4) + r[:, None] / 4
    assert torch.allclose(got, identity, atol=1e-6)
    assert torch.allclose(got, (-target * logp).sum(1), atol=1e-6)
    for i in range(6):
        one = generalized_ls_cross_entropy(logits[i:i + 1], y[i:i + 1], r[i].item())
        assert one.item() == pytest.approx(got[i].item(), abs=1e-6)
    assert generalized_ls_cross_entropy(logits, y, r).item() == pytest.approx(got.mean().item(), abs=1e-6)
    total = generalized_ls_cross_entropy(logits, y, r, reduction="sum")
    assert total.item() == pytest.approx(got.sum().item(), abs=1e-5)
    assert torch.allclose(generalized_ls_cross_entropy(logits, y, 0.0, reduction="none"),
                          F.cross_entropy(logits, y, reduction="none"), atol=1e-6)


def test_ce_sample_mask():
    torch.manual_seed(0)
    logits, y = torch.randn(4, 3, requires_grad=True), torch.tensor([0, 1, 2, 0])
    mask = torch.tensor([True, False, True, False])
    loss = generalized_ls_cross_entropy(logits, y, 0.3, mask=mask)
    full = generalized_ls_cross_entropy(logits, y, 0.3, reduction="none")
    assert loss.item() == pytest.approx(full[mask].mean().item(), abs=1e-6)
    loss.backward()
    assert (logits.grad[~mask] == 0).all()


@pytest.mark.parametrize("y,r,t", [(1, 0.0, 1.0), (1, 0.2, 0.9), (1, -0.2, 1.1), (1, 1.0, 0.5), (0, 0.2, 0.1),
                                   (0, -0.2, -0.1)])
def test_bce_matches_hand_computed(y, r, t):
    x = torch.tensor([[LN(3)]])  # sigmoid = 3/4
    expected = -t * LN(0.75) - (1 - t) * LN(0.25)
    assert generalized_ls_bce(x, torch.tensor([[float(y)]]), r).item() == pytest.approx(expected, abs=1e-6)


def test_bce_numbers_per_entry_rates_and_agreement_with_torch():
    x = torch.tensor([[LN(3), LN(3)]])
    got = generalized_ls_bce(x, torch.tensor([[1.0, 0.0]]), torch.tensor([[-0.2, 0.2]]), reduction="none")
    assert got[0, 0].item() == pytest.approx(0.1778209, abs=1e-6)  # t = 1.1
    assert got[0, 1].item() == pytest.approx(1.2764334, abs=1e-6)  # t = 0.1
    torch.manual_seed(0)
    logits, y = torch.randn(5, 3), torch.randint(0, 2, (5, 3)).float()
    r = torch.rand(5, 3) * 0.6 - 0.1
    t = (1 - r) * y + r / 2
    ok = t.clamp(0, 1) == t
    ref = F.binary_cross_entropy_with_logits(logits, t.clamp(0, 1), reduction="none")
    assert torch.allclose(generalized_ls_bce(logits, y, r, reduction="none")[ok], ref[ok], atol=1e-6)
    assert torch.allclose(soft_target_bce(logits, t, reduction="none"),
                          generalized_ls_bce(logits, y, r, reduction="none"), atol=1e-6)


def test_bce_masked_findings_contribute_nothing():
    torch.manual_seed(0)
    logits = torch.randn(4, 3, requires_grad=True)
    y = torch.tensor([[1.0, 0.0, float("nan")], [0.0, 1.0, 1.0], [float("nan"), 0.0, 1.0], [1.0, 1.0, 0.0]])
    mask = ~torch.isnan(y)
    r = torch.full((4, 3), -0.2)
    loss = generalized_ls_bce(logits, y, r, mask=mask)
    none = generalized_ls_bce(logits, y, r, mask=mask, reduction="none")
    assert (none[~mask] == 0).all()
    assert loss.item() == pytest.approx(none[mask].mean().item(), abs=1e-6)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and (logits.grad[~mask] == 0).all()
    other = logits.detach().clone()
    other[~mask] = 100.0  # changing blank entries changes nothing
    assert generalized_ls_bce(other, y, r, mask=mask).item() == pytest.approx(loss.item(), abs=1e-6)
    assert generalized_ls_bce(logits, y, 0.1, mask=torch.zeros(4, 3, dtype=torch.bool)).item() == 0.0


def test_rates_above_one_are_rejected():
    logits = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="<= 1"):
        generalized_ls_cross_entropy(logits, torch.tensor([0, 1]), 1.2)
    with pytest.raises(ValueError, match="<= 1"):
        generalized_ls_cross_entropy(logits, torch.tensor([0, 1]), torch.tensor([0.1, 1.01]))
    with pytest.raises(ValueError, match="<= 1"):
        generalized_ls_bce(logits, torch.zeros(2, 3), torch.full((2, 3), 1.5))
    with pytest.raises(ValueError, match="<= 1"):
        GeneralizedLSCrossEntropy(rate=2.0)
    with pytest.raises(ValueError, match="reduction"):
        generalized_ls_bce(logits, torch.zeros(2, 3), 0.1, reduction="avg")


def test_gradients_are_finite_including_negative_rates_and_large_logits():
    logits = torch.tensor([[50.0, -50.0, 0.0], [-30.0, 30.0, 1.0]], requires_grad=True)
    for r in (-0.5, -0.2, 0.0, 0.4, 1.0):
        logits.grad = None
        generalized_ls_cross_entropy(logits, torch.tensor([1, 0]), r).backward()
        assert torch.isfinite(logits.grad).all()
        logits.grad = None
        generalized_ls_bce(logits, torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), r).backward()
        assert torch.isfinite(logits.grad).all()


def test_modules_wrap_the_functions():
    torch.manual_seed(0)
    logits, y = torch.randn(3, 2), torch.tensor([0, 1, 1])
    assert GeneralizedLSCrossEntropy(0.2)(logits, y).item() == pytest.approx(
        generalized_ls_cross_entropy(logits, y, 0.2).item())
    assert GeneralizedLSCrossEntropy(0.2)(logits, y, rate=-0.1).item() == pytest.approx(
        generalized_ls_cross_entropy(logits, y, -0.1).item())
    t = torch.tensor([[0.7, 0.0], [1.0, 0.6], [0.0, 0.0]])
    assert SoftTargetBCE()(logits, t).item() == pytest.approx(F.binary_cross_entropy_with_logits(logits, t).item())
    assert GeneralizedLSBCE(-0.2, reduction="sum")(logits, (t > 0.5).float()).item() == pytest.approx(
        generalized_ls_bce(logits, (t > 0.5).float(), -0.2, reduction="sum").item())


def test_gce_and_sce_hand_values():
    x, y = torch.tensor([[0.0, LN(3)]]), torch.tensor([1])  # p_y = 3/4
    assert GeneralizedCrossEntropy()(x, y).item() == pytest.approx((1 - 0.75 ** 0.7) / 0.7, abs=1e-6)
    assert GeneralizedCrossEntropy(q=1.0)(x, y).item() == pytest.approx(0.25, abs=1e-6)  # MAE
    assert GeneralizedCrossEntropy(q=1e-4)(x, y).item() == pytest.approx(-LN(0.75), abs=1e-4)  # q -> 0: CE
    mask = torch.tensor([[True, False]])  # the second finding (label 0, p = 1/4) is blank
    gce_ml = GeneralizedCrossEntropy(multilabel=True)(torch.tensor([[LN(3), LN(3)]]), torch.tensor([[1.0, 0.0]]), mask)
    assert gce_ml.item() == pytest.approx((1 - 0.75 ** 0.7) / 0.7, abs=1e-6)
    sce = SymmetricCrossEntropy(alpha=0.1, beta=1.0)(x, y)
    assert sce.item() == pytest.approx(0.1 * -LN(0.75) + 4 * 0.25, abs=1e-6)
    logits = torch.randn(4, 3, requires_grad=True)
    (GeneralizedCrossEntropy()(logits, torch.tensor([0, 1, 2, 0])) + SymmetricCrossEntropy()(
        logits, torch.tensor([0, 1, 2, 0]))).backward()
    assert torch.isfinite(logits.grad).all()
