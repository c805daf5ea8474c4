"""One training run from a config: where a mask enters (the prepared dataset and its label budget),
is trained on (a registered method), and is scored (the test split, in each case's own geometry)."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from aidemed.data.cache import ArraySet, decode_case, load_arrays, resolve_size
from aidemed.data.manifest import Dataset, atomic_write_text, load_dataset
from aidemed.data.splits import labelled_ids
from aidemed.engine.config import TrainConfig
from aidemed.engine.inference import Predictor
from aidemed.engine.seed import resolve_device, seed_everything
from aidemed.engine.trainer import Trainer, ValidationSet
from aidemed.methods import TrainData, get_method
from aidemed.metrics.evaluate import score_case, summarize_by_label, write_rows_csv


def build_train_data(arrays: ArraySet, train_ids: list[str], given_ids: list[str], trusted_ids: list[str],
                     num_classes: int) -> TrainData:
    """Training samples; masks outside `given_ids` are hidden from the method (zeros, has_label False)."""
    train = arrays.select_cases(train_ids)
    given = np.isin(train.case_ids, list(given_ids)) & train.has_mask
    trusted = np.isin(train.case_ids, list(trusted_ids)) & given
    masks = np.where(given[:, None, None], train.masks, 0).astype(np.int64)
    return TrainData(
        images=torch.from_numpy(train.images),
        masks=torch.from_numpy(masks),
        has_label=torch.from_numpy(given),
        trusted=torch.from_numpy(trusted),
        case_ids=train.case_ids,
        num_classes=num_classes,
    )


def semi_supervised_data(dataset: Dataset, arrays: ArraySet, splits: dict, fraction: float) -> TrainData:
    """The label-budget setting: ground-truth masks for the budget's cases, none for the rest."""
    budget = labelled_ids(splits, fraction)
    return build_train_data(arrays, splits["train"], budget, budget, dataset.info.num_seg_classes)


def environment() -> dict:
    import monai

    return {"python": platform.python_version(), "torch": torch.__version__, "monai": monai.__version__,
            "platform": platform.platform(), "processor": _cpu_model(), "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def train(cfg: TrainConfig, run_dir: str | Path, resume: bool = False, check: bool = True,
          stop_after_steps: int | None = None, train_data: TrainData | None = None) -> dict:
    """Train, select on val, score the selected model on test; write everything into run_dir."""
    from aidemed.data.check import assert_dataset_ok

    run_dir = Path(run_dir)
    if check:
        assert_dataset_ok(cfg.data)
    _guard_config(cfg, run_dir, resume)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    dataset = load_dataset(cfg.data)
    splits = dataset.load_splits()
    arrays = load_arrays(dataset, cfg.profile)
    data = train_data or semi_supervised_data(dataset, arrays, splits, cfg.labelled_fraction)
    val = ValidationSet(arrays.select_cases(splits["val"]), data.num_classes)
    method = get_method(cfg.method)(cfg, data, device)
    if getattr(method, "needs_bootstrap", False) and not bool(data.has_label.all()):
        method.bootstrap = Predictor.from_checkpoint(bootstrap_checkpoint(cfg, run_dir, data), device)
    meta = {"net": cfg.net, "in_channels": data.in_channels, "num_classes": data.num_classes,
            "size": resolve_size(cfg.profile), "method": cfg.method, "labels": dataset.info.labels}

    began = time.perf_counter()
    fit = Trainer(cfg, run_dir, device, stop_after_steps).fit(method, val, meta, resume=resume)
    train_seconds = time.perf_counter() - began
    test = evaluate_split(Predictor.from_checkpoint(run_dir / "checkpoints" / "best.pt", device), dataset,
                          splits["test"], run_dir / "test_cases.csv")
    result = {
        "config": cfg.to_dict(),
        "dataset": dataset.info.name,
        "n_train": len(data), "n_labelled": int(data.has_label.sum()), "n_val": len(splits["val"]),
        "n_test": len(splits["test"]),
        "best": fit["best"],
        "test": test,
        # Summed over epochs, so a run resumed after a kill still reports its whole training time.
        "train_seconds": float(sum(r["epoch_seconds"] for r in fit["history"])),
        "invocation_seconds": train_seconds,
        "seconds_per_epoch": float(np.mean([r["epoch_seconds"] for r in fit["history"]])),
        "environment": environment(),
    }
    atomic_write_text(run_dir / "results.json", json.dumps(result, indent=2, default=float) + "\n")
    return result


# Settings that change where and how visibly a run executes, not what it learns.
RUNTIME_ONLY = ("progress", "device", "num_threads")


def bootstrap_checkpoint(cfg: TrainConfig, run_dir: Path, data: TrainData) -> Path:
    """The supervised model on the labelled cases that gives the first pseudo-masks.

    Trained (and resumed, and cached) in RUN/bootstrap with the run's own settings; a sweep may
    point `bootstrap_run` at an existing supervised run of the same budget and seed instead.
    """
    from dataclasses import replace

    wanted = replace(cfg, method="supervised", method_args={})
    given = cfg.method_args.get("bootstrap_run")
    folder = Path(given) if given else run_dir / "bootstrap"
    results = folder / "results.json"
    if results.is_file():
        saved = TrainConfig.from_dict(json.loads(results.read_text())["config"])
        if replace(saved, **{k: getattr(wanted, k) for k in RUNTIME_ONLY}) != wanted:
            raise ValueError(f"{folder}: the bootstrap run was trained with another config than this run's "
                             "(same data, budget, seed, network and schedule are required)")
        return folder / "checkpoints" / "best.pt"
    if given:
        raise ValueError(f"{folder}: bootstrap_run has no finished supervised run (results.json missing)")
    train(wanted, folder, resume=(folder / "checkpoints" / "last.pt").is_file(), check=False, train_data=data)
    return folder / "checkpoints" / "best.pt"


def _guard_config(cfg: TrainConfig, run_dir: Path, resume: bool) -> None:
    """Never mix two configs in one run folder, and never overwrite a finished run silently."""
    saved = run_dir / "config.json"
    if saved.is_file():
        previous = json.loads(saved.read_text())
        if previous != json.loads(json.dumps(cfg.to_dict())):
            changed = sorted(k for k in set(previous) | set(cfg.to_dict()) if previous.get(k) != cfg.to_dict().get(k))
            raise ValueError(f"{saved}: this run folder holds a run with another config (differs in {changed}); "
                             "use a new --output folder")
        if not resume and (run_dir / "checkpoints" / "last.pt").is_file():
            raise ValueError(f"{run_dir}: holds a run already; pass --resume to continue it, or use a new folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(saved)


def evaluate_split(predictor: Predictor, dataset: Dataset, case_ids: list[str], csv_path: Path | None = None) -> dict:
    """Metrics per case in each case's own geometry and spacing (HD95/ASSD in physical units)."""
    labels = range(1, predictor.num_classes)
    rows = []
    for case_id in case_ids:
        case = dataset.case(case_id)
        if not case.mask:
            continue
        image, mask = decode_case(dataset, case)
        pred, _ = predictor.predict_case(image)
        rows.extend(score_case(pred, mask, labels, spacing=case.spacing, case_id=case_id))
    if csv_path is not None:
        write_rows_csv(rows, csv_path)
    summary = summarize_by_label(rows)
    return {"per_label": {str(k): v for k, v in summary.items()},
            "dice": _mean_over_labels(summary, "dice"), "hd95": _mean_over_labels(summary, "hd95"),
            "n_cases": len({r["case"] for r in rows})}


def _mean_over_labels(summary: dict, metric: str) -> float:
    return float(np.mean([s[metric]["mean"] for s in summary.values()])) if summary else float("nan")
