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
