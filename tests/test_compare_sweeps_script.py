"""benchmarks/compare_sweeps.py: two sweeps of the same runs compared run by run."""

import json

import pytest
from script_support import benchmark_script, write_fake_run


_run = write_fake_run


def test_each_pair_gets_its_change_paired_test_and_ratios(tmp_path):
    base, variant = tmp_path / "default", tmp_path / "strong"
    for seed in (0, 1):
        _run(base, "supervised", 1.0, seed, [0.8] * 6)
        _run(variant, "supervised", 1.0, seed, [0.78] * 6)
        _run(base, "aide", 0.1, seed, [0.5, 0.6, 0.55, 0.5, 0.6, 0.52])
        _run(variant, "aide", 0.1, seed, [0.6, 0.7, 0.65, 0.62, 0.71, 0.6])
    _run(variant, "supervised", 0.1, 0, [0.4] * 6)  # finished in one sweep only
    out = tmp_path / "compare"
    benchmark_script("compare_sweeps").main([str(base), str(variant), "--base-name", "default",
                                             "--variant-name", "strong", "-o", str(out)])
    result = json.loads(out.with_suffix(".json").read_text())
    aide = next(p for p in result["pairs"] if p["method"] == "aide")
    assert aide["difference"] == pytest.approx(0.1016667, abs=1e-6)
    assert aide["paired_test"]["n_images"] == 6 and aide["paired_test"]["mean_difference"] == pytest.approx(0.1016667, abs=1e-6)
    assert aide["base_ratio_to_full"] == pytest.approx((sum([0.5, 0.6, 0.55, 0.5, 0.6, 0.52]) / 6) / 0.8)
    assert aide["variant_ratio_to_full"] == pytest.approx((sum([0.6, 0.7, 0.65, 0.62, 0.71, 0.6]) / 6) / 0.78)
    full = next(p for p in result["pairs"] if p["method"] == "supervised")
    assert full["difference"] == pytest.approx(-0.02) and full["paired_test"]["mean_difference"] == pytest.approx(-0.02)
    assert result["missing_in_one"] == ["supervised 0.1"]
    text = out.with_suffix(".md").read_text()
    assert "| aide | 0.1 | 0 1 |" in text and "+10.17" in text and "supervised 0.1" in text


def test_a_folder_without_runs_is_refused_by_name(tmp_path):
    (tmp_path / "ok" / "runs").mkdir(parents=True)
    with pytest.raises(SystemExit, match="nowhere: not a sweep folder"):
        benchmark_script("compare_sweeps").main([str(tmp_path / "ok"), str(tmp_path / "nowhere"), "-o",
                                                 str(tmp_path / "x")])
