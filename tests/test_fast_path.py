"""The CPU fast path: `compile` (torch.compile every network) and `channels_last` change how a step runs,
never what the method learns."""

import contextlib
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from aidemed.cli.train import add_train_arguments, config_from_args
from aidemed.engine.config import TrainConfig
from aidemed.engine.run import train
from aidemed.engine.trainer import require_compiler
from aidemed.methods import StepContext, TrainData, get_method, list_methods


def _data(n=8, size=32):
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(n, 1, size, size, generator=generator)
    masks = torch.zeros(n, size, size, dtype=torch.long)
    masks[:, 8:20, 10:24] = 1
    return TrainData(images=images, masks=masks, has_label=torch.ones(n, dtype=torch.bool),
                     trusted=torch.arange(n) < 2, case_ids=np.array([f"c{i}" for i in range(n)]), num_classes=2)


def _method(name, **cfg):
    method = get_method(name)(TrainConfig(net="unet-small", method=name, epochs=4, **cfg), _data(), torch.device("cpu"))
    method.setup()
    return method


def _all_networks(method):
    modules = [*method.networks.values(), *(net for group in method.candidates().values() for net in group)]
    return list({id(net): net for net in modules}.values())


def _step(method, epoch=1):
    generator = torch.Generator().manual_seed(1)
    ctx = StepContext(epoch, 0, generator, torch.device("cpu"), TrainConfig().augment, contextlib.nullcontext,
                      method.data)
    return method.training_step(torch.arange(4), ctx)


@pytest.mark.parametrize("name", list_methods())
def test_compile_networks_compiles_every_trained_and_validated_network(name):
    method = _method(name)
    networks = _all_networks(method)
    assert all(net._compiled_call_impl is None for net in networks)
    method.compile_networks()
    assert all(net._compiled_call_impl is not None for net in networks)
    # In place: the state-dict keys stay those of an uncompiled network, so checkpoints are interchangeable.
    assert all(not any(key.startswith("_orig_mod") for key in net.state_dict()) for net in networks)


@pytest.mark.parametrize("name", list_methods())
def test_channels_last_changes_the_layout_not_the_step(name):
    plain, fast = _method(name), _method(name, channels_last=True)
    for net in _all_networks(fast):
        kernels = [p for p in net.parameters() if p.dim() == 4]
        assert kernels and all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels)
    logs_plain, logs_fast = _step(plain), _step(fast)
    assert logs_fast["loss"] == pytest.approx(logs_plain["loss"], rel=1e-4)
    # Gradients, not the updated weights: Adam's first step is about lr * sign(grad), which magnifies
    # rounding on gradients near zero. Summation order changes with the thread count (a 5e-6 difference
    # on a near-zero gradient with one thread), hence atol 1e-5, a hundredth of the median gradient (1e-3).
    for key in plain.networks:
        for p, q in zip(plain.networks[key].parameters(), fast.networks[key].parameters()):
            if p.grad is not None:
                torch.testing.assert_close(q.grad, p.grad, rtol=1e-3, atol=1e-5)
    # The optimiser's state was made after the layout change, so it shares the parameters' layout.
    for optimizer in fast.optimizers.values():
        for p, state in optimizer.state.items():
            if p.dim() == 4 and "exp_avg" in state:
                assert state["exp_avg"].is_contiguous(memory_format=torch.channels_last)


def test_compile_without_a_compiler_stops_before_training(fast_config, tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-for-aidemed")
    with pytest.raises(RuntimeError, match="no-such-compiler-for-aidemed"):
        require_compiler(torch.device("cpu"))
    with pytest.raises(RuntimeError, match="C\\+\\+ compiler"):
        train(replace(fast_config, compile=True), tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()


def test_cli_flags_reach_the_config(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    args = parser.parse_args(["--data", str(tmp_path), "--compile", "--channels-last", "--keep-every", "5"])
    cfg = config_from_args(args)
    assert cfg.compile and cfg.channels_last and cfg.keep_every == 5
    assert not any(getattr(config_from_args(parser.parse_args(["--data", str(tmp_path)])), k)
                   for k in ("compile", "channels_last", "keep_every"))


@pytest.mark.skipif(shutil.which("g++") is None, reason="torch.compile on the CPU needs a C++ compiler (g++)")
def test_a_compiled_channels_last_run_trains_validates_and_scores(fast_config, tmp_path):
    cfg = replace(fast_config, compile=True, channels_last=True, epochs=1, iterations_per_epoch=2)
    result = train(cfg, tmp_path / "run")
    assert 0.0 <= result["test"]["dice"] <= 1.0
    assert np.isfinite(result["best"]["score"])
