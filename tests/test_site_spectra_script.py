"""benchmarks/site_spectra.py: power shares per ring of frequencies."""

import numpy as np
import pytest
from script_support import benchmark_script


@pytest.fixture(scope="module")
def script():
    return benchmark_script("site_spectra")


@pytest.mark.parametrize("cycles, ring", [(1, 0), (3, 1), (7, 2), (15, 3), (30, 4), (50, 5)])
def test_a_single_frequency_lands_in_its_ring(script, cycles, ring):
    grid = np.arange(128) / 128
    image = np.cos(2 * np.pi * cycles * grid)[None, :] * np.ones((128, 1)) + 5.0  # the mean is left out
    shares = script.ring_power_shares(image[None])
    expected = np.zeros(len(script.RINGS))
    expected[ring] = 1
    assert shares.shape == (1, len(script.RINGS)) and np.allclose(shares[0], expected)


@pytest.mark.parametrize("size", [64, 256])  # at 256 px the corners reach 181 cycles: the last ring has no end
def test_white_noise_spreads_its_power_by_the_rings_areas(script, size):
    noise = np.random.default_rng(0).standard_normal((20, size, size))
    shares = script.ring_power_shares(noise).mean(0)
    assert shares.sum() == pytest.approx(1.0) and shares[-1] > shares[0]  # the outer rings hold most frequencies
