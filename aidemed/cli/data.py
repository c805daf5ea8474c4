"""`aidemed data ...`: import, check and split prepared datasets."""

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
