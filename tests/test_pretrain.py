"""Self-supervised restoration pretraining (`aidemed pretrain`, aidemed.engine.pretrain) and starting a
method's networks from its weights (`TrainConfig.init_weights`)."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from aidemed.cli.main import main
from aidemed.engine.checkpoint import CheckpointError, load_checkpoint
from aidemed.engine.config import TrainConfig
from aidemed.engine.pretrain import PretrainConfig, corrupt_batch, corruption, load_matching, pretrain
from aidemed.engine.run import train
from aidemed.methods import TrainData, get_method
from aidemed.nets import create_model


def _config(phantom_dir, **changes) -> PretrainConfig:
    return replace(PretrainConfig(data=str(phantom_dir), net="unet-small", profile="32", epochs=3, batch_size=4,
                                  progress=False), **changes)


@pytest.fixture(scope="module")
def pretrained(phantom_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrained")
    result = pretrain(_config(phantom_dir, epochs=6), out)
    return out, result


def test_pretraining_writes_weights_history_and_learns_to_restore(pretrained):
    out, result = pretrained
    state = load_checkpoint(out / "pretrained.pt")
    assert state["net"] == "unet-small" and state["in_channels"] == 1
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(6))
    # The restoration error on the fixed corruption of the val images falls as the network learns.
    assert rows[-1]["val_mse"] < rows[0]["val_mse"]
    assert result["n_images"] > 0 and result["splits"] == ["train"]


def test_a_finished_folder_with_the_same_config_is_kept(pretrained, phantom_dir):
    out, result = pretrained
    before = (out / "pretrained.pt").stat().st_mtime_ns
    again = pretrain(_config(phantom_dir, epochs=6, num_threads=1), out)  # runtime settings may differ
    assert again == result
    assert (out / "pretrained.pt").stat().st_mtime_ns == before


def test_a_folder_holding_another_config_is_refused(pretrained, phantom_dir):
    out, _ = pretrained
    with pytest.raises(ValueError, match=r"config.json: .*another config .*'epochs'"):
        pretrain(_config(phantom_dir, epochs=7), out)


def test_the_test_split_is_never_pretrained_on():
    with pytest.raises(ValueError, match="test split"):
        PretrainConfig(splits=("train", "test"))


def test_an_interrupted_pretraining_resumes_to_the_same_weights(phantom_dir, tmp_path, monkeypatch):
    import aidemed.engine.pretrain as module

    cfg = _config(phantom_dir)
    pretrain(cfg, tmp_path / "whole")

    calls = {"n": 0}
    real = module._restoration_mse

    def interrupt_in_the_second_epoch(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(module, "_restoration_mse", interrupt_in_the_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        pretrain(cfg, tmp_path / "parts")
    monkeypatch.setattr(module, "_restoration_mse", real)
    with pytest.raises(ValueError, match="--resume"):
        pretrain(cfg, tmp_path / "parts")
    pretrain(cfg, tmp_path / "parts", resume=True)
    whole = load_checkpoint(tmp_path / "whole" / "pretrained.pt")["network"]
    parts = load_checkpoint(tmp_path / "parts" / "pretrained.pt")["network"]
    for key in whole:
        assert torch.equal(whole[key], parts[key]), key


def test_corruption_is_reproducible_and_changes_the_image():
    images = torch.randn(4, 1, 32, 32)
    transform = corruption(PretrainConfig(paint_prob=1.0), 32)
    first = corrupt_batch(images, transform, np.random.RandomState(3))
    again = corrupt_batch(images, transform, np.random.RandomState(3))
    assert torch.equal(first, again)
    assert first.shape == images.shape
    # Every image is painted (paint_prob 1): part of it is replaced.
    assert all(not torch.allclose(a, b) for a, b in zip(first, images))


def test_load_matching_loads_all_but_the_output_layer():
    source = create_model("unet-small", 1, 1)
    target = create_model("unet-small", 1, 3)
    report = load_matching(target, source.state_dict())
    assert 0 < report["loaded"] < report["of"]
    assert report["left_out"] and all(k.startswith("model.2.") for k in report["left_out"])
    for key, value in target.state_dict().items():
        if key not in report["left_out"]:
            assert torch.equal(value, source.state_dict()[key]), key


def _data(n=6) -> TrainData:
    """Every case with a mask (noisy-setting data: AIDE needs no bootstrap model), three trusted."""
    masks = torch.zeros(n, 32, 32, dtype=torch.long)
    masks[:, 8:20, 8:20] = 1
    return TrainData(images=torch.randn(n, 1, 32, 32), masks=masks, has_label=torch.ones(n, dtype=torch.bool),
                     trusted=torch.arange(n) < 3, case_ids=np.array([f"c{i}" for i in range(n)]), num_classes=2)


def test_both_aide_networks_start_from_the_pretrained_body(pretrained):
    out, _ = pretrained
    weights = load_checkpoint(out / "pretrained.pt")["network"]
    cfg = TrainConfig(net="unet-small", method="aide", init_weights=str(out))
    method = get_method("aide")(cfg, _data(), torch.device("cpu"))
    method.setup()
    nets = method.networks
    assert set(method.init_report) == set(nets) == {"A", "B"}
    first_conv = next(k for k in weights if k.endswith("conv.weight"))
    for net in nets.values():
        assert torch.equal(net.state_dict()[first_conv], weights[first_conv])
    # Their output layers keep independent random initialisations.
    output = method.init_report["A"]["left_out"][-1]
    assert not torch.equal(nets["A"].state_dict()[output], nets["B"].state_dict()[output])


def test_a_run_records_what_it_loaded(pretrained, fast_config, tmp_path):
    out, _ = pretrained
    result = train(replace(fast_config, init_weights=str(out / "pretrained.pt")), tmp_path / "run")
    report = result["init_weights"]["model"]
    assert report["loaded"] > 0 and report["left_out"]
    plain = train(fast_config, tmp_path / "plain")
    assert plain["init_weights"] is None


def test_pretrained_weights_of_another_network_are_refused_by_path(pretrained):
    out, _ = pretrained
    cfg = TrainConfig(net="unet-base", method="supervised", init_weights=str(out))
    with pytest.raises(ValueError, match=r"pretrained.pt: pretrained network is 'unet-small'.*unet-base"):
        get_method("supervised")(cfg, _data(), torch.device("cpu")).setup()


def test_a_checkpoint_that_is_not_a_pretraining_is_refused(fast_config, tmp_path):
    train(fast_config, tmp_path / "run")
    best = tmp_path / "run" / "checkpoints" / "best.pt"
    cfg = TrainConfig(net="unet-small", method="supervised", init_weights=str(best))
    with pytest.raises(CheckpointError, match=r"best.pt: not an `aidemed pretrain` output"):
        get_method("supervised")(cfg, _data(), torch.device("cpu")).setup()


def test_cli_pretrain_then_train_from_it(phantom_dir, tmp_path, capsys):
    out = tmp_path / "pt"
    assert main(["pretrain", "--data", str(phantom_dir), "-o", str(out), "--net", "unet-small", "--profile", "32",
                 "--epochs", "1", "--batch-size", "4", "--quiet"]) == 0
    assert "Use: aidemed train --init-weights" in capsys.readouterr().out
    run = tmp_path / "run"
    assert main(["train", "--data", str(phantom_dir), "--net", "unet-small", "--profile", "32", "--epochs", "1",
                 "--batch-size", "4", "--iterations-per-epoch", "2", "--labelled-fraction", "0.25", "--quiet",
                 "--init-weights", str(out), "-o", str(run)]) == 0
    saved = json.loads((run / "results.json").read_text())
    assert saved["config"]["init_weights"] == str(out.resolve())
    assert saved["init_weights"]["model"]["loaded"] > 0


def test_extra_datasets_add_their_images_and_unknown_splits_are_named(phantom_dir, tmp_path):
    alone = pretrain(_config(phantom_dir, epochs=1), tmp_path / "alone")
    both = pretrain(_config(phantom_dir, epochs=1, extra_data=(str(phantom_dir),)), tmp_path / "both")
    assert both["n_images"] == 2 * alone["n_images"]
    with pytest.raises(ValueError, match=r"the split file has no split \['holdout'\]"):
        pretrain(_config(phantom_dir, epochs=1, splits=("holdout",)), tmp_path / "unknown")
