"""Is `aidemed bench label-efficiency --jobs N` worth it on a CPU? The same small sweep timed three ways:
one run at a time with every core, one run at a time with one core (the per-run cost the parallel
layout pays), and N runs at once with cores / N threads each.

    python benchmarks/jobs_speed.py --data /work/data/busi -o benchmarks/results/jobs_speed_cpu

Each layout trains into its own folder under OUT/sweeps (kept, so a second call reuses finished
layouts: delete a folder to time it again) and the script writes OUT/jobs_speed.json and .md with the
wall time of each whole sweep, each run's test Dice and median epoch time, and the machine. Each layout
gets an empty torch.compile cache of its own: the compiled kernels one layout leaves on disk would
otherwise spare the next layouts their compiling.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def layouts(cores: int, jobs: int) -> dict[str, list[str]]:
    threads = max(1, cores // jobs)
    return {
        f"sequential, {cores} threads": ["--jobs", "1", "--threads", str(cores)],
        "sequential, 1 thread": ["--jobs", "1", "--threads", "1"],
        f"--jobs {jobs}, {threads} thread(s) each": ["--jobs", str(jobs), "--threads", str(threads)],
    }


def sweep_command(args, layout_args: list[str], out: Path) -> list[str]:
    return [sys.executable, "-m", "aidemed", "bench", "label-efficiency", "--data", args.data, "--net", args.net,
            "--epochs", str(args.epochs), "--methods", *args.methods, "--fractions", str(args.fraction),
            "--seeds", *[str(s) for s in range(args.runs_per_method)], "--quiet", *args.extra,
            *layout_args, "-o", str(out)]


def time_layout(command: list[str], out: Path) -> dict:
    timing = out / "wall_time.json"
    if timing.is_file():
        return json.loads(timing.read_text())
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="inductor-") as cache:
        subprocess.run(command, check=True, env={**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache})
    record = {"wall_s": round(time.perf_counter() - began, 1), "command": shlex.join(_as_typed(command))}
    record["runs"] = _runs(out)
    timing.write_text(json.dumps(record, indent=1))
    return record


def _as_typed(command: list[str]) -> list[str]:
    """`python -m aidemed ...` as a user types it: `aidemed ...`."""
    return ["aidemed", *command[3:]] if command[1:3] == ["-m", "aidemed"] else command


def _runs(out: Path) -> dict[str, dict]:
    """Each finished run's test Dice and median epoch time, from the sweep's runs.csv."""
    table = out / "runs.csv"
    if not table.is_file():
        return {}
    with table.open() as f:
        return {row["run"]: {"test_dice": round(float(row["test_dice"]), 4),
                             "median_epoch_s": round(float(row["median_epoch_seconds"]), 2)}
                for row in csv.DictReader(f)}


def markdown(records: dict[str, dict], machine: str, command: str) -> str:
    fastest = min(r["wall_s"] for r in records.values())
    lines = ["# A small sweep on the CPU: one run at a time, or several (`--jobs`)", "",
             f"Command: `{command}`", "", f"Machine: {machine}", "",
             "| layout | wall time of the whole sweep (s) | ÷ fastest | per run: test Dice, median epoch (s) |",
             "|---|---|---|---|"]
    for name, record in records.items():
        runs = ", ".join(f"{key} {run['test_dice']:.4f} / {run['median_epoch_s']:.1f}"
                         for key, run in record["runs"].items())
        lines.append(f"| {name} | {record['wall_s']:.0f} | {record['wall_s'] / fastest:.2f} | {runs} |")
    lines += ["", "Each layout's sweep command:", ""]
    lines += [f"    {record['command']}" for record in records.values()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--net", default="unet-base")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=["supervised", "aide"])
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--runs-per-method", type=int, default=2, help="seeds 0..N-1 of each method")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=["--compile", "--channels-last"],
                        help="more options for every sweep (last on the line)")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args()

    from aidemed.engine.run import environment

    cores = os.cpu_count() or 1
    records = {}
    for name, layout_args in layouts(cores, args.jobs).items():
        folder = args.out / "sweeps" / name.replace(" ", "_").replace(",", "").replace("(s)", "s").strip("-")
        records[name] = time_layout(sweep_command(args, layout_args, folder), folder)
        print(f"{name}: {records[name]['wall_s']:.0f} s", flush=True)
    env = environment()
    machine = f"{env['processor']}, {cores} cores, torch {env['torch']}, Python {env['python']}"
    command = shlex.join(["python", "benchmarks/jobs_speed.py", *sys.argv[1:]])
    (args.out / "jobs_speed.json").write_text(json.dumps({"command": command, "machine": machine,
                                                         "layouts": records}, indent=1))
    (args.out / "jobs_speed.md").write_text(markdown(records, machine, command))


if __name__ == "__main__":
    main()
