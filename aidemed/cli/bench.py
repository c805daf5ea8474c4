"""`aidemed bench ...`: benchmark sweeps with cached, resumable runs."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    from aidemed.cli.train import add_train_arguments

    bench = subparsers.add_parser("bench", help="run benchmark sweeps and build their tables")
    sub = bench.add_subparsers(dest="bench_command", metavar="SWEEP")

    sweep = sub.add_parser("label-efficiency", help="methods x label fractions x seeds on one dataset")
    add_train_arguments(sweep, method_arg_help="a method option for every method of the sweep (KEY=VALUE) or for "
                        "one (METHOD:KEY=VALUE), e.g. --method-arg aide:bootstrap_rounds=2 (repeatable)")
    sweep.add_argument("--methods", nargs="+", default=["supervised", "aide", "pseudo_label", "mean_teacher", "cps"])
    sweep.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.1, 0.25, 1.0])
    sweep.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    sweep.add_argument("--full-supervision-only", nargs="*", default=None,
                       help="the methods that run at fraction 1.0 (default: supervised in the semi setting, where "
                            "with every mask there is nothing to add; every method in the noisy and "
                            "domain-adaptation settings)")
    sweep.add_argument("--jobs", type=int, default=1,
                       help="runs trained at once, each in its own process (default 1). A run that bootstraps "
                            "from another run of the sweep starts when that one has finished. Without --threads, "
                            "each run gets cores / jobs threads. On a GPU many small runs can share it "
                            "(docs/methods.md, 'Several runs at once')")
    sweep.set_defaults(func=_label_efficiency)

    table = sub.add_parser("table", help="rebuild summary.md/json, runs.csv and the plot from run folders")
    table.add_argument("out")
    table.set_defaults(func=_table)

    robust = sub.add_parser(
        "robustness-table", help="tables across the noisy-mask and domain-adaptation sweeps (one sweep per "
        "noise level or fold)", description="Reads the finished runs of several label-efficiency sweeps: Dice per "
        "noise level and method (relative to the method's own Dice without noise, with the audit's precision@k "
        "where RUN/audit exists), and target Dice per adaptation fold, pooled over the folds, minus source-only.")
    robust.add_argument("--noise", nargs="+", default=[], metavar="LEVEL=DIR",
                        help="a noise level (share of training masks corrupted, e.g. 0.5) and its sweep folder")
    robust.add_argument("--adaptation", nargs="+", default=[], metavar="DIR", help="one sweep folder per fold")
    robust.add_argument("--target-labelled", nargs="+", default=[], metavar="DIR",
                        help="per adaptation fold (same order), a sweep trained with the target's training masks "
                             "and scored on the fold's target test cases (benchmarks/stu_oracle.py): the "
                             "target-labelled reference row")
    robust.add_argument("-o", "--output", required=True)
    robust.set_defaults(func=_robustness_table)

    labels = sub.add_parser(
        "report-labels", help="classifiers on simulated-reader report labels: methods x label errors x seeds",
        description="For each label error and seed a simulated reader writes report sentences for the train/val "
        "cases of a benign/malignant dataset; every method trains on the labels read from them and is scored on "
        "the true test labels. Finished runs are cached (an interrupted sweep resumes). See docs/classification.md.")
    labels.add_argument("--data", required=True, help="prepared benign/malignant dataset (e.g. BUSI without normal)")
    labels.add_argument("--methods", nargs="+", default=None, help="default: all (see aidemed.bench.report_labels)")
    labels.add_argument("--errors", type=float, nargs="+", default=[0.2, 0.4], help="reader label error rates")
    labels.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    labels.add_argument("--reader-config", default=None, help="JSON file of ReaderConfig values")
    labels.add_argument("--net", default="resnet-tiny")
    labels.add_argument("--profile", default="standard")
    labels.add_argument("--epochs", type=int, default=30)
    labels.add_argument("--batch-size", type=int, default=32)
    labels.add_argument("--lr", type=float, default=1e-3)
    labels.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for each run's test CIs")
    labels.add_argument("--device", default="auto")
    labels.add_argument("--threads", type=int, default=0)
    labels.add_argument("-o", "--output", required=True, help="sweep folder")
    labels.set_defaults(func=_report_labels)

    reader = sub.add_parser(
        "make-reader-dataset",
        help="write a copy of a benign/malignant dataset whose train/val cases carry simulated report sentences",
        description="A simulated reader writes one hedged report sentence per train/val case; errors are more "
        "frequent under hedged phrasing and on small, faint lesions. True labels stay in Case.label. "
        "See aidemed/bench/simulated_reader.py and docs/classification.md.")
    reader.add_argument("--data", required=True, help="prepared source dataset (e.g. BUSI with --exclude-label normal)")
    reader.add_argument("--error", type=float, default=0.2, help="target share of wrong training reports")
    reader.add_argument("--seed", type=int, default=0)
    reader.add_argument("--config", default=None, help="JSON file of ReaderConfig values (hedge_probs, ...)")
    reader.add_argument("-o", "--output", required=True, help="dataset folder to write")
    reader.add_argument("--force", action="store_true", help="replace the output folder")
    reader.set_defaults(func=_make_reader_dataset)


def _label_efficiency(args) -> int:
    from dataclasses import replace

    from aidemed.bench.harness import plan, run_sweep, split_method_args
    from aidemed.cli.train import config_from_args

    if not args.output:
        raise SystemExit("aidemed: error: bench needs -o/--output, the sweep folder")
    base = config_from_args(args)
    shared, per_method = split_method_args(base.method_args, list(args.methods))
    base = replace(base, method_args=shared)
    full = args.full_supervision_only
    if full is None:
        full = ["supervised"] if base.setting == "semi" else list(args.methods)
    only = {m: [1.0] + [f for f in args.fractions if f != 1.0] for m in full}
    not_full = [m for m in args.methods if m not in full]
    only.update({m: [f for f in args.fractions if f != 1.0] for m in not_full})
    specs = plan(args.methods, args.fractions, args.seeds, only)
    if 1.0 in args.fractions and not_full:
        print(f"not run at fraction 1 (not in --full-supervision-only): {' '.join(not_full)}")
    if not specs:
        raise SystemExit("aidemed: error: no runs to do: every method was left out at every fraction "
                         "(see --full-supervision-only)")
    run_sweep(base, specs, Path(args.output), method_args=per_method, jobs=args.jobs)
    print((Path(args.output) / "summary.md").read_text())
    return 0


def _table(args) -> int:
    from aidemed.bench.harness import write_tables

    write_tables(Path(args.out))
    print((Path(args.out) / "summary.md").read_text())
    return 0


def _robustness_table(args) -> int:
    import shlex

    from aidemed.bench.robustness import write_robustness_tables

    noisy = {}
    for item in args.noise:
        level, sep, folder = item.partition("=")
        try:
            noisy[float(level)] = Path(folder)
        except ValueError:
            raise SystemExit(f"aidemed: error: --noise expects LEVEL=DIR (e.g. 0.5=results/busi_noisy_mixed50), got {item!r}")
        if not sep or not (Path(folder) / "runs").is_dir():
            raise SystemExit(f"aidemed: error: --noise {item!r}: {folder} is not a sweep folder (no runs/ inside)")
    for option, folders in (("--adaptation", args.adaptation), ("--target-labelled", args.target_labelled)):
        for folder in folders:
            if not (Path(folder) / "runs").is_dir():
                raise SystemExit(f"aidemed: error: {option} {folder}: not a sweep folder (no runs/ inside)")
    words = ["aidemed", "bench", "robustness-table", *(["--noise", *args.noise] if args.noise else []),
             *(["--adaptation", *args.adaptation] if args.adaptation else []),
             *(["--target-labelled", *args.target_labelled] if args.target_labelled else []), "-o", args.output]
    command = " ".join(shlex.quote(w) for w in words)
    try:
        write_robustness_tables(Path(args.output), noisy, [Path(f) for f in args.adaptation], command,
                                [Path(f) for f in args.target_labelled])
    except ValueError as error:
        raise SystemExit(f"aidemed: error: {error}")
    print((Path(args.output) / "summary.md").read_text())
    return 0


def _report_labels(args) -> int:
    import json

    from aidemed.bench.report_labels import list_methods, run_sweep
    from aidemed.engine.classification import ClsConfig

    base = ClsConfig(net=args.net, profile=str(args.profile), epochs=args.epochs, batch_size=args.batch_size,
                     lr=args.lr, n_boot=args.n_boot, device=args.device, num_threads=args.threads, progress=False,
                     labels_from_reports=True, vocab="breast_malignancy")
    reader_values = json.loads(Path(args.reader_config).read_text()) if args.reader_config else {}
    run_sweep(base, args.data, args.output, args.methods or list_methods(), args.errors, args.seeds, reader_values)
    print((Path(args.output) / "summary.md").read_text())
    return 0


def _make_reader_dataset(args) -> int:
    import json

    from aidemed.bench.simulated_reader import ReaderConfig, make_reader_dataset

    values = json.loads(Path(args.config).read_text()) if args.config else {}
    cfg = ReaderConfig.from_dict({**values, "error_rate": args.error})
    make_reader_dataset(args.data, args.output, cfg, seed=args.seed, force=args.force)
    summary = json.loads((Path(args.output) / "reader.json").read_text())
    for name, s in summary["splits"].items():
        levels = ", ".join(f"{k} {v['n']} ({v['error_rate']:.0%} wrong)" for k, v in s["levels"].items() if v["n"])
        print(f"{args.output} {name}: {s['n']} reports, {s['error_rate']:.1%} wrong; {levels}")
    return 0
