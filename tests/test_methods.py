"""Every registered method trains end to end; AIDE's pieces do what the algorithm says."""

import contextlib
import math
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from aidemed.data.augment import fourier_style_transfer
from aidemed.engine.config import AugmentConfig, TrainConfig
from aidemed.engine.inference import Predictor, predict_probs
from aidemed.engine.run import train
from aidemed.methods import TrainData, get_method, list_methods
from aidemed.methods.base import StepContext
from aidemed.methods.aide import (AIDE, confidence, cutmix_boxes, largest_component, multi_view_target, paste,
                                  per_sample_dice)


@pytest.mark.parametrize("method", list_methods())
def test_every_method_trains_and_scores(method, fast_config, tmp_path):
    result = train(replace(fast_config, method=method), tmp_path / method)
    assert 0.0 <= result["test"]["dice"] <= 1.0
    history = [json.loads(l) for l in (tmp_path / method / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(row["train_loss"]) for row in history)
    if getattr(get_method(method), "needs_bootstrap", False):
        assert (tmp_path / method / "bootstrap" / "results.json").is_file()


def test_bootstrap_run_is_reused_and_must_match(fast_config, tmp_path):
    train(fast_config, tmp_path / "sup")
    aide = replace(fast_config, method="aide", method_args={"bootstrap_run": str(tmp_path / "sup")})
    train(aide, tmp_path / "aide")
    assert not (tmp_path / "aide" / "bootstrap").exists()
    other = replace(aide, seed=3)
    with pytest.raises(ValueError, match=r"another config.*differs in seed: 0 there, 3 needed\)"):
        train(other, tmp_path / "aide-other")


def test_ensemble_selection_keeps_both_networks_and_averages_them(fast_config, tmp_path):
    aide = replace(fast_config, method="aide", method_args={"select": "ensemble"})
    result = train(aide, tmp_path / "aide")
    assert result["best"]["candidate"] == "ensemble"
    history = [json.loads(l) for l in (tmp_path / "aide" / "metrics.jsonl").read_text().splitlines()]
    assert all("val_dice_ensemble" in row and "val_dice_A" not in row for row in history)
    predictor = Predictor.from_checkpoint(tmp_path / "aide" / "checkpoints" / "best.pt")
    assert len(predictor.networks) == 2
    images = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        by_hand = sum(torch.softmax(net.eval()(images), dim=1) for net in predictor.networks) / 2
    assert torch.allclose(predict_probs(predictor.networks, images), by_hand, atol=1e-6)
    with pytest.raises(ValueError, match="select must be 'best' or 'ensemble'"):
        train(replace(fast_config, method="aide", method_args={"select": "mean"}), tmp_path / "bad")
    assert not (tmp_path / "bad" / "bootstrap").exists()  # refused before any training


def test_two_bootstrap_rounds_train_pseudo_label_on_the_supervised_masks(fast_config, tmp_path):
    aide = replace(fast_config, method="aide", method_args={"bootstrap_rounds": 2})
    train(aide, tmp_path / "aide")
    round2 = json.loads((tmp_path / "aide" / "bootstrap_round2" / "results.json").read_text())["config"]
    assert round2["method"] == "pseudo_label"
    assert round2["method_args"]["bootstrap_run"] == str((tmp_path / "aide" / "bootstrap").resolve())
    assert (tmp_path / "aide" / "bootstrap" / "results.json").is_file()


def test_bootstrap_run_of_two_rounds_must_be_a_pseudo_label_run(fast_config, tmp_path):
    train(fast_config, tmp_path / "sup")
    pseudo = replace(fast_config, method="pseudo_label", method_args={"bootstrap_run": str(tmp_path / "sup")})
    train(pseudo, tmp_path / "pseudo")
    two_rounds = replace(fast_config, method="aide", method_args={"bootstrap_rounds": 2})
    train(replace(two_rounds, method_args={**two_rounds.method_args, "bootstrap_run": str(tmp_path / "pseudo")}),
          tmp_path / "aide")
    assert not (tmp_path / "aide" / "bootstrap").exists()
    with pytest.raises(ValueError, match="pseudo_label run of 1 bootstrap round"):
        train(replace(two_rounds, method_args={"bootstrap_rounds": 2, "bootstrap_run": str(tmp_path / "sup")}),
              tmp_path / "aide-wrong")
    with pytest.raises(ValueError, match="needs a supervised run"):
        train(replace(fast_config, method="aide", method_args={"bootstrap_run": str(tmp_path / "pseudo")}),
              tmp_path / "aide-wrong-too")


@pytest.mark.parametrize("rounds,method,method_args", [
    (1, "supervised", {}),
    (2, "pseudo_label", {}),
    (3, "pseudo_label", {"bootstrap_rounds": 2}),
])
def test_each_bootstrap_round_trains_on_the_round_before(fast_config, rounds, method, method_args):
    from aidemed.engine.run import _bootstrap_round_config

    aide = replace(fast_config, method="aide", method_args={"bootstrap_rounds": rounds, "beta": 5})
    made = _bootstrap_round_config(aide, rounds)
    assert (made.method, made.method_args) == (method, method_args)
    assert replace(made, method=aide.method, method_args=aide.method_args) == aide


def test_bootstrap_rounds_below_one_are_refused(fast_config, tmp_path):
    with pytest.raises(ValueError, match="bootstrap_rounds must be at least 1"):
        train(replace(fast_config, method="pseudo_label", method_args={"bootstrap_rounds": 0}), tmp_path / "run")


@pytest.mark.parametrize("probs,expected", [
    ([0.5, 0.5], 0.0),
    ([1.0, 0.0], 1.0),
    ([0.9, 0.1], 1 - 4 * 0.9 * 0.1),
])
def test_binary_confidence_is_one_minus_four_p_bg_p_fg(probs, expected):
    p = torch.tensor(probs).view(1, 2, 1, 1)
    assert confidence(p).item() == pytest.approx(expected, abs=1e-6)


def test_multiclass_confidence_is_one_minus_normalised_entropy():
    uniform = torch.full((1, 3, 1, 1), 1 / 3)
    certain = torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1)
    assert confidence(uniform).item() == pytest.approx(0.0, abs=1e-5)
    assert confidence(certain).item() == pytest.approx(1.0, abs=1e-5)


class _Shifted(torch.nn.Module):
    """A 'network' whose logits are the image itself: its views must map back onto the image."""

    def forward(self, x):
        return torch.cat([-x, x], dim=1) * 10


def test_multi_view_target_maps_views_back_to_the_original_frame():
    from aidemed.methods.aide import AIDEOptions

    image = torch.zeros(2, 1, 48, 48)
    image[:, :, 14:34, 10:30] = 1.0
    image = image * 2 - 1
    target, weight = multi_view_target(_Shifted(), image, AIDEOptions(views=4, view_rotate_degrees=60),
                                       torch.Generator().manual_seed(0))
    predicted_fg = target[:, 1] > 0.5
    truth = image[:, 0] > 0
    central = (slice(None), slice(12, 36), slice(12, 36))  # always covered by every rotated view
    assert (predicted_fg[central] == truth[central]).float().mean() > 0.97
    assert torch.all((weight >= 0) & (weight <= 1))


def test_largest_component_keeps_the_biggest_blob_per_class():
    labels = np.zeros((20, 20), np.uint8)
    labels[2:10, 2:10] = 1
    labels[15:17, 15:17] = 1
    cleaned = largest_component(labels)
    assert cleaned[2:10, 2:10].all() and cleaned[15:17, 15:17].sum() == 0


def _step_context(method, epoch: int, seed: int) -> StepContext:
    """What the loop would hand the method for one step of this epoch, on the CPU, in fp32."""
    return StepContext(epoch, 0, torch.Generator().manual_seed(seed), torch.device("cpu"), AugmentConfig(),
                       contextlib.nullcontext, method.data)


def _aide_with(n=8, trusted=2, **options):
    images = torch.randn(n, 1, 16, 16)
    masks = torch.zeros(n, 16, 16, dtype=torch.long)
    masks[:, 4:12, 4:12] = 1
    data = TrainData(images=images, masks=masks, has_label=torch.ones(n, dtype=torch.bool),
                     trusted=torch.arange(n) < trusted, case_ids=np.array([f"c{i}" for i in range(n)]),
                     num_classes=2)
    cfg = TrainConfig(net="unet-small", epochs=40, method="aide", method_args=options)
    method = AIDE(cfg, data, torch.device("cpu"))
    method.setup()
    return method


def test_label_correction_rewrites_the_peer_copy_and_never_ground_truth():
    method = _aide_with(correction_start=0, correction_fraction=0.5, replace_with_empty=True)
    with torch.no_grad():  # make A predict "everything foreground": maximal disagreement with labels
        final = [m for m in method.networks["A"].modules() if isinstance(m, torch.nn.Conv2d)][-1]
        final.weight.zero_()
        final.bias.copy_(torch.tensor([-5.0, 5.0]))
    before_a, before_b = method.labels["A"].clone(), method.labels["B"].clone()
    logs = method.correct_labels(epoch=0)
    assert logs["corrected_by_A"] == 3  # half of the 6 correctable cases
    changed_b = (method.labels["B"] != before_b).flatten(1).any(1)
    assert changed_b.sum() == 3 and not changed_b[:2].any()  # trusted cases 0 and 1 untouched
    assert torch.equal(method.labels["B"][changed_b], torch.ones_like(method.labels["B"][changed_b]))
    assert method.corrections[0]["by"] == "A" and len(method.corrections[0]["cases"]) == 3
    untouched_by_b = (method.labels["A"] != before_a).flatten(1).any(1)[:2]
    assert not untouched_by_b.any()


def test_an_empty_prediction_never_replaces_a_label_by_default():
    method = _aide_with(correction_start=0, correction_fraction=1.0)
    with torch.no_grad():
        final = [m for m in method.networks["A"].modules() if isinstance(m, torch.nn.Conv2d)][-1]
        final.weight.zero_()
        final.bias.copy_(torch.tensor([5.0, -5.0]))  # all background
    before = method.labels["B"].clone()
    assert method.correct_labels(epoch=0)["corrected_by_A"] == 0
    assert torch.equal(method.labels["B"], before)


@pytest.mark.parametrize("logit, min_confidence, replaced", [
    (5.0, 0.0, 6),    # sure foreground, no gate: every correctable label replaced
    (5.0, 0.9, 6),    # p = 0.99995 -> confidence ~1: passes a 0.9 gate
    (0.2, 0.9, 0),    # p = 0.60 -> confidence 1 - 4 * 0.6 * 0.4 = 0.04: gated out
    (0.2, 0.03, 6),   # ... but above a 0.03 gate
])
def test_correction_confidence_gate(logit, min_confidence, replaced):
    method = _aide_with(correction_start=0, correction_fraction=1.0, correction_min_confidence=min_confidence)
    with torch.no_grad():  # A predicts foreground everywhere with a chosen certainty
        final = [m for m in method.networks["A"].modules() if isinstance(m, torch.nn.Conv2d)][-1]
        final.weight.zero_()
        final.bias.copy_(torch.tensor([-logit / 2, logit / 2]))
    before = method.labels["B"].clone()
    logs = method.correct_labels(epoch=0)
    assert logs["corrected_by_A"] == replaced
    assert int((method.labels["B"] != before).flatten(1).any(1).sum()) == replaced
    if min_confidence > 0:
        assert logs["unsure_skipped_by_A"] == 6 - replaced


def test_foreground_confidence_averages_over_predicted_foreground_only():
    from aidemed.methods.aide import foreground_confidence

    probs = torch.zeros(2, 2, 1, 4)
    probs[:, 1] = torch.tensor([[[1.0, 0.5, 0.0, 0.0]], [[0.0, 0.0, 0.0, 0.0]]])
    probs[:, 0] = 1 - probs[:, 1]
    prediction = torch.tensor([[[1, 1, 0, 0]], [[0, 0, 0, 0]]])
    assert foreground_confidence(probs, prediction).tolist() == pytest.approx([0.5, 0.0])  # (1 + 0) / 2; none


@pytest.mark.parametrize("setting, method_args, floor, fraction", [
    ("semi", {}, 0.0, 0.25),                                   # the paper's values
    ("domain-adaptation", {}, 0.0, 0.25),
    ("noisy", {}, 0.5, 0.0),                                   # the noisy-mask preset
    ("noisy", {"correction_fraction": 0.25}, 0.5, 0.25),       # method_args override the preset
])
def test_aide_options_per_setting(setting, method_args, floor, fraction):
    data = TrainData(images=torch.randn(4, 1, 16, 16), masks=torch.zeros(4, 16, 16, dtype=torch.long),
                     has_label=torch.ones(4, dtype=torch.bool), trusted=torch.zeros(4, dtype=torch.bool),
                     case_ids=np.array([f"c{i}" for i in range(4)]), num_classes=2)
    cfg = TrainConfig(net="unet-small", method="aide", setting=setting, method_args=method_args)
    options = AIDE(cfg, data, torch.device("cpu")).resolved_options()
    assert options["suspect_weight_floor"] == floor and options["correction_fraction"] == fraction
    assert options["beta"] == 10.0  # untouched by any preset


@pytest.mark.parametrize("n, trusted, share, pseudo_in_pool", [
    (8, 2, 0.0, 6),     # the paper: every case once
    (8, 6, 0.5, 6),     # 2 pseudo-labelled cases beside 6 ground truth: each 3 times -> half the pool
    (10, 9, 0.25, 3),   # 1 beside 9: 3 copies, 3 of 12 = 0.25
    (8, 2, 0.5, 6),     # already more than half: unchanged
    (8, 0, 0.5, 8),     # nothing is ground truth (noisy masks): unchanged
])
def test_epoch_pool_repeats_the_pseudo_labelled_cases_up_to_their_share(n, trusted, share, pseudo_in_pool):
    method = _aide_with(n=n, trusted=trusted, pseudo_share=share)
    pool = method.epoch_pool()
    is_pseudo = ~method.data.trusted[pool]
    assert int(is_pseudo.sum()) == pseudo_in_pool
    assert sorted(pool[~is_pseudo].tolist()) == list(range(trusted))  # every ground-truth case once
    assert set(pool[is_pseudo].tolist()) == set(range(trusted, n))
    assert float(is_pseudo.float().mean()) >= share


def test_pseudo_share_must_leave_room_for_ground_truth():
    with pytest.raises(ValueError, match="pseudo_share"):
        _aide_with(pseudo_share=1.0)


def test_correction_schedule_and_ramp():
    method = _aide_with(correction_start=0, ramp_epochs=20, correction_every_after_ramp=10)
    # Every epoch before E_r, then every 10th from E_r; never the last epoch (39 of 40).
    assert [e for e in range(40) if method.is_correction_epoch(e)] == list(range(20)) + [20, 30]
    assert method.ramp(0) == 0 and method.ramp(10) == pytest.approx(0.25) and method.ramp(30) == 1
    late = _aide_with()  # the default starts correcting once the ramp is complete
    assert [e for e in range(40) if late.is_correction_epoch(e)] == [20, 30]


def test_peer_losses_rank_the_batch_and_ground_truth_stays_clean():
    method = _aide_with(clean_fraction=0.5)
    peer_loss = torch.tensor([0.1, 0.9, 0.2, 0.8, 0.3, 0.7])
    trusted = torch.tensor([False, True, False, False, False, False])
    suspect = method.suspect_mask(peer_loss, trusted)
    assert suspect.tolist() == [False, False, False, True, False, True]


def test_per_sample_dice_empty_rule():
    a = torch.zeros(2, 4, 4, dtype=torch.long)
    b = torch.zeros(2, 4, 4, dtype=torch.long)
    b[1, 0, 0] = 1
    assert per_sample_dice(a, b, 2).tolist() == [1.0, 0.0]


@pytest.mark.parametrize("floor, expected_suspect_weight", [(0.0, 0.0), (0.1, 0.1)])
def test_suspect_supervised_weight_falls_to_the_floor_once_lambda_is_one(floor, expected_suspect_weight):
    method = _aide_with(trusted=0, beta=0.0, suspect_weight_floor=floor)
    per_sample = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    method.loss = lambda logits, labels: logits.mean((1, 2, 3)) * 0 + per_sample  # A and B alike
    seen = {}
    method.step_optimizer = lambda key, loss: seen.setdefault(key, loss.item())
    ctx = _step_context(method, epoch=30, seed=0)
    method.training_step(torch.arange(8), ctx)
    # the peer's four lowest losses (1-4) are clean, 5-8 suspect; lambda = 1 at epoch 30
    assert seen["A"] == pytest.approx(2.5 + expected_suspect_weight * 6.5)
    assert seen["B"] == seen["A"]


def test_sample_losses_are_summed_per_sample_and_survive_a_checkpoint():
    method = _aide_with()
    method.record_sample_losses(torch.tensor([0, 2, 0]), torch.tensor([1.0, 2.0, 3.0]))
    assert method.sample_loss_sum[:3].tolist() == [4.0, 0.0, 2.0]
    assert method.sample_loss_steps[:3].tolist() == [2.0, 0.0, 1.0]
    state = method.state_dict()
    fresh = _aide_with()
    fresh.load_state_dict(state)
    assert fresh.sample_loss_sum[:3].tolist() == [4.0, 0.0, 2.0]
    del state["sample_losses"]  # a checkpoint from before the record: loads, with nothing recorded
    older = _aide_with()
    older.load_state_dict(state)
    assert float(older.sample_loss_steps.sum()) == 0.0


def test_supervised_records_the_loss_of_every_labelled_sample_it_trains_on(fast_config, tmp_path):
    from aidemed.engine.checkpoint import load_checkpoint

    train(replace(fast_config, iterations_per_epoch=0, epochs=1), tmp_path / "sup")
    record = load_checkpoint(tmp_path / "sup" / "checkpoints" / "last.pt")["method"]["sample_losses"]
    config = json.loads((tmp_path / "sup" / "results.json").read_text())
    steps = record["steps"]
    assert int((steps > 0).sum()) == config["n_labelled"]  # one epoch visits every labelled sample
    assert bool((record["sum"][steps > 0] > 0).all()) and float(record["sum"][steps == 0].sum()) == 0.0


def test_train_data_subset_keeps_the_chosen_samples_in_order():
    data = _aide_with(n=5, trusted=2).data
    part = data.subset(torch.tensor([4, 1]))
    assert part.case_ids.tolist() == ["c4", "c1"] and len(part) == 2
    assert torch.equal(part.images, data.images[[4, 1]]) and part.trusted.tolist() == [False, True]
    assert part.num_classes == data.num_classes


@pytest.mark.parametrize("area", [0.1, 0.25, 0.5])
def test_cutmix_boxes_are_one_rectangle_of_the_asked_area(area):
    boxes = cutmix_boxes(64, 32, 48, area, torch.Generator().manual_seed(0))
    assert boxes.shape == (64, 1, 32, 48) and set(boxes.unique().tolist()) <= {0.0, 1.0}
    for box in boxes[:, 0].bool():
        rows, cols = box.any(1), box.any(0)
        assert box.sum() == rows.sum() * cols.sum()  # a full rectangle, no holes
        assert rows.nonzero().max() - rows.nonzero().min() + 1 == rows.sum()  # contiguous
    assert boxes.mean().item() == pytest.approx(area, rel=0.1)


def test_paste_takes_the_partner_inside_the_box_only():
    x, partner = torch.zeros(1, 2, 4, 4), torch.ones(1, 2, 4, 4)
    box = torch.zeros(1, 1, 4, 4)
    box[..., 1:3, 0:2] = 1
    mixed = paste(box, x, partner)
    assert torch.equal(mixed[:, 0], box[:, 0]) and torch.equal(mixed[:, 1], box[:, 0])


def test_cutmix_consistency_pastes_image_target_and_confidence_with_the_same_box():
    method = _aide_with(cutmix_area=0.3)
    pixelwise = torch.nn.Conv2d(1, 2, 1)  # a pixel's output depends on that pixel only
    method.networks["A"] = pixelwise
    image = torch.randn(4, 1, 16, 16)
    target = torch.softmax(torch.randn(4, 2, 16, 16), 1)
    conf = torch.rand(4, 16, 16)
    ctx = _step_context(method, epoch=30, seed=3)
    every = torch.ones(4, dtype=torch.bool)
    labels = torch.zeros(4, 16, 16, dtype=torch.long)
    probs, mixed_target, mixed_conf = method.consistency_inputs("A", image, pixelwise(image), labels, every,
                                                                (target, conf), ctx)
    replay = torch.Generator().manual_seed(3)
    partner = torch.randperm(4, generator=replay)
    box = cutmix_boxes(4, 16, 16, 0.3, replay)
    assert not torch.equal(partner, torch.arange(4))
    with torch.no_grad():
        expected_probs = paste(box, torch.softmax(pixelwise(image), 1), torch.softmax(pixelwise(image[partner]), 1))
    assert torch.allclose(probs, expected_probs, atol=1e-6)
    assert torch.equal(mixed_target, paste(box, target, target[partner]))
    assert torch.equal(mixed_conf, paste(box, conf[:, None], conf[partner][:, None])[:, 0])


def test_without_cutmix_the_consistency_sees_the_batch_itself():
    method = _aide_with()
    logits, target, conf = torch.randn(3, 2, 16, 16), torch.rand(3, 2, 16, 16), torch.rand(3, 16, 16)
    ctx = _step_context(method, epoch=30, seed=0)
    image = torch.randn(3, 1, 16, 16)
    every = torch.ones(3, dtype=torch.bool)
    labels = torch.zeros(3, 16, 16, dtype=torch.long)
    probs, same_target, same_conf = method.consistency_inputs("A", image, logits, labels, every, (target, conf), ctx)
    assert torch.equal(probs, torch.softmax(logits, 1)) and same_target is target and same_conf is conf


BATCH_SUSPECT = torch.tensor([False, True, False, False, True, False])  # images 1 and 4 of a batch of 6


def _cutmix_batch_inputs(seed: int):
    """A batch of 6 where images 1 and 4 are suspect, and the `cutmix_partners=batch` inputs for it."""
    method = _aide_with(cutmix_area=0.3, cutmix_partners="batch")
    pixelwise = torch.nn.Conv2d(1, 2, 1)
    method.networks["A"] = pixelwise
    image = torch.randn(6, 1, 16, 16)
    labels = torch.zeros(6, 16, 16, dtype=torch.long)
    labels[:, 2:9, 3:11] = 1
    suspect = BATCH_SUSPECT
    target = torch.softmax(torch.randn(2, 2, 16, 16), 1)
    conf = torch.rand(2, 16, 16)
    inputs = method.consistency_inputs("A", image, pixelwise(image), labels, suspect, (target, conf),
                                       _step_context(method, epoch=30, seed=seed))
    return pixelwise, image, labels, suspect, target, conf, inputs


def test_cutmix_from_the_batch_never_pairs_an_image_with_itself():
    method = _aide_with(cutmix_partners="batch")
    suspect = torch.tensor([True, False, True, True, False])
    for seed in range(50):
        partner = method.cutmix_pool(torch.randn(5, 1, 8, 8), torch.zeros(5, 8, 8, dtype=torch.long), suspect,
                                     (torch.rand(3, 2, 8, 8), torch.rand(3, 8, 8)), torch.Generator().manual_seed(seed))[3]
        assert partner.shape == (3,) and torch.all(partner != suspect.nonzero()[:, 0])
        assert torch.all((partner >= 0) & (partner < 5))


@pytest.mark.parametrize("seed", range(6))
def test_cutmix_from_the_batch_pastes_a_label_or_the_peer_target_with_the_same_box(seed):
    pixelwise, image, labels, suspect, target, conf, (probs, mixed_target, mixed_conf) = _cutmix_batch_inputs(seed)
    replay = torch.Generator().manual_seed(seed)
    partner = ((torch.tensor([1, 4]) + torch.randint(1, 6, (2,), generator=replay)) % 6)
    box = cutmix_boxes(2, 16, 16, 0.3, replay)
    inside = box[:, 0].bool()
    with torch.no_grad():
        expected = paste(box, torch.softmax(pixelwise(image[suspect]), 1), torch.softmax(pixelwise(image[partner]), 1))
    assert torch.allclose(probs, expected, atol=1e-6)
    for row, other in enumerate(partner.tolist()):
        own_inside, own_outside = inside[row], ~inside[row]
        assert torch.equal(mixed_target[row][:, own_outside], target[row][:, own_outside])
        assert torch.equal(mixed_conf[row][own_outside], conf[row][own_outside])
        if suspect[other]:  # the other suspect image brings the peer's target and confidence
            other_row = suspect[:other].sum()
            assert torch.equal(mixed_target[row][:, own_inside], target[other_row][:, own_inside])
            assert torch.equal(mixed_conf[row][own_inside], conf[other_row][own_inside])
        else:  # a clean or ground-truth image brings its label, fully trusted
            assert torch.equal(mixed_target[row][1][own_inside], labels[other][own_inside].float())
            assert torch.all(mixed_conf[row][own_inside] == 1)


def test_the_seeds_of_the_pasting_test_cover_suspect_and_labelled_partners():
    method = _aide_with(cutmix_partners="batch")
    suspect = BATCH_SUSPECT
    kinds = set()
    for seed in range(6):  # the seeds of the test above
        partner = method.cutmix_pool(torch.randn(6, 1, 8, 8), torch.zeros(6, 8, 8, dtype=torch.long), suspect,
                                     (torch.rand(2, 2, 8, 8), torch.rand(2, 8, 8)), torch.Generator().manual_seed(seed))[3]
        kinds |= {bool(suspect[p]) for p in partner.tolist()}
    assert kinds == {True, False}


def test_unknown_cutmix_partners_are_refused():
    with pytest.raises(ValueError, match="cutmix_partners"):
        _aide_with(cutmix_partners="target")


@pytest.mark.parametrize("area", [-0.1, 1.0])
def test_cutmix_area_outside_zero_one_is_refused(area):
    with pytest.raises(ValueError, match="cutmix_area"):
        _aide_with(cutmix_area=area)


@pytest.mark.parametrize("partners", ["suspect", "batch"])
def test_aide_with_cutmix_trains_end_to_end(fast_config, tmp_path, partners):
    cfg = replace(fast_config, method="aide", method_args={"cutmix_area": 0.4, "cutmix_partners": partners})
    result = train(cfg, tmp_path / "run")
    assert 0.0 <= result["test"]["dice"] <= 1.0
    history = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert np.isfinite(history[-1]["train_consistency_A"])


def test_fda_restyles_only_the_ground_truth_images_with_a_non_ground_truth_style():
    method = _aide_with(n=8, trusted=3, fda_band=0.1)
    index = torch.tensor([0, 5, 2, 7])
    restyled = method.restyled_images(index, torch.Generator().manual_seed(0))
    untouched = ~method.data.trusted[index]
    assert torch.equal(restyled[untouched], method.data.images[index][untouched])
    styles = torch.fft.fft2(method.data.images[3:]).abs()  # cases 3-7 have no ground truth
    assert torch.equal(method.style_amplitude, styles)
    replay = torch.Generator().manual_seed(0)
    picked = torch.randint(5, (2,), generator=replay)
    expected = fourier_style_transfer(method.data.images[[0, 2]], styles[picked], 0.1)
    assert torch.allclose(restyled[~untouched], expected) and not torch.allclose(expected, method.data.images[[0, 2]])


def test_fda_off_leaves_the_batch_and_the_random_stream_alone():
    method = _aide_with(trusted=3)
    gen = torch.Generator().manual_seed(0)
    assert method.restyled_images(torch.tensor([0, 1]), gen) is None
    assert torch.equal(gen.get_state(), torch.Generator().manual_seed(0).get_state())


def test_fda_needs_cases_without_ground_truth_and_a_band_in_range():
    with pytest.raises(ValueError, match="fda_band needs cases without a ground-truth mask"):
        _aide_with(n=4, trusted=4, fda_band=0.04)
    with pytest.raises(ValueError, match="fda_band must be in"):
        _aide_with(fda_band=0.6)


def test_an_fda_training_step_trains_on_the_restyled_ground_truth_images():
    method = _aide_with(trusted=3, fda_band=0.1)
    seen = []
    original = method.networks["A"].forward
    method.networks["A"].forward = lambda x: seen.append(x.detach().clone()) or original(x)
    logs = method.training_step(torch.arange(8), _step_context(method, epoch=30, seed=0))
    assert math.isfinite(logs["loss"])
    replay = _step_context(method, epoch=30, seed=0)
    restyled = method.restyled_images(torch.arange(8), replay.generator)
    expected, _ = replay.batch(torch.arange(8), {"A": method.labels["A"]}, image=restyled)
    assert torch.allclose(seen[0], expected)


@pytest.mark.parametrize("method_name, method_args, expected", [
    ("supervised", {}, ["model", "model_ema"]),
    ("aide", {}, ["A", "A_ema", "B", "B_ema"]),
    ("aide", {"select": "ensemble"}, ["ensemble", "ensemble_ema"]),
    ("mean_teacher", {}, ["student", "student_ema", "teacher"]),  # the teacher is an average already
    ("cps", {}, ["A", "A_ema", "B", "B_ema"]),
])
def test_weight_ema_candidates_pair_each_candidate_with_its_averaged_networks(method_name, method_args, expected):
    n = 8
    data = TrainData(images=torch.randn(n, 1, 16, 16), masks=torch.zeros(n, 16, 16, dtype=torch.long),
                     has_label=torch.arange(n) < 4, trusted=torch.zeros(n, dtype=torch.bool),
                     case_ids=np.array([f"c{i}" for i in range(n)]), num_classes=2)
    if method_name == "aide":
        data.has_label[:] = True
    cfg = TrainConfig(net="unet-small", method=method_name, method_args=method_args, weight_ema=0.9)
    method = get_method(method_name)(cfg, data, torch.device("cpu"))
    method.setup()
    found = method.validation_candidates()
    assert sorted(found) == expected
    for name, nets in found.items():
        if name.endswith("_ema"):
            assert all(net is method.averaged[key] for net, key in
                       zip(nets, [k for plain in found[name[:-4]] for k, v in method.networks.items() if v is plain]))
    plain = get_method(method_name)(replace(cfg, weight_ema=0.0), data, torch.device("cpu"))
    plain.setup()
    assert plain.validation_candidates().keys() == plain.candidates().keys()
