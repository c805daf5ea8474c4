"""Co-teaching (Han et al., 2018): each network picks its small-loss samples, its peer learns from them."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from aidemed.engine.config import TrainConfig
from aidemed.engine.run import train
from aidemed.engine.seed import epoch_generator
from aidemed.methods import StepContext, TrainData, get_method
from aidemed.methods.coteaching import CoTeaching, keep_rate, small_loss_selection
from aidemed.methods.supervised import Supervised


def test_keep_rate_schedule():
    assert keep_rate(0, 0.2, 10) == 1.0
    assert keep_rate(5, 0.2, 10) == pytest.approx(0.9)
    assert keep_rate(10, 0.2, 10) == pytest.approx(0.8) == keep_rate(50, 0.2, 10)
    assert keep_rate(0, 0.3, 0) == pytest.approx(0.7)


def test_small_loss_selection_keeps_the_smallest_and_the_trusted():
    loss = torch.tensor([0.5, 0.1, 0.9, 0.3])
    assert small_loss_selection(loss, 0.5).tolist() == [False, True, False, True]
    assert small_loss_selection(loss, 0.01).tolist() == [False, True, False, False]  # at least one
    trusted = torch.tensor([False, False, True, False])
    assert small_loss_selection(loss, 0.5, trusted).tolist() == [False, True, True, True]


def _method(n=4, **options):
    data = TrainData(images=torch.randn(n, 1, 16, 16), masks=torch.zeros(n, 16, 16, dtype=torch.long),
                     has_label=torch.ones(n, dtype=torch.bool), trusted=torch.zeros(n, dtype=torch.bool),
                     case_ids=np.array([f"c{i}" for i in range(n)]), num_classes=2)
    cfg = TrainConfig(net="unet-small", method="coteaching", method_args=options)
    method = CoTeaching(cfg, data, torch.device("cpu"))
    method.setup()
    return method, data


def test_each_network_learns_from_the_peers_small_loss_samples():
    method, data = _method(forget_rate=0.5, ramp_epochs=1)
    fixed = iter([torch.tensor([1.0, 2.0, 3.0, 10.0]), torch.tensor([4.0, 3.0, 2.0, 1.0])])  # A's, then B's

    def fake_loss(logits, target):
        return next(fixed) + 0 * logits.sum()

    method.loss = fake_loss
    stepped = {}
    method.step_optimizer = lambda key, loss: stepped.__setitem__(key, loss.item())
    ctx = StepContext(5, 0, epoch_generator(0, 5), torch.device("cpu"), TrainConfig().augment,
                      lambda: torch.autocast("cpu", enabled=False), data)
    logs = method.training_step(torch.arange(4), ctx)
    assert logs["keep_rate"] == pytest.approx(0.5)
    # B keeps samples 2 and 3 (its smallest losses): A learns from them, mean(3, 10)
    assert stepped["A"] == pytest.approx(6.5)
    # A keeps samples 0 and 1: B learns from them, mean(4, 3)
    assert stepped["B"] == pytest.approx(3.5)


def test_coteaching_trains_on_a_noisy_setting_without_correcting_labels(fast_config, tmp_path):
    cfg = replace(fast_config, method="coteaching", setting="noisy", labelled_fraction=1.0, epochs=1,
                  method_args={"forget_rate": 0.3, "ramp_epochs": 1})
    result = train(cfg, tmp_path / "ct")
    assert 0.0 <= result["test"]["dice"] <= 1.0 and result["best"]["candidate"] in ("A", "B")
    row = json.loads((tmp_path / "ct" / "metrics.jsonl").read_text().splitlines()[0])
    assert row["train_keep_rate"] == 1.0 and not any(k.startswith("corrected") for k in row)


def test_source_only_is_supervised_under_another_name():
    assert issubclass(get_method("source_only"), Supervised) and get_method("source_only").name == "source_only"
    with pytest.raises(ValueError, match="forget_rate"):
        _method(forget_rate=1.0)
