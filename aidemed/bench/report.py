"""Writing a stand-alone benchmark's results: JSON for machines, Markdown for people, both with the
exact command and the machine."""

from __future__ import annotations

import csv
import io
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from aidemed.data.io import replaced_atomically
from aidemed.data.manifest import atomic_write_text


def write_benchmark(out: Path, result: dict, title: str, body: list[str]) -> str:
    """`out`.json gets `result` (which holds `command` and `environment`); `out`.md a header + `body`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out.with_suffix(".json"), json.dumps(result, indent=2) + "\n")
    env = result["environment"]
    markdown = "\n".join([
        f"# {title}", "",
        f"Command: `{result['command']}`", "",
        f"Machine: {env['processor']}, {env['threads']} torch threads, torch {env['torch']}, MONAI {env['monai']}.",
        *body, "",
        f"Wall time of the benchmark: {result['wall_seconds']:.0f} s.", "",
    ])
    atomic_write_text(out.with_suffix(".md"), markdown)
    return markdown


def benchmark_command(script: str, argv: list[str] | None) -> str:
    """The command line that ran `benchmarks/<script>` (argv None: this process's own arguments)."""
    return f"python benchmarks/{script} " + shlex.join(sys.argv[1:] if argv is None else argv)


def write_script_benchmark(out: Path, script: str, argv: list[str] | None, began: float, title: str,
                           body: list[str], **result) -> str:
    """`write_benchmark` for a benchmarks/ script: `result` with the script's command line, the machine
    and the wall time since `began` (a `time.perf_counter()` reading) added."""
    from aidemed.engine.run import environment

    full = {"command": benchmark_command(script, argv), **result, "environment": environment(),
            "wall_seconds": time.perf_counter() - began}
    return write_benchmark(out, full, title, body)


# ---- sweeps (label-efficiency, report-labels): one way to log commands and write the tables


def record_command(out: Path, command: str | None = None) -> None:
    """Append the exact command line (a sweep may be resumed by several invocations); `command` for a
    caller whose own arguments are not sys.argv (a benchmarks/ script called from a test)."""
    if command is None:
        program = Path(sys.argv[0])
        if program.name == "aidemed" or (program.name == "__main__.py" and program.parent.name == "aidemed"):
            words = ["aidemed", *sys.argv[1:]]
        else:
            words = [Path(sys.executable).name, *sys.argv]
        command = " ".join(shlex.quote(w) for w in words)
    with open(out / "commands.txt", "a") as fh:
        fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {command}\n")


def recorded_commands(out: Path) -> list[str]:
    path = Path(out) / "commands.txt"
    return path.read_text().splitlines() if path.is_file() else []


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample sd of the finite values (sd 0 for one value, NaN for none)."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def save_figure(fig, path: Path) -> None:
    """PNG written atomically (two jobs of one sweep may rebuild its plot at once), then closed."""
    import matplotlib.pyplot as plt

    with replaced_atomically(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def write_sweep_files(out: Path, summary: dict, runs: list[dict], markdown: str) -> None:
    """summary.json, runs.csv (one row per run) and summary.md of a sweep folder."""
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=float) + "\n")
    buffer = io.StringIO()
    if runs:
        writer = csv.DictWriter(buffer, fieldnames=list(runs[0]))
        writer.writeheader()
        writer.writerows(runs)
    atomic_write_text(out / "runs.csv", buffer.getvalue())
    atomic_write_text(out / "summary.md", markdown)
