"""Seeded, stratified train/val/test splits and nested label budgets.

Nesting: for one seed each stratum's training cases are put in one fixed random order and a budget
of fraction f takes the first max(1, round(f * n)) of them, so the 5% cases are inside the 10% cases, which
are inside the 25% cases.
"""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np

from aidemed.data.manifest import Case, Dataset, atomic_write_text

DEFAULT_FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
DEFAULT_BUDGETS = (0.05, 0.1, 0.25, 0.5, 1.0)


def _stratum(case: Case, keys: tuple[str, ...]) -> tuple:
    return tuple(getattr(case, k) if hasattr(case, k) else case.extra.get(k) for k in keys)


def _group(cases: list[Case], keys: tuple[str, ...]) -> dict[tuple, list[str]]:
    groups: dict[tuple, list[str]] = defaultdict(list)
    for case in cases:
        groups[_stratum(case, keys)].append(case.id)
    return dict(sorted(groups.items(), key=lambda kv: str(kv[0])))


def _largest_remainder(n: int, fractions: list[float]) -> list[int]:
    """Integer counts summing to n, as close as possible to n * fractions."""
    raw = np.array(fractions, dtype=float) * n / sum(fractions)
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def make_splits(
    cases: list[Case],
    seed: int = 0,
    fractions: dict[str, float] | None = None,
    stratify: tuple[str, ...] = ("label", "site"),
) -> dict[str, list[str]]:
    """Unannotated cases all go to train (they cannot be scored); annotated ones are split per stratum."""
    fractions = fractions or DEFAULT_FRACTIONS
    names = list(fractions)
    rng = np.random.default_rng(seed)
    split: dict[str, list[str]] = {name: [] for name in names}
    split.setdefault("train", []).extend(c.id for c in cases if not c.mask)
    for ids in _group([c for c in cases if c.mask], stratify).values():
        order = [ids[i] for i in rng.permutation(len(ids))]
        start = 0
        for name, count in zip(names, _largest_remainder(len(ids), [fractions[n] for n in names])):
            split[name].extend(order[start : start + count])
            start += count
    return split


def label_budgets(
    dataset: Dataset,
    train_ids: list[str],
    seed: int = 0,
    budgets: tuple[float, ...] = DEFAULT_BUDGETS,
    stratify: tuple[str, ...] = ("label", "site"),
) -> dict[str, list[str]]:
    """Nested labelled subsets of the annotated training cases, one per fraction."""
    annotated = [dataset.case(i) for i in train_ids if dataset.case(i).mask]
    rng = np.random.default_rng(10_000 + seed)
    orders = [[ids[i] for i in rng.permutation(len(ids))] for ids in _group(annotated, stratify).values()]
    result = {}
    for fraction in sorted(budgets):
        chosen = []
        for order in orders:
            # At least one case per stratum, so that a small budget never drops a class.
            take = max(1, int(round(fraction * len(order)))) if order and fraction > 0 else 0
            chosen.extend(order[:take])
        result[format_fraction(fraction)] = sorted(chosen)
    return result


def format_fraction(fraction: float) -> str:
    return f"{float(fraction):g}"


def create_split_file(
    dataset: Dataset,
    seed: int = 0,
    fractions: dict[str, float] | None = None,
    stratify: tuple[str, ...] = ("label", "site"),
    budgets: tuple[float, ...] = DEFAULT_BUDGETS,
    exclude_labels: tuple[str, ...] = (),
) -> dict:
    cases = [c for c in dataset.cases if c.label not in exclude_labels]
    split = make_splits(cases, seed=seed, fractions=fractions, stratify=stratify)
    record = {
        "seed": seed,
        "fractions": fractions or DEFAULT_FRACTIONS,
        "stratify": list(stratify),
        "exclude_labels": list(exclude_labels),
        **{name: sorted(ids) for name, ids in split.items()},
        "budgets": label_budgets(dataset, split.get("train", []), seed, budgets, stratify),
    }
    atomic_write_text(dataset.splits_path, json.dumps(record, indent=1) + "\n")
    return record


def labelled_ids(splits: dict, fraction: float) -> list[str]:
    """The labelled training cases for a budget; the full annotated training set for 1.0."""
    key = format_fraction(fraction)
    budgets = splits.get("budgets", {})
    if key not in budgets:
        available = ", ".join(sorted(budgets, key=float)) or "none"
        raise ValueError(
            f"no label budget {key} in the split file (available: {available}); "
            "recreate the split with `aidemed data split DIR --budgets ...`"
        )
    return budgets[key]
