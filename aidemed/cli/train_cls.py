"""`aidemed train-cls`: train an image classifier on class labels or on labels read from reports."""

from __future__ import annotations

from pathlib import Path

import yaml


def register(subparsers) -> None:
    from aidemed.engine.classification import ClsConfig
    from aidemed.losses.rate_policies import list_rate_policies

    d = ClsConfig()
    p = subparsers.add_parser(
        "train-cls", help="train an image classifier (class labels, or labels and certainty from report text)",
        description="Train a classifier on a prepared dataset. Labels come from Case.label, or with "
        "--labels-from-reports from each case's report text (the report labeler with --vocab; multi-class "
        "through --finding OBS=CLASS[/CLASS_IF_ABSENT] maps, multi-label with one output per finding). "
        "Validation/test truth: the case's own label when it has one, else its report's. See docs/classification.md.")
    p.add_argument("--data", required=True, help="prepared dataset folder")
    p.add_argument("--net", default=d.net,
                   help="classifier: densenet121, resnet18, resnet10, densenet-tiny, resnet-tiny")
    p.add_argument("--profile", default=d.profile, help="small (64 px), standard (128 px), large (256 px) or a size")
    g = p.add_argument_group("labels")
    g.add_argument("--labels-from-reports", action="store_true", help="label each case's report text (Case.report)")
    g.add_argument("--vocab", default=d.vocab,
                   help="report vocabulary: chexpert, chestxray14, breast_ultrasound, breast_malignancy or a YAML file")
    g.add_argument("--finding", dest="findings", action="append", default=[], metavar="SPEC",
                   help="multi-class: OBS=CLASS[/CLASS_IF_ABSENT], in priority order (breast_malignancy default: "
                   "Malignancy=malignant/benign, Benign=benign); multi-label: an observation to predict "
                   "(default: all of the vocabulary). Repeatable")
    g.add_argument("--task", default=d.task, choices=("auto", "multiclass", "multilabel"))
    g.add_argument("--sections", default=d.sections, help="report sections to label, comma-separated, or 'all'")
    g = p.add_argument_group("loss")
    g.add_argument("--loss", default=d.loss, choices=("gls", "gce", "sce"))
    g.add_argument("--loss-arg", action="append", default=[], metavar="KEY=VALUE", help="e.g. q=0.7 (gce), alpha=0.1")
    g.add_argument("--rate-policy", default=d.rate_policy, choices=list_rate_policies())
    g.add_argument("--policy-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="rate policy option, e.g. rate=0.2 for constant (global LS), rate=-0.2 (negative LS)")
    g.add_argument("--warmup-epochs", type=int, default=d.warmup_epochs, help="epochs of plain CE before the rates")
    g.add_argument("--ramp-epochs", type=int, default=d.ramp_epochs)
    g.add_argument("--method", default=d.method, choices=("standard", "coteaching"))
    g.add_argument("--method-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="coteaching: forget_rate=0.2, gradual_epochs=N")
    g = p.add_argument_group("optimisation")
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--epochs", type=int, default=d.epochs)
    g.add_argument("--batch-size", type=int, default=d.batch_size)
    g.add_argument("--lr", type=float, default=d.lr)
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument("--optimizer", default=d.optimizer, choices=("adamw", "adam", "sgd"))
    g.add_argument("--scheduler", default=d.scheduler, choices=("poly", "cosine", "none"))
    g.add_argument("--iterations-per-epoch", type=int, default=d.iterations_per_epoch)
    g.add_argument("--n-boot", type=int, default=d.n_boot, help="bootstrap resamples for the test CIs")
    p.add_argument("--device", default=d.device)
    p.add_argument("--no-amp", action="store_true")
    p.add_argument("--threads", type=int, default=d.num_threads)
    p.add_argument("-o", "--output", default=None, help="run folder (default runs/cls-DATASET-POLICY-sSEED)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --output")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_train_cls)


def _kv(items, flag) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"aidemed: error: {flag} expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.replace("-", "_")] = yaml.safe_load(value)
    return out


def config_from_args(args):
    from aidemed.engine.classification import ClsConfig

    return ClsConfig(
        data=str(Path(args.data).resolve()), net=args.net, profile=str(args.profile), seed=args.seed,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        optimizer=args.optimizer, scheduler=args.scheduler, iterations_per_epoch=args.iterations_per_epoch,
        device=args.device, amp=not args.no_amp, num_threads=args.threads, progress=not args.quiet,
        labels_from_reports=args.labels_from_reports, vocab=args.vocab, findings=list(args.findings),
        task=args.task, sections=args.sections, loss=args.loss, loss_args=_kv(args.loss_arg, "--loss-arg"),
        rate_policy=args.rate_policy, policy_args=_kv(args.policy_arg, "--policy-arg"),
        warmup_epochs=args.warmup_epochs, ramp_epochs=args.ramp_epochs, method=args.method,
        method_args=_kv(args.method_arg, "--method-arg"), n_boot=args.n_boot,
    )


def _train_cls(args) -> int:
    from aidemed.engine.classification import train_classifier

    cfg = config_from_args(args)
    run_dir = Path(args.output) if args.output else (
        Path("runs") / f"cls-{Path(cfg.data).name}-{cfg.method}-{cfg.loss}-{cfg.rate_policy}-s{cfg.seed}")
    result = train_classifier(cfg, run_dir, resume=args.resume)
    test = result["test"]

    def fmt(name):
        m = test.get(name)
        return f"{name} {m['value']:.3f} [{m['low']:.3f}, {m['high']:.3f}]" if m else f"{name} n/a"

    print(f"{run_dir}: {result['task']} {result['names']}; best val AUROC {result['best']['score']:.4f} "
          f"(epoch {result['best']['epoch']}); test n={test['n']}: "
          + ", ".join(fmt(k) for k in ("auroc", "accuracy", "balanced_accuracy", "f1", "ece"))
          + f"; {result['train_seconds']:.0f} s")
    return 0
