"""`aidemed data ...`: import, check, split and corrupt (label noise) prepared datasets."""

from __future__ import annotations


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="import, check and split datasets")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION")

    split = sub.add_parser("split", help="(re)create the seeded, stratified split and label budgets")
    split.add_argument("dir")
    split.add_argument("--seed", type=int, default=0)
    split.add_argument("--fractions", type=float, nargs=3, default=(0.7, 0.1, 0.2), metavar=("TRAIN", "VAL", "TEST"))
    split.add_argument("--budgets", type=float, nargs="+", default=(0.05, 0.1, 0.25, 0.5, 1.0))
    split.add_argument("--stratify", nargs="+", default=("label", "site"))
    split.add_argument("--exclude-label", action="append", default=[], help="leave cases of this class out of every split")
    split.set_defaults(func=_split)

    imp = sub.add_parser(
        "import",
        help="import a raw dataset into a prepared dataset folder (with its default split)",
        description=(
            "Import a raw dataset layout into a prepared dataset folder DIR (images/, masks/, dataset.json, "
            "manifest.jsonl, splits.json with seed 0, 70/10/20, stratified by label and site). "
            "Kinds: busi SRC, stu SRC, folder SRC | --images DIR [--masks DIR], nnunet SRC, phantom (no SRC). "
            "See docs/data.md."
        ),
    )
    imp.add_argument("kind", metavar="KIND", help="busi, stu, folder, nnunet, phantom or report-csv")
    imp.add_argument("src", metavar="SRC", nargs="?", help="the raw dataset folder (not for phantom)")
    imp.add_argument("-o", "--out", required=True, metavar="DIR", help="the prepared dataset folder to write")
    imp.add_argument("--force", action="store_true", help="replace DIR if it already holds something")
    imp.add_argument("--split-seed", type=int, default=None, metavar="N", help="seed of the default split (default 0)")
    imp.add_argument(
        "--exclude-label", action="append", default=[], metavar="LABEL",
        help="leave cases of this class out of the split (they stay in the manifest); "
        "`--exclude-label normal` gives the standard BUSI benchmark split",
    )
    group = imp.add_argument_group("busi")
    group.add_argument("--no-normal", dest="include_normal", action="store_false", default=None,
                       help="do not import the normal images at all")
    group = imp.add_argument_group("folder")
    group.add_argument("--images", metavar="DIR", help="folder of images (instead of SRC)")
    group.add_argument("--masks", metavar="DIR", help="folder of masks, named like their images (or with --mask-suffix)")
    group.add_argument("--mask-suffix", metavar="S", help="mask name suffix, NAME.png + NAME{S}.png (default _mask)")
    group.add_argument("--labels", metavar="CSV", help="class labels, rows of id,label")
    group.add_argument("--site", metavar="NAME", help="site of every case (default 'default')")
    group.add_argument("--name", metavar="NAME", help="dataset name (default: the folder's name)")
    group = imp.add_argument_group("nnunet")
    group.add_argument("--reference", dest="copy", action="store_false", default=None,
                       help="reference the files in place (absolute paths) instead of copying them")
    group.add_argument("--no-test", dest="include_test", action="store_false", default=None,
                       help="skip imagesTs (unlabelled cases)")
    group = imp.add_argument_group("phantom")
    group.add_argument("--n", dest="n_cases", type=int, metavar="N", help="number of phantom cases (default 60)")
    group.add_argument("--size", type=int, metavar="PX", help="phantom image size (default 128)")
    group.add_argument("--seed", type=int, metavar="S", help="phantom generator seed (default 0)")
    group = imp.add_argument_group("report-csv (SRC is a CSV of image paths and report texts)")
    group.add_argument("--path-col", metavar="COL", help="image path column (default path)")
    group.add_argument("--text-col", metavar="COL[,COL]", help="report text column(s) (default text)")
    group.add_argument("--label-col", metavar="COL", help="class label column (optional)")
    group.add_argument("--id-col", metavar="COL", help="case id column (default: the image name)")
    group.add_argument("--image-root", metavar="DIR", help="folder the paths are relative to (default: the CSV's)")
    imp.set_defaults(func=_import)

    check = sub.add_parser("check", help="list every problem of a prepared dataset folder")
    check.add_argument("dir")
    check.add_argument("--no-splits", action="store_true", help="do not require a splits.json")
    check.set_defaults(func=_check)

    corrupt = sub.add_parser(
        "corrupt",
        help="write a noisy copy of a prepared dataset (simulated label noise), keeping the clean masks",
        description=(
            "Write a noisy copy of the prepared dataset DIR to -o DIR2: the masks of a seeded random FRACTION of "
            "the annotated training cases are corrupted by the noise model; val/test stay clean; the clean masks "
            "are kept under DIR2/clean_masks (manifest extra.clean_mask); per-case records in "
            "DIR2/noise_records.jsonl and a summary in DIR2/noise.json. See docs/noise.md."
        ),
    )
    corrupt.add_argument("dir", nargs="?", metavar="DIR", help="the prepared dataset folder (with splits.json)")
    corrupt.add_argument("-o", "--out", metavar="DIR2", help="the noisy dataset folder to write")
    corrupt.add_argument("--model", default="mixed", metavar="NAME",
                         help="noise model: a name from --list-models or a JSON file (default mixed)")
    corrupt.add_argument("--fraction", type=float, default=0.5, metavar="F",
                         help="share of the annotated training cases to corrupt (default 0.5)")
    corrupt.add_argument("--seed", type=int, default=0, metavar="S", help="noise seed (default 0)")
    corrupt.add_argument("--split", default="train", metavar="NAME", help="the split to corrupt (default train)")
    corrupt.add_argument("--force", action="store_true", help="replace DIR2 if it already holds something")
    corrupt.add_argument("--list-models", action="store_true", help="list the noise models and exit")
    corrupt.set_defaults(func=_corrupt)


# argparse dest -> (importer option, flag shown in errors)
IMPORT_OPTIONS = {
    "include_normal": "--no-normal",
    "images": "--images",
    "masks": "--masks",
    "mask_suffix": "--mask-suffix",
    "labels": "--labels",
    "site": "--site",
    "name": "--name",
    "copy": "--reference",
    "include_test": "--no-test",
    "n_cases": "--n",
    "size": "--size",
    "seed": "--seed",
    "path_col": "--path-col",
    "text_col": "--text-col",
    "label_col": "--label-col",
    "id_col": "--id-col",
    "image_root": "--image-root",
}


def _import(args) -> int:
    import time

    from aidemed.data.check import dataset_summary
    from aidemed.data.importers import import_dataset, importer_options
    from aidemed.data.io import DataError

    accepted = importer_options(args.kind)
    options = {}
    for dest, flag in IMPORT_OPTIONS.items():
        value = getattr(args, dest)
        if value is None:
            continue
        if dest not in accepted:
            raise DataError(f"option {flag} does not apply to `data import {args.kind}`")
        options[dest] = value
    src = args.src
    if args.kind == "folder" and src is None and args.images is None:
        raise DataError("`data import folder` needs SRC or --images DIR")
    start = time.perf_counter()
    dataset = import_dataset(
        args.kind, src, args.out, force=args.force, split_seed=args.split_seed,
        exclude_labels=tuple(args.exclude_label), **options,
    )
    for note in dataset.info.extra.get("import_notes", []):
        print(f"note: {note}")
    print(f"{dataset.root}: imported {args.kind} in {time.perf_counter() - start:.1f} s: {dataset_summary(dataset)}")
    return 0


def _check(args) -> int:
    from aidemed.data.check import check_dataset, dataset_summary
    from aidemed.data.manifest import load_dataset

    problems = check_dataset(args.dir, require_splits=not args.no_splits)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{args.dir}: {len(problems)} problem(s)")
        return 1
    print(f"OK {args.dir}: {dataset_summary(load_dataset(args.dir))}")
    return 0


def _split(args) -> int:
    from aidemed.data.manifest import load_dataset
    from aidemed.data.splits import create_split_file

    dataset = load_dataset(args.dir)
    fractions = dict(zip(("train", "val", "test"), args.fractions))
    record = create_split_file(
        dataset,
        seed=args.seed,
        fractions=fractions,
        stratify=tuple(args.stratify),
        budgets=tuple(args.budgets),
        exclude_labels=tuple(args.exclude_label),
    )
    sizes = ", ".join(f"{k} {len(record[k])}" for k in fractions)
    budgets = ", ".join(f"{k}: {len(v)}" for k, v in record["budgets"].items())
    print(f"{dataset.splits_path}: {sizes}; labelled budgets {budgets}")
    return 0


def _corrupt(args) -> int:
    import json
    import time

    from aidemed.noise.dataset import corrupt_dataset
    from aidemed.noise.masks import get_noise_model, list_noise_models

    if args.list_models:
        for name in list_noise_models():
            model = get_noise_model(name)
            weights = ", ".join(f"{k} {v:g}" for k, v in model.weights.items())
            print(f"{name}: {weights}")
        return 0
    if not args.dir or not args.out:
        raise ValueError("`data corrupt` needs DIR and -o DIR2 (or --list-models)")
    start = time.perf_counter()
    dataset = corrupt_dataset(args.dir, args.out, model=args.model, fraction=args.fraction, seed=args.seed,
                              split=args.split, force=args.force)
    summary = json.loads((dataset.root / "noise.json").read_text())
    counts = ", ".join(f"{k} {v}" for k, v in summary["counts"].items() if v)
    dice = summary["mean_dice_noisy_vs_clean"]
    dice_text = f"{dice:.3f}" if dice is not None else "n/a"
    print(
        f"{dataset.root}: corrupted {summary['n_corrupted']}/{summary['n_split_annotated']} annotated {args.split} "
        f"cases with {summary['model']['name']} (seed {args.seed}) in {time.perf_counter() - start:.1f} s; "
        f"mean Dice noisy vs clean {dice_text}" + (f"; {counts}" if counts else "")
    )
    return 0
