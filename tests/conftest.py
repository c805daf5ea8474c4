"""Shared fixtures: a tiny phantom dataset and a fast training config (CPU, seconds per run)."""

from __future__ import annotations

import os

import pytest
import torch

# Two threads match CI's 2 cores; AIDEMED_TEST_THREADS=1 keeps tests from starving a benchmark.
torch.set_num_threads(int(os.environ.get("AIDEMED_TEST_THREADS", "2")))


@pytest.fixture(scope="session")
def phantom_dir(tmp_path_factory):
    from aidemed.data.phantom import generate_phantom_dataset

    root = tmp_path_factory.mktemp("phantom")
    generate_phantom_dataset(root, n_cases=30, size=48, seed=0)
    return root


@pytest.fixture
def fast_config(phantom_dir):
    from aidemed.engine.config import TrainConfig

    return TrainConfig(data=str(phantom_dir), net="unet-small", profile="32", epochs=2, batch_size=4,
                       iterations_per_epoch=3, progress=False, labelled_fraction=0.25)
