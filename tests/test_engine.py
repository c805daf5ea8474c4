import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from aidemed.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from aidemed.engine.run import train
from aidemed.engine.trainer import Interrupted


def _weights(run_dir, name="last.pt"):
    return load_checkpoint(run_dir / "checkpoints" / name)["method"]["networks"]


def _assert_same_weights(a, b):
    for net in a:
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), f"{net}.{key} differs"


def test_training_writes_logs_config_checkpoints_and_test_scores(fast_config, tmp_path):
    result = train(fast_config, tmp_path / "run")
    run = tmp_path / "run"
    for name in ("config.json", "metrics.csv", "metrics.jsonl", "results.json", "test_cases.csv",
                 "checkpoints/best.pt", "checkpoints/last.pt"):
        assert (run / name).is_file(), name
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in history] == [0, 1]
    assert all("val_dice" in row and "train_loss" in row for row in history)
    assert 0.0 <= result["test"]["dice"] <= 1.0
    assert result["best"]["score"] == max(row["val_dice"] for row in history)
    assert result["n_labelled"] < result["n_train"]  # the label budget was applied
    assert json.loads((run / "config.json").read_text())["labelled_fraction"] == 0.25


def test_same_seed_same_result_and_other_seed_differs(fast_config, tmp_path):
    train(fast_config, tmp_path / "a")
    train(fast_config, tmp_path / "b")
    train(replace(fast_config, seed=1), tmp_path / "c")
    _assert_same_weights(_weights(tmp_path / "a"), _weights(tmp_path / "b"))
    a, c = _weights(tmp_path / "a"), _weights(tmp_path / "c")
    assert any(not torch.equal(a["model"][k], c["model"][k]) for k in a["model"])


def test_resume_after_a_kill_mid_epoch_reaches_the_uninterrupted_result(fast_config, tmp_path):
    cfg = replace(fast_config, epochs=3)
    train(cfg, tmp_path / "full")
    with pytest.raises(Interrupted):
        train(cfg, tmp_path / "killed", stop_after_steps=5)  # epoch 0 done, killed inside epoch 1
    assert load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.pt")["epoch"] == 0
    train(cfg, tmp_path / "killed", resume=True)
    _assert_same_weights(_weights(tmp_path / "full"), _weights(tmp_path / "killed"))
    full = [json.loads(l) for l in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    resumed = [json.loads(l) for l in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert [r["val_dice"] for r in full] == [r["val_dice"] for r in resumed]


def test_resume_may_change_runtime_settings_and_reaches_the_uninterrupted_result(fast_config, tmp_path):
    cfg = replace(fast_config, epochs=3)
    train(cfg, tmp_path / "full")
    with pytest.raises(Interrupted):
        train(cfg, tmp_path / "killed", stop_after_steps=5)
    train(replace(cfg, keep_every=1), tmp_path / "killed", resume=True)
    _assert_same_weights(_weights(tmp_path / "full"), _weights(tmp_path / "killed"))
    kept = sorted(p.name for p in (tmp_path / "killed" / "checkpoints").glob("epoch-*.pt"))
    assert kept == ["epoch-001.pt", "epoch-002.pt"]  # the epochs the resumed part trained
    assert json.loads((tmp_path / "killed" / "config.json").read_text())["keep_every"] == 1


@pytest.mark.parametrize("keep_every, kept", [(1, [0, 1, 2]), (2, [1]), (0, [])])
def test_keep_every_keeps_epoch_checkpoints_without_changing_the_training(fast_config, tmp_path, keep_every, kept):
    cfg = replace(fast_config, epochs=3)
    train(cfg, tmp_path / "plain")
    train(replace(cfg, keep_every=keep_every), tmp_path / "kept")
    checkpoints = tmp_path / "kept" / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("epoch-*.pt")) == [f"epoch-{e:03d}.pt" for e in kept]
    for epoch in kept:
        assert load_checkpoint(checkpoints / f"epoch-{epoch:03d}.pt")["epoch"] == epoch
    _assert_same_weights(_weights(tmp_path / "plain"), _weights(tmp_path / "kept"))
    if 2 in kept:
        _assert_same_weights(_weights(tmp_path / "kept"), _weights(tmp_path / "kept", "epoch-002.pt"))
    if 0 in kept:
        first, last = _weights(tmp_path / "kept", "epoch-000.pt"), _weights(tmp_path / "kept")
        assert any(not torch.equal(first["model"][k], last["model"][k]) for k in first["model"])


def test_keep_every_must_not_be_negative(fast_config, tmp_path):
    with pytest.raises(ValueError, match="keep_every"):
        train(replace(fast_config, keep_every=-1), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before anything was written: a corrected rerun can use it


def test_a_finished_run_is_not_overwritten_and_configs_do_not_mix(fast_config, tmp_path):
    train(fast_config, tmp_path / "run")
    with pytest.raises(ValueError, match="--resume"):
        train(fast_config, tmp_path / "run")
    with pytest.raises(ValueError, match="another config"):
        train(replace(fast_config, lr=0.5), tmp_path / "run", resume=True)


def test_truncated_checkpoint_gets_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"w": torch.ones(1000)})
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_checkpoint_with_pickled_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2), "x": _Payload()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert "this must never run" not in capsys.readouterr().out


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "c.pt", {"w": torch.zeros(3)})

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        save_checkpoint(path, {"w": torch.ones(3)})
    assert torch.equal(load_checkpoint(path)["w"], torch.zeros(3))  # the old file survived


def test_training_refuses_a_dataset_that_fails_the_check(fast_config, tmp_path):
    import shutil

    from aidemed.data.io import DataError

    broken = tmp_path / "broken"
    shutil.copytree(fast_config.data, broken)
    (broken / "masks" / "phantom_0003.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="phantom_0003.png"):
        train(replace(fast_config, data=str(broken)), tmp_path / "run")


def test_cache_is_reused_and_rebuilt_when_a_file_changes(phantom_dir, tmp_path):
    import shutil

    from aidemed.data.cache import cache_path_for, load_arrays
    from aidemed.data.manifest import load_dataset

    root = tmp_path / "d"
    shutil.copytree(phantom_dir, root)
    dataset = load_dataset(root)
    first = load_arrays(dataset, 32)
    path = cache_path_for(dataset, 32)
    assert path.is_file() and first.images.shape == (30, 1, 32, 32)
    mtime = path.stat().st_mtime_ns
    assert np.array_equal(load_arrays(dataset, 32).masks, first.masks)
    assert path.stat().st_mtime_ns == mtime  # read, not rewritten
    mask_file = root / "masks" / "phantom_0000.png"
    from aidemed.data.io import write_mask

    write_mask(mask_file, np.zeros((48, 48), np.uint8))
    assert cache_path_for(dataset, 32) != path
    assert load_arrays(dataset, 32).masks[0].sum() == 0


def test_a_truncated_array_cache_is_rebuilt(phantom_dir, tmp_path):
    import shutil
    import warnings

    from aidemed.data.cache import cache_path_for, load_arrays
    from aidemed.data.manifest import load_dataset

    root = tmp_path / "d"
    shutil.copytree(phantom_dir, root)
    dataset = load_dataset(root)
    expected = load_arrays(dataset, 32).images
    path = cache_path_for(dataset, 32)
    path.write_bytes(path.read_bytes()[:100])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = load_arrays(dataset, 32)
    assert np.array_equal(again.images, expected)
    assert any("unreadable cache" in str(w.message) for w in caught)


def test_cpu_bf16_autocast_is_opt_in():
    from aidemed.engine.seed import mixed_precision

    conv, x = torch.nn.Conv2d(1, 2, 3), torch.randn(1, 1, 8, 8)
    cpu = torch.device("cpu")
    with mixed_precision(cpu, enabled=True):  # `amp` alone is for CUDA: fp32 on the CPU
        assert conv(x).dtype == torch.float32
    with mixed_precision(cpu, enabled=True, cpu=True):
        assert conv(x).dtype == torch.bfloat16


@pytest.mark.parametrize("method", ["supervised", "aide", "mean_teacher"])
def test_cpu_bf16_training_runs_and_is_recorded(fast_config, tmp_path, method):
    cfg = replace(fast_config, method=method, cpu_bf16=True)
    if method == "aide":
        train(replace(fast_config, cpu_bf16=True), tmp_path / "sup")
        cfg = replace(cfg, method_args={"bootstrap_run": str(tmp_path / "sup")})
    result = train(cfg, tmp_path / "run")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["cpu_bf16"] is True
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(row["train_loss"]) for row in history)
    assert 0.0 <= result["test"]["dice"] <= 1.0


@pytest.mark.parametrize("native, cpu_bf16, warned", [(False, True, True), (True, True, False), (False, False, False),
                                                      (None, True, False)])
def test_cpu_bf16_warns_where_the_cpu_would_emulate_it(monkeypatch, native, cpu_bf16, warned):
    import warnings

    from aidemed.engine import seed

    monkeypatch.setattr(seed, "cpu_has_native_bf16", lambda: native)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        message = seed.warn_if_bf16_is_emulated(torch.device("cpu"), cpu_bf16)
    assert (message is not None) is warned
    assert any("emulated" in str(w.message) for w in caught) is warned



@pytest.mark.parametrize("decay, average, current, expected", [
    (0.9, 1.0, 0.0, 0.9),
    (0.5, 2.0, 4.0, 3.0),
    (0.0, 2.0, 4.0, 4.0),  # no memory: the current weights
])
def test_ema_update_averages_floating_tensors_and_copies_integer_ones(decay, average, current, expected):
    from aidemed.methods.base import ema_update

    avg, cur = torch.nn.BatchNorm2d(2), torch.nn.BatchNorm2d(2)
    for module, value, batches in ((avg, average, 1), (cur, current, 7)):
        torch.nn.init.constant_(module.weight, value)
        module.running_mean.fill_(value)
        module.num_batches_tracked.fill_(batches)
    ema_update(avg, cur, decay)
    assert avg.weight.tolist() == pytest.approx([expected] * 2)
    assert avg.running_mean.tolist() == pytest.approx([expected] * 2)
    assert int(avg.num_batches_tracked) == 7


def test_weight_ema_adds_averaged_candidates_and_keeps_the_training(fast_config, tmp_path):
    cfg = replace(fast_config, epochs=2)
    train(cfg, tmp_path / "plain")
    train(replace(cfg, weight_ema=0.5), tmp_path / "ema")
    _assert_same_weights(_weights(tmp_path / "plain"), _weights(tmp_path / "ema"))  # the networks train alike
    rows = [json.loads(l) for l in (tmp_path / "ema" / "metrics.jsonl").read_text().splitlines()]
    assert all("val_dice_model_ema" in r and r["val_dice"] == max(r["val_dice_model"], r["val_dice_model_ema"])
               for r in rows)
    state = load_checkpoint(tmp_path / "ema" / "checkpoints" / "last.pt")["method"]
    plain = load_checkpoint(tmp_path / "plain" / "checkpoints" / "last.pt")["method"]
    assert set(state["averaged"]) == {"model"} and plain["averaged"] == {}
    key = next(k for k, v in state["averaged"]["model"].items() if v.dtype.is_floating_point)
    assert not torch.equal(state["averaged"]["model"][key], state["networks"]["model"][key])


def test_resume_with_weight_ema_reaches_the_uninterrupted_average(fast_config, tmp_path):
    cfg = replace(fast_config, epochs=3, weight_ema=0.8)
    train(cfg, tmp_path / "full")
    with pytest.raises(Interrupted):
        train(cfg, tmp_path / "killed", stop_after_steps=5)
    train(cfg, tmp_path / "killed", resume=True)
    full = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["method"]["averaged"]["model"]
    resumed = load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.pt")["method"]["averaged"]["model"]
    assert all(torch.equal(full[k], resumed[k]) for k in full)


@pytest.mark.parametrize("decay", [-0.1, 1.0])
def test_weight_ema_outside_its_range_is_refused(fast_config, tmp_path, decay):
    with pytest.raises(ValueError, match="weight_ema must be a decay in"):
        train(replace(fast_config, weight_ema=decay), tmp_path / "run")
    assert not (tmp_path / "run" / "config.json").exists()
