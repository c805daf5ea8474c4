"""`aidemed demo`: the main job on the embedded phantoms, on a machine with no data at all.

Trains supervised with 10% of the masks, AIDE with the same 10% (bootstrapped from that supervised
run), and supervised with 100%, then prints their test Dice side by side. Runs are cached in the
work folder, so a second `aidemed demo` only prints the table.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path


def register(subparsers) -> None:
    demo = subparsers.add_parser("demo", help="AIDE vs supervised on embedded phantoms (a few minutes on CPU)")
    demo.add_argument("--workdir", default="aidemed-demo", help="where the phantoms and runs go")
    demo.add_argument("--cases", type=int, default=120, help="number of phantom images")
    demo.add_argument("--epochs", type=int, default=30)
    demo.add_argument("--profile", default="small", help="training size (small = 64 px)")
    demo.add_argument("--fraction", type=float, default=0.1, help="label budget of the low-label runs")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--device", default="auto")
    demo.set_defaults(func=_demo)


def demo_specs(fraction: float, seed: int):
    from aidemed.bench.harness import RunSpec

    return [RunSpec("supervised", fraction, seed), RunSpec("aide", fraction, seed), RunSpec("supervised", 1.0, seed)]


def _demo(args) -> int:
    from aidemed.bench.harness import run_sweep
    from aidemed.data.phantom import generate_phantom_dataset
    from aidemed.data.splits import create_split_file
    from aidemed.data.manifest import load_dataset
    from aidemed.engine.config import TrainConfig

    began = time.perf_counter()
    work = Path(args.workdir)
    data = work / "phantoms"
    if not (data / "manifest.jsonl").is_file():
        print(f"generating {args.cases} phantom images in {data} ...")
        generate_phantom_dataset(data, n_cases=args.cases, size=128, seed=args.seed)
    dataset = load_dataset(data)
    if not dataset.splits_path.is_file():
        create_split_file(dataset, seed=args.seed)
    base = TrainConfig(data=str(data.resolve()), profile=args.profile, epochs=args.epochs, device=args.device,
                       progress=True)
    supervised_low = work / "runs" / f"supervised-f{args.fraction:g}-s{args.seed}"
    specs = demo_specs(args.fraction, args.seed)
    # AIDE's bootstrap is the supervised run on the same labelled cases: train it once, use it twice.
    configs = {spec.key: replace(base, method_args={"bootstrap_run": str(supervised_low.resolve())})
               if spec.method == "aide" else base for spec in specs}
    results = []
    for spec in specs:
        results += run_sweep(configs[spec.key], [spec], work)
    print()
    print(f"Test Dice on {results[0]['test']['n_cases']} held-out phantom images "
          f"({results[0]['n_train']} training images, {args.profile} profile, {args.epochs} epochs):")
    print(f"  {'method':<12} {'masks used':>12} {'test Dice':>10} {'HD95 px':>8} {'train s':>8}")
    for r in results:
        cfg = r["config"]
        print(f"  {cfg['method']:<12} {r['n_labelled']:>5} ({cfg['labelled_fraction']:>4.0%}) {r['test']['dice']:>10.4f}"
              f" {r['test']['hd95']:>8.2f} {r['train_seconds']:>8.0f}")
    print(f"\nruns and logs: {work / 'runs'}; total {time.perf_counter() - began:.0f} s")
    return 0
