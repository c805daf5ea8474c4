"""AIDE's training cost per epoch against the supervised method's, on the same images (issue: AIDE).

Both methods train on the prepared dataset's training split at the profile's size with the same
network and batch size. Epochs are timed interleaved and repeated (median reported): AIDE at an
epoch where the consistency term is active (lambda > 0, so the multi-view targets are computed), plus
the cost of one global label-correction pass, which runs on correction epochs only.

    python benchmarks/aide_cost.py --data DATA_DIR [--steps 20 --repeats 3]
    python benchmarks/aide_cost.py --data DATA_DIR --net unet-base --cpu-bf16 --threads 1   # the sweep's set-up
    ... --compile --channels-last   # compiled, channels-last networks (compiling runs in the warm-up)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from aidemed.data.cache import load_arrays
from aidemed.bench.report import write_benchmark
from aidemed.data.manifest import load_dataset
from aidemed.engine.config import TrainConfig
from aidemed.engine.run import environment, semi_supervised_data
from aidemed.engine.seed import epoch_generator
from aidemed.engine.trainer import Trainer
from aidemed.methods import StepContext, get_method


def images_per_second(cfg: TrainConfig, data, epoch: int, steps: int, bootstrap=None) -> float:
    method = get_method(cfg.method)(cfg, data, torch.device("cpu"))
    if bootstrap is not None:
        method.bootstrap = bootstrap
    method.setup()
    if cfg.compile:
        method.compile_networks()
    trainer = Trainer(cfg, "/tmp/aide-cost-unused", torch.device("cpu"))
    generator = epoch_generator(cfg.seed, epoch)
    ctx = StepContext(epoch, 0, generator, torch.device("cpu"), cfg.augment, trainer.autocast, data)
    order = trainer._epoch_order(method.epoch_pool(), steps * cfg.batch_size, generator)
    began = time.perf_counter()
    for step in range(steps):
        method.training_step(order[step * cfg.batch_size:(step + 1) * cfg.batch_size], ctx)
    return steps * cfg.batch_size / (time.perf_counter() - began), method


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--net", default="unet-small")
    parser.add_argument("--profile", default="standard")
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--epoch", type=int, default=10, help="epoch whose lambda AIDE uses (> 0)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu-bf16", action="store_true", help="bf16 autocast on the CPU, as the sweeps run")
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks (as `--compile`)")
    parser.add_argument("--channels-last", action="store_true", help="channels-last networks (as `--channels-last`)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", default="benchmarks/results/aide_cost")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    began = time.perf_counter()
    cfg = TrainConfig(data=str(Path(args.data).resolve()), net=args.net, profile=args.profile, progress=False,
                      labelled_fraction=args.fraction, cpu_bf16=args.cpu_bf16,
                      compile=args.compile, channels_last=args.channels_last)
    dataset = load_dataset(cfg.data)
    data = semi_supervised_data(dataset, load_arrays(dataset, cfg.profile), dataset.load_splits(), args.fraction)
    # The bootstrap only sets the initial pseudo-masks; an untrained network costs the same to run.
    from aidemed.engine.inference import Predictor
    from aidemed.nets import create_model

    bootstrap = Predictor([create_model(cfg.net, data.in_channels, data.num_classes)], 0, data.num_classes,
                          torch.device("cpu"))
    supervised_cfg, aide_cfg = replace(cfg, method="supervised"), replace(cfg, method="aide")
    images_per_second(supervised_cfg, data, args.epoch, 2)  # warm-up (and compilation, with --compile)
    if args.compile:
        images_per_second(aide_cfg, data, args.epoch, 2, bootstrap)
    samples = {"supervised": [], "aide": []}
    for _ in range(args.repeats):
        samples["supervised"].append(images_per_second(supervised_cfg, data, args.epoch, args.steps)[0])
        rate, aide = images_per_second(aide_cfg, data, args.epoch, args.steps, bootstrap)
        samples["aide"].append(rate)
    t0 = time.perf_counter()
    aide.correct_labels(args.epoch)
    correction_seconds = time.perf_counter() - t0
    median = {k: statistics.median(v) for k, v in samples.items()}
    epoch_images = len(data)
    seconds = {k: epoch_images / median[k] for k in median}
    ratio = seconds["aide"] / seconds["supervised"]
    ratio_with_correction = (seconds["aide"] + correction_seconds) / seconds["supervised"]
    result = {
        "command": " ".join(["python", *sys.argv]), "net": args.net, "profile": args.profile,
        "cpu_bf16": args.cpu_bf16, "compile": args.compile, "channels_last": args.channels_last, "threads": torch.get_num_threads(),
        "batch_size": cfg.batch_size, "epoch_images": epoch_images, "lambda": aide.ramp(args.epoch),
        "images_per_second_median": median, "images_per_second_samples": samples,
        "seconds_per_epoch": seconds, "correction_pass_seconds": correction_seconds,
        "ratio_aide_over_supervised": ratio, "ratio_with_correction": ratio_with_correction,
        "environment": environment(), "wall_seconds": time.perf_counter() - began,
    }
    out = Path(args.out)
    md = [
        f"{args.net}, {args.profile} profile, {'bf16 autocast' if args.cpu_bf16 else 'fp32'}, "
        f"{'channels-last, ' if args.channels_last else ''}{'torch.compile, ' if args.compile else ''}{torch.get_num_threads()} torch thread(s), batch {cfg.batch_size}, {epoch_images} training images per epoch, "
        f"AIDE at epoch {args.epoch} (lambda {result['lambda']:.2f}, 4 views); {args.repeats} interleaved repeats "
        f"of {args.steps} steps, median.", "",
        "| method | images/s | s / epoch |", "|---|---|---|",
        *[f"| {k} | {median[k]:.1f} | {seconds[k]:.1f} |" for k in median], "",
        f"AIDE / supervised time per epoch: **{ratio:.2f}** (target <= 3); on a correction epoch (+ one "
        f"correction pass of {correction_seconds:.1f} s): {ratio_with_correction:.2f}.",
    ]
    print(write_benchmark(out, result, "AIDE training cost per epoch vs supervised", md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
