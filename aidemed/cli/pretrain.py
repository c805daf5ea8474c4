"""`aidemed pretrain`: self-supervised restoration pretraining on a prepared dataset's images."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    from aidemed.cli.train import add_execution_arguments
    from aidemed.engine.pretrain import PretrainConfig

    d = PretrainConfig()
    parser = subparsers.add_parser(
        "pretrain", help="pretrain a network on unlabelled images (restoring corrupted copies, Models Genesis)",
        description="Trains the network to restore each training image from a corrupted copy (non-linear intensity, "
        "local pixel shuffling, in-/out-painting); no mask is read. Writes OUT/pretrained.pt for "
        "`aidemed train --init-weights OUT`. A finished OUT with the same config is kept as it is.")
    parser.add_argument("--data", required=True, help="prepared dataset folder (`aidemed data import`)")
    parser.add_argument("--extra-data", nargs="+", default=[], metavar="DIR",
                        help="more prepared datasets whose images (same --splits) are restored too, e.g. a new "
                             "site's unlabelled images before domain adaptation")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument("--net", default=d.net, help="registered network (the one the runs will train)")
    parser.add_argument("--profile", default=d.profile)
    parser.add_argument("--splits", nargs="+", default=list(d.splits),
                        help="the splits whose images are used (default: train; never test)")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--epochs", type=int, default=d.epochs)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--scheduler", default=d.scheduler, choices=("poly", "cosine", "none"))
    add_execution_arguments(parser)
    parser.add_argument("--resume", action="store_true", help="continue an interrupted pretraining in OUT")
    parser.add_argument("--quiet", action="store_true", help="no line per epoch")
    parser.set_defaults(func=_pretrain)


def _pretrain(args) -> int:
    from aidemed.engine.pretrain import PretrainConfig, pretrain

    cfg = PretrainConfig(data=str(Path(args.data).resolve()),
                         extra_data=tuple(str(Path(d).resolve()) for d in args.extra_data), net=args.net, profile=str(args.profile),
                         splits=tuple(args.splits), seed=args.seed, epochs=args.epochs, batch_size=args.batch_size,
                         lr=args.lr, scheduler=args.scheduler, device=args.device, amp=not args.no_amp, cpu_bf16=args.cpu_bf16,
                         compile=args.compile, channels_last=args.channels_last, num_threads=args.threads,
                         progress=not args.quiet)
    result = pretrain(cfg, args.output, resume=args.resume)
    final = result["final"]
    val = f", val MSE {final['val_mse']:.4f}" if "val_mse" in final else ""
    print(f"{args.output}: {result['n_images']} images, {cfg.epochs} epochs, final train MSE "
          f"{final['train_mse']:.4f}{val}; {result['train_seconds']:.0f} s. "
          f"Use: aidemed train --init-weights {args.output} --net {cfg.net} ...")
    return 0
