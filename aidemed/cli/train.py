"""`aidemed train` and `aidemed predict`."""

from __future__ import annotations

from pathlib import Path

import yaml


def register(subparsers) -> None:
    train = subparsers.add_parser("train", help="train a segmentation method on a prepared dataset")
    add_train_arguments(train)
    train.set_defaults(func=_train)

    predict = subparsers.add_parser("predict", help="predict masks in the input's own geometry")
    predict.add_argument("model", help="a run folder (uses checkpoints/best.pt) or a .pt checkpoint")
    predict.add_argument("input", help="an image file, a folder of images, or a prepared dataset folder")
    predict.add_argument("-o", "--output", required=True, help="folder for the predicted masks")
    predict.add_argument("--split", default=None, help="with a prepared dataset: only this split (e.g. test)")
    predict.add_argument("--overlay", action="store_true", help="also write overlay PNGs (image + mask outline)")
    predict.add_argument("--adapt-bn", action="store_true",
                         help="first re-estimate the model's batch-norm statistics on these input images "
                              "(AdaBN: test-time adaptation to a new site's images; no masks needed)")
    predict.add_argument("--flip", action="store_true",
                         help="test-time augmentation: average each prediction with that of the left-right "
                              "mirrored image (as nnU-Net's mirroring; about 2x the inference time)")
    predict.add_argument("--device", default="auto")
    predict.set_defaults(func=_predict)


METHOD_ARG_HELP = "a method option, e.g. --method-arg select=ensemble (repeatable)"


def add_train_arguments(parser, method_arg_help: str = METHOD_ARG_HELP) -> None:
    from aidemed.engine.config import TrainConfig

    d = TrainConfig()
    parser.add_argument("--data", required=True, help="prepared dataset folder (`aidemed data import`)")
    parser.add_argument("--method", default=d.method, help="registered method (see `aidemed train --list`)")
    parser.add_argument("--net", default=d.net, help="registered network")
    parser.add_argument("--profile", default=d.profile, help="small (64 px), standard (128 px), large (256 px) or a size")
    parser.add_argument("--labelled-fraction", type=float, default=d.labelled_fraction,
                        help="label budget: fraction of training masks used (a budget of the split file)")
    parser.add_argument("--setting", default=d.setting,
                        help="which training data: semi (label budget), noisy (every given mask may be wrong), "
                             "domain-adaptation (+ --target-data); see docs/robustness.md")
    parser.add_argument("--trusted-fraction", type=float, default=d.trusted_fraction,
                        help="noisy setting: nested subset of expert-verified masks that are never rewritten")
    parser.add_argument("--target-data", default=d.target_data,
                        help="domain-adaptation: prepared target dataset (train cases unlabelled, test scored)")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--epochs", type=int, default=d.epochs)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--optimizer", default=d.optimizer, choices=("adamw", "adam", "sgd"))
    parser.add_argument("--scheduler", default=d.scheduler, choices=("poly", "cosine", "none"))
    parser.add_argument("--iterations-per-epoch", type=int, default=d.iterations_per_epoch,
                        help="0: one pass over all training images")
    add_execution_arguments(parser)
    parser.add_argument("--keep-every", type=int, default=d.keep_every, metavar="N",
                        help="also keep checkpoints/epoch-NNN.pt every N epochs (0: only last.pt and best.pt)")
    parser.add_argument("--weight-ema", type=float, default=d.weight_ema, metavar="DECAY",
                        help="also validate an exponential moving average of each network's weights (decay per "
                             "optimiser step, e.g. 0.99; 0: off) as a candidate for the kept model")
    parser.add_argument("--init-weights", default=d.init_weights, metavar="PATH",
                        help="start every network from `aidemed pretrain`'s weights (its folder or pretrained.pt); "
                             "all layers but the output layer")
    parser.add_argument("--method-arg", action="append", default=[], metavar="KEY=VALUE", help=method_arg_help)
    parser.add_argument("--augment", action="append", default=[], metavar="KEY=VALUE",
                        help="a training-augmentation option (repeatable), e.g. --augment rotate_degrees=30 "
                             "--augment scale_range=[0.75,1.33]; fields of aidemed.engine.config.AugmentConfig")
    parser.add_argument("-o", "--output", default=None, help="run folder (default runs/DATASET-METHOD-fF-sSEED)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --output")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_execution_arguments(parser) -> None:
    """Where and how fast training runs, not what it learns (`aidemed train`, `bench`, `pretrain`)."""
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    parser.add_argument("--cpu-bf16", action="store_true",
                        help="bf16 autocast on the CPU too (about 1.5x faster with AMX / AVX512-BF16)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the networks (faster steps after tens of seconds of compiling; "
                             "on the CPU needs a C++ compiler)")
    parser.add_argument("--channels-last", action="store_true",
                        help="networks in channels-last memory layout (faster convolutions on CPUs and GPUs)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")


def key_values(items: list[str], flag: str) -> dict:
    parsed = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"aidemed: error: {flag} expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        parsed[key.replace("-", "_")] = yaml.safe_load(value)
    return parsed


def config_from_args(args):
    from aidemed.engine.config import AugmentConfig, TrainConfig, augment_with

    method_args = key_values(args.method_arg, "--method-arg")
    try:
        augment = augment_with(AugmentConfig(), key_values(args.augment, "--augment"))
    except ValueError as exc:
        raise SystemExit(f"aidemed: error: --augment: {exc}") from None
    return TrainConfig(
        data=str(Path(args.data).resolve()), method=args.method, net=args.net, profile=str(args.profile),
        labelled_fraction=args.labelled_fraction, setting=args.setting, trusted_fraction=args.trusted_fraction,
        target_data=str(Path(args.target_data).resolve()) if args.target_data else "",
        seed=args.seed, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, optimizer=args.optimizer, scheduler=args.scheduler,
        iterations_per_epoch=args.iterations_per_epoch, device=args.device, amp=not args.no_amp, cpu_bf16=args.cpu_bf16,
        compile=args.compile, channels_last=args.channels_last,
        num_threads=args.threads, progress=not args.quiet, keep_every=args.keep_every, augment=augment,
        weight_ema=args.weight_ema,
        init_weights=str(Path(args.init_weights).resolve()) if args.init_weights else "",
        method_args=method_args,
    )


def default_run_dir(cfg) -> Path:
    setting = "" if cfg.setting == "semi" else f"-{cfg.setting}"
    return Path("runs") / f"{Path(cfg.data).name}{setting}-{cfg.method}-f{cfg.labelled_fraction:g}-s{cfg.seed}"


def _train(args) -> int:
    from aidemed.engine.run import train

    cfg = config_from_args(args)
    run_dir = Path(args.output) if args.output else default_run_dir(cfg)
    result = train(cfg, run_dir, resume=args.resume)
    test = result["test"]
    print(f"{run_dir}: best val Dice {result['best']['score']:.4f} ({result['best']['candidate']}, "
          f"epoch {result['best']['epoch']}); test Dice {test['dice']:.4f}, HD95 {test['hd95']:.2f} "
          f"over {test['n_cases']} cases; {result['train_seconds']:.0f} s")
    return 0


def _model_path(model: str) -> Path:
    path = Path(model)
    return path / "checkpoints" / "best.pt" if path.is_dir() else path


def _predict(args) -> int:
    from aidemed.engine.predict import predict_inputs

    written = predict_inputs(_model_path(args.model), args.input, args.output, split=args.split,
                             overlay=args.overlay, device=args.device, adapt_bn=args.adapt_bn,
                             flip=args.flip)
    print(f"{args.output}: wrote {len(written)} masks")
    return 0
