"""Score every finished run of a label-efficiency sweep again with test-time mirroring, into a new sweep
folder that `aidemed bench table` and `benchmarks/compare_sweeps.py` read like any other.

    python benchmarks/rescore_sweep.py SWEEP --flip -o NEW_SWEEP [--methods aide supervised]

Each run's selected model (runs/NAME/checkpoints/best.pt) predicts the cases its results.json says it
was scored on, now averaged with its prediction of the left-right mirrored image (nnU-Net mirrors at
inference by default; aidemed's runs are scored without it). NEW_SWEEP/runs/NAME gets the new
test_cases.csv, results.json with `test` replaced (the original kept under `rescored.original_test`)
and the run's metrics.jsonl, so training times stay those of the run. Runs already rescored are
skipped, so an interrupted call resumes. Training is not repeated: only inference.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from aidemed.bench.harness import write_tables
from aidemed.bench.report import benchmark_command, record_command
from aidemed.data.manifest import atomic_write_text
from aidemed.engine.run import rescore_test


def rescore_run(run: Path, out_run: Path, flip: bool, device: str) -> bool:
    """Rescore one run into out_run; False when it was already there."""
    if (out_run / "results.json").is_file():
        return False
    out_run.mkdir(parents=True, exist_ok=True)
    test = rescore_test(run, flip=flip, device=device, csv_path=out_run / "test_cases.csv")
    result = json.loads((run / "results.json").read_text())
    result["rescored"] = {"from": str(run.resolve()), "flip": flip, "original_test": result["test"]}
    result["test"] = test
    shutil.copyfile(run / "metrics.jsonl", out_run / "metrics.jsonl")
    atomic_write_text(out_run / "results.json", json.dumps(result, indent=2, default=float) + "\n")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--flip", action="store_true", help="average with the mirrored image's prediction")
    parser.add_argument("--methods", nargs="+", help="only these methods (default: every run)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    if not args.flip:
        raise SystemExit("rescore_sweep.py: nothing to change; pass --flip")
    if not (args.sweep / "runs").is_dir():
        raise SystemExit(f"{args.sweep}: not a sweep folder (no runs/)")
    if args.output.resolve() == args.sweep.resolve():
        raise SystemExit(f"{args.output}: must differ from the sweep folder (its runs would be overwritten)")
    runs = [r.parent for r in sorted((args.sweep / "runs").glob("*/results.json"))
            if not args.methods or json.loads(r.read_text())["config"]["method"] in args.methods]
    if not runs:
        raise SystemExit(f"{args.sweep}: no finished runs{' of ' + ' '.join(args.methods) if args.methods else ''}")
    args.output.mkdir(parents=True, exist_ok=True)
    record_command(args.output, benchmark_command("rescore_sweep.py", argv))
    failed = []
    for run in runs:
        began = time.perf_counter()
        try:
            done = rescore_run(run, args.output / "runs" / run.name, args.flip, args.device)
        except (OSError, ValueError, KeyError) as exc:
            failed.append(f"{run.name}: {exc}")
            continue
        print(f"{run.name}: {'rescored in %.0f s' % (time.perf_counter() - began) if done else 'already rescored'}")
    write_tables(args.output)
    if failed:
        raise SystemExit("runs not rescored (the others are kept):\n  " + "\n  ".join(failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
