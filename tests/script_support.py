"""Loading a script of benchmarks/ (not a package) as a module, for its tests.

    from script_support import benchmark_script
    make_folds = benchmark_script("stu_folds").make_folds
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def benchmark_script(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_fake_run(folder, method, fraction, seed, dice_per_case):
    """A finished run folder of a label-efficiency sweep, as the harness reads it: results.json,
    metrics.jsonl and test_cases.csv with the given per-case Dice."""
    import json

    run = folder / "runs" / f"{method}-f{fraction:g}-s{seed}"
    run.mkdir(parents=True)
    mean = sum(dice_per_case) / len(dice_per_case)
    (run / "results.json").write_text(json.dumps({
        "config": {"method": method, "labelled_fraction": fraction, "seed": seed},
        "test": {"dice": mean, "hd95": 10.0, "n_cases": len(dice_per_case)}, "n_labelled": 5,
        "best": {"score": mean}, "seconds_per_epoch": 2.0}))
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 0, "epoch_seconds": 2.0}) + "\n")
    (run / "test_cases.csv").write_text("case,label,dice\n" + "".join(
        f"c{i},1,{d}\n" for i, d in enumerate(dice_per_case)))
