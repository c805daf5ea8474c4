"""benchmarks/sweep_cost.py: the whole sweep's projected wall time from measured runs."""

import pytest
from script_support import benchmark_script


def _project():
    return benchmark_script("sweep_cost").project


def _row(method, median, epochs=40, mean=None):
    mean = median if mean is None else mean
    return {"method": method, "median_epoch_seconds": median, "seconds_per_epoch": mean,
            "train_seconds": mean * epochs}


def test_projection_counts_the_issue_cells_and_uses_the_median_epoch():
    rows = [_row("supervised", 6.0), _row("supervised", 8.0, mean=9.0), _row("aide", 18.0)]
    result = _project()(rows, [0.05, 0.1, 0.25], seeds=3, jobs=2)
    sup, aide = result["methods"]["supervised"], result["methods"]["aide"]
    assert sup["cells"] == 12 and aide["cells"] == 9  # supervised also runs at 100%
    assert sup["seconds_per_run"] == pytest.approx(7.0 * 40)
    assert result["total_run_seconds"] == pytest.approx(12 * 280 + 9 * 720)
    assert result["projected_wall_seconds"] == pytest.approx(result["total_run_seconds"] / 2)
