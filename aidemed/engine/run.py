"""One training run from a config: where a mask enters (the prepared dataset, its label budget and the
run's setting), is trained on (a registered method), and is scored (the test split, in each case's own
geometry).

Settings (`TrainConfig.setting`, docs/robustness.md) decide which training data a run builds; the
methods only read `TrainData.has_label` and `TrainData.trusted`:

  semi               ground-truth masks for the label budget's cases, none for the other training cases
  noisy              every given mask may be wrong (none trusted), except an optional nested subset of
                     `trusted_fraction` expert-verified masks that no method rewrites
  domain-adaptation  the labelled source (`data`, trusted) plus the unlabelled training cases of a
                     target dataset (`target_data`); selection on the source val split, scoring on the
                     target's test split
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch

from aidemed.data.cache import ArraySet, decode_case, load_arrays, resize_mask, resolve_size
from aidemed.data.io import read_mask
from aidemed.data.manifest import Dataset, atomic_write_text, load_dataset
from aidemed.data.splits import format_fraction, labelled_ids
from aidemed.engine.config import TrainConfig
from aidemed.engine.inference import Predictor, adapt_batchnorm
from aidemed.engine.seed import resolve_device, seed_everything
from aidemed.engine.trainer import Trainer, ValidationSet, check_loop_options
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


# ----- settings: which TrainData, val set and test cases a run builds

@dataclass
class TestSpec:
    """The cases a run is scored on: a split of a dataset (the target's in domain adaptation)."""

    dataset: Dataset
    case_ids: list[str]
    split: str = "test"
    role: str = "source"  # source | target

    def describe(self) -> dict:
        return {"dataset": self.dataset.info.name, "root": str(self.dataset.root.resolve()), "split": self.split,
                "role": self.role, "n_cases": len(self.case_ids)}


class SettingData(NamedTuple):
    train: TrainData
    val: ArraySet  # model selection (always labelled source cases)
    test: TestSpec


SETTINGS: dict[str, Callable[[TrainConfig, Dataset, ArraySet, dict], SettingData]] = {}
TARGET_PREFIX = "target:"  # target case ids in a domain-adaptation run's TrainData (ids may collide)
TRUSTED_STREAM = 0x7257ED  # separates the seeded trusted subset from other generators


def register_setting(name: str):
    def decorator(fn):
        if name in SETTINGS:
            raise ValueError(f"setting {name!r} is registered twice")
        SETTINGS[name] = fn
        return fn

    return decorator


def get_setting(name: str):
    if name not in SETTINGS:
        raise ValueError(f"unknown setting {name!r}; available: {', '.join(sorted(SETTINGS))}")
    return SETTINGS[name]


@register_setting("semi")
def semi_setting(cfg: TrainConfig, dataset: Dataset, arrays: ArraySet, splits: dict) -> SettingData:
    return SettingData(semi_supervised_data(dataset, arrays, splits, cfg.labelled_fraction),
                       arrays.select_cases(splits["val"]), TestSpec(dataset, list(splits["test"])))


def trusted_subset(splits: dict, given_ids: list[str], fraction: float) -> list[str]:
    """The expert-verified cases among `given_ids`: the split file's budget of `fraction` when it has
    one (budgets are nested), else the first round(fraction * n) of a seeded order of the given cases
    (seeded by the split's seed, so nested in `fraction` too)."""
    if fraction <= 0:
        return []
    given = sorted(set(given_ids))
    budgets = splits.get("budgets", {})
    key = format_fraction(fraction)
    if key in budgets:
        return sorted(set(budgets[key]) & set(given))
    order = np.random.default_rng([int(splits.get("seed", 0)), TRUSTED_STREAM]).permutation(len(given))
    count = max(1, int(round(fraction * len(given))))
    return sorted(given[i] for i in order[:count])


def _use_clean_masks(data: TrainData, dataset: Dataset, case_ids: list[str], size: int) -> int:
    """Trusted cases of a `data corrupt` copy get their clean mask (`extra.clean_mask`): an expert
    verified them. Returns how many cases were replaced."""
    replaced = 0
    for case_id in case_ids:
        case = dataset.case(case_id)
        clean = case.extra.get("clean_mask")
        if not clean:
            continue
        mask, _ = read_mask(dataset.path(clean))
        resized = resize_mask(mask, size)[None] if mask.ndim == 2 else np.stack([resize_mask(m, size) for m in mask])
        rows = np.flatnonzero(data.case_ids == case_id)
        data.masks[torch.from_numpy(rows)] = torch.from_numpy(resized.astype(np.int64))
        replaced += 1
    return replaced


@register_setting("noisy")
def noisy_setting(cfg: TrainConfig, dataset: Dataset, arrays: ArraySet, splits: dict) -> SettingData:
    """Every given mask (the budget's; all annotated training cases at 1.0) is trained on as given and
    may be corrected; the `trusted_fraction` subset is ground truth (clean masks of a corrupted copy)."""
    if not 0.0 <= cfg.trusted_fraction <= cfg.labelled_fraction:
        raise ValueError(f"trusted_fraction must be within [0, labelled_fraction = {cfg.labelled_fraction:g}], "
                         f"got {cfg.trusted_fraction:g}")
    given = labelled_ids(splits, cfg.labelled_fraction)
    trusted = trusted_subset(splits, given, cfg.trusted_fraction)
    data = build_train_data(arrays, splits["train"], given, trusted, dataset.info.num_seg_classes)
    _use_clean_masks(data, dataset, trusted, resolve_size(cfg.profile))
    return SettingData(data, arrays.select_cases(splits["val"]), TestSpec(dataset, list(splits["test"])))


@register_setting("domain-adaptation")
def domain_adaptation_setting(cfg: TrainConfig, dataset: Dataset, arrays: ArraySet, splits: dict) -> SettingData:
    """Source (`data`): the label budget's ground truth, trusted; its val split selects the model.
    Target (`target_data`): its training cases enter without masks; its test split is scored; its val
    split is never used."""
    if not cfg.target_data:
        raise ValueError("setting 'domain-adaptation' needs a target dataset (--target-data DIR)")
    target = load_dataset(cfg.target_data)
    if target.root.resolve() == dataset.root.resolve():
        raise ValueError(f"{target.root}: the target dataset must differ from the source dataset")
    if target.info.num_seg_classes != dataset.info.num_seg_classes:
        raise ValueError(f"{target.root}: the target has {target.info.num_seg_classes} segmentation classes "
                         f"{target.info.labels}, the source {dataset.root} has {dataset.info.num_seg_classes} "
                         f"{dataset.info.labels}")
    target_splits = target.load_splits()
    target_arrays = load_arrays(target, cfg.profile)
    source_channels, target_channels = arrays.images.shape[1], target_arrays.images.shape[1]
    if source_channels != target_channels:
        raise ValueError(f"{target.root}: target images have {target_channels} channel(s), the source "
                         f"{dataset.root} has {source_channels}; domain adaptation needs the same channels")
    source = semi_supervised_data(dataset, arrays, splits, cfg.labelled_fraction)
    unlabelled = target_arrays.select_cases(target_splits["train"])
    n = len(unlabelled)
    data = TrainData(
        images=torch.cat([source.images, torch.from_numpy(unlabelled.images)]),
        masks=torch.cat([source.masks, torch.zeros((n, *source.masks.shape[1:]), dtype=torch.int64)]),
        has_label=torch.cat([source.has_label, torch.zeros(n, dtype=torch.bool)]),
        trusted=torch.cat([source.trusted, torch.zeros(n, dtype=torch.bool)]),
        case_ids=np.concatenate([source.case_ids, np.array([TARGET_PREFIX + str(c) for c in unlabelled.case_ids])]),
        num_classes=source.num_classes,
    )
    return SettingData(data, arrays.select_cases(splits["val"]),
                       TestSpec(target, list(target_splits["test"]), role="target"))


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
    setting = get_setting(cfg.setting)
    cfg = with_setting_options(cfg)
    check_loop_options(cfg)
    if check:
        assert_dataset_ok(cfg.data)
        if cfg.target_data:
            assert_dataset_ok(cfg.target_data)
    _guard_config(cfg, run_dir, resume)
    device, dataset, splits, arrays = prepare_run(cfg)
    built = setting(cfg, dataset, arrays, splits)
    data = train_data or built.train
    val = ValidationSet(built.val, data.num_classes)
    method = get_method(cfg.method)(cfg, data, device)
    if getattr(method, "needs_bootstrap", False) and not bool(data.has_label.all()):
        method.bootstrap = bootstrap_predictor(cfg, run_dir, data, device,
                                               getattr(method.options, "bootstrap_adapt_bn", False))
    meta = {"net": cfg.net, "in_channels": data.in_channels, "num_classes": data.num_classes,
            "size": resolve_size(cfg.profile), "method": cfg.method, "labels": dataset.info.labels}

    began = time.perf_counter()
    fit = Trainer(cfg, run_dir, device, stop_after_steps).fit(method, val, meta, resume=resume)
    train_seconds = time.perf_counter() - began
    test = evaluate_split(Predictor.from_checkpoint(run_dir / "checkpoints" / "best.pt", device),
                          built.test.dataset, built.test.case_ids, run_dir / "test_cases.csv")
    result = {
        "config": cfg.to_dict(),
        "dataset": dataset.info.name,
        "setting": cfg.setting,
        "method_options": method.resolved_options(),
        "init_weights": method.init_report or None,  # per network: pretrained tensors loaded, left out
        "n_train": len(data), "n_labelled": int(data.has_label.sum()), "n_trusted": int(data.trusted.sum()),
        "n_val": len(splits["val"]), "n_test": len(built.test.case_ids),
        "selected_on": {"dataset": dataset.info.name, "root": str(dataset.root.resolve()), "split": "val",
                        "role": "source", "n_cases": len(splits["val"])},
        "scored": built.test.describe(),
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


def prepare_run(cfg) -> tuple[torch.device, Dataset, dict, ArraySet]:
    """Threads, seeds and device for a run (a TrainConfig or PretrainConfig), and its dataset with the
    split file and the cached arrays of its profile."""
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    dataset = load_dataset(cfg.data)
    return device, dataset, dataset.load_splits(), load_arrays(dataset, cfg.profile)


# Settings that change where and how visibly a run executes, not what it learns.
RUNTIME_ONLY = ("progress", "device", "num_threads", "compile", "channels_last", "keep_every")
# Method names that train exactly what `supervised` trains (a finished run of theirs is a valid bootstrap).
SUPERVISED_ALIASES = ("supervised", "source_only")


def bootstrap_predictor(cfg: TrainConfig, run_dir: Path, data: TrainData, device: torch.device,
                        adapt_bn: bool = False) -> Predictor:
    """The bootstrap model, with `adapt_bn` its batch-norm statistics taken from the cases without a
    mask, the ones it is about to predict (AdaBN; in domain adaptation: the target's training images)."""
    predictor = Predictor.from_checkpoint(bootstrap_checkpoint(cfg, run_dir, data), device)
    if adapt_bn and not adapt_batchnorm(predictor.networks, data.images[~data.has_label]):
        raise ValueError(f"bootstrap_adapt_bn: the bootstrap model ({cfg.net}) has no batch norm to adapt")
    return predictor


def bootstrap_checkpoint(cfg: TrainConfig, run_dir: Path, data: TrainData) -> Path:
    """The model whose masks are the run's first pseudo-masks (its `best.pt`).

    `bootstrap_rounds` (default 1, the paper) is the length of the chain that makes it: round 1 is
    `supervised` on the labelled cases (in domain adaptation: the source-only model); each later round
    is `pseudo_label` trained on the previous round's masks, a self-training round (ST++, Noisy Student)
    that starts the method from better masks than the supervised model's. Rounds are trained (and
    resumed, and cached) in RUN/bootstrap and RUN/bootstrap_round{R} with the run's own settings and
    training data. `bootstrap_run` names an existing finished run to use as the chain's last model
    instead: a supervised (or source_only) run for one round, a pseudo_label run of R - 1 rounds for R.
    """
    rounds = bootstrap_rounds(cfg)
    given = cfg.method_args.get("bootstrap_run")
    if given:
        folder = Path(given)
        if not (folder / "results.json").is_file():
            raise ValueError(f"{folder}: bootstrap_run has no finished run (results.json missing)")
        _check_bootstrap_run(folder, cfg, rounds)
        return folder / "checkpoints" / "best.pt"
    return _train_bootstrap_round(cfg, rounds, run_dir, data) / "checkpoints" / "best.pt"


def bootstrap_rounds(cfg: TrainConfig) -> int:
    rounds = int(cfg.method_args.get("bootstrap_rounds", 1))
    if rounds < 1:
        raise ValueError(f"bootstrap_rounds must be at least 1 (the supervised model), got {rounds}")
    return rounds


def _bootstrap_round_config(cfg: TrainConfig, rounds: int) -> TrainConfig:
    """What round `rounds` of the chain trains, without the path of the round before it."""
    if rounds == 1:
        return replace(cfg, method="supervised", method_args={})
    return replace(cfg, method="pseudo_label", method_args={} if rounds == 2 else {"bootstrap_rounds": rounds - 1})


def _check_bootstrap_run(folder: Path, cfg: TrainConfig, rounds: int) -> None:
    saved = TrainConfig.from_dict(json.loads((folder / "results.json").read_text())["config"])
    if saved.method in SUPERVISED_ALIASES:
        saved = replace(saved, method="supervised")
    saved = replace(saved, method_args=_learning_method_args(saved.method, saved.setting, saved.method_args),
                    **{k: getattr(cfg, k) for k in RUNTIME_ONLY})
    wanted = _bootstrap_round_config(cfg, rounds)
    wanted = replace(wanted, method_args=_learning_method_args(wanted.method, wanted.setting, wanted.method_args))
    if saved != wanted:
        what = "a supervised run" if rounds == 1 else f"a pseudo_label run of {rounds - 1} bootstrap round(s)"
        theirs, ours = saved.to_dict(), wanted.to_dict()
        differences = "; ".join(f"{k}: {theirs.get(k)!r} there, {ours.get(k)!r} needed"
                                for k in differing_keys(theirs, ours))
        raise ValueError(f"{folder}: the bootstrap run was trained with another config than this run's "
                         f"(needs {what} with the same data, setting, budget, seed, network and schedule; "
                         f"differs in {differences})")


def _learning_method_args(method: str, setting: str, method_args: dict) -> dict:
    """Every option a run of `method` trains with (defaults and the setting's preset filled in, so an option
    given at its default equals it left out), without the path of the run that gave the bootstrap. Options
    the method would refuse are compared as given."""
    given = {k: v for k, v in method_args.items() if k != "bootstrap_run"}
    try:
        options = get_method(method).check_options(setting, given)
    except (ValueError, TypeError):
        return given
    return {} if options is None else {k: v for k, v in asdict(options).items() if k != "bootstrap_run"}


def _train_bootstrap_round(cfg: TrainConfig, rounds: int, run_dir: Path, data: TrainData) -> Path:
    """The finished run folder of the chain's round `rounds`, trained (or resumed) when it is missing."""
    folder = run_dir / ("bootstrap" if rounds == 1 else f"bootstrap_round{rounds}")
    round_cfg = _bootstrap_round_config(cfg, rounds)
    if rounds > 1:
        previous = _train_bootstrap_round(cfg, rounds - 1, run_dir, data)
        round_cfg = replace(round_cfg, method_args={**round_cfg.method_args, "bootstrap_run": str(previous.resolve())})
    if (folder / "results.json").is_file():
        _check_bootstrap_run(folder, cfg, rounds)
    else:
        # A copy, since pseudo_label replaces the masks it is given; this run keeps its own.
        train(round_cfg, folder, resume=(folder / "checkpoints" / "last.pt").is_file(), check=False,
              train_data=replace(data))
    return folder


def _normalised_config(saved: dict) -> dict:
    """A saved config.json with the defaults of fields added since it was written filled in."""
    try:
        saved = TrainConfig.from_dict(saved).to_dict()
    except (TypeError, ValueError):
        pass
    return json.loads(json.dumps(saved))


def learning_config_differences(saved: dict, cfg: TrainConfig) -> list[str]:
    """The config fields in which a saved run's config.json and cfg would train differently: runtime
    settings (threads, device, compile, ...) and which finished run gave the bootstrap are left out, the
    method's options are compared with their defaults and the setting's preset filled in, as `train` fills them."""
    def comparable(config: dict) -> dict:
        config = {k: v for k, v in config.items() if k not in RUNTIME_ONLY}
        config["method_args"] = _learning_method_args(config.get("method", ""), config.get("setting", "semi"),
                                                      config.get("method_args", {}))
        return config

    previous = comparable(_normalised_config(saved))
    current = comparable(json.loads(json.dumps(with_setting_options(cfg).to_dict())))
    return differing_keys(previous, current)


def differing_keys(a: dict, b: dict) -> list[str]:
    """The keys whose values differ between two configs (a key missing from one counts as None there)."""
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def with_setting_options(cfg: TrainConfig) -> TrainConfig:
    """cfg with the method's preset for its setting (`Method.setting_options`) written into method_args
    under the run's own values, so config.json shows every option that differs from the defaults and a
    run started under another preset is not resumed with this one."""
    method_args = get_method(cfg.method).method_args_for(cfg.setting, cfg.method_args)
    return cfg if method_args == cfg.method_args else replace(cfg, method_args=method_args)


def _guard_config(cfg: TrainConfig, run_dir: Path, resume: bool) -> None:
    """Never mix two configs in one run folder, and never overwrite a finished run silently."""
    saved = run_dir / "config.json"
    if saved.is_file():
        previous = _normalised_config(json.loads(saved.read_text()))
        current = json.loads(json.dumps(cfg.to_dict()))
        # Runtime settings may change between the parts of a run (a resume on another thread count,
        # with --compile, keeping checkpoints): they do not change what it learns. config.json then
        # records the latest part's.
        changed = [k for k in differing_keys(previous, current) if k not in RUNTIME_ONLY]
        if changed:
            raise ValueError(f"{saved}: this run folder holds a run with another config (differs in {changed}); "
                             "use a new --output folder")
        if not resume and (run_dir / "checkpoints" / "last.pt").is_file():
            raise ValueError(f"{run_dir}: holds a run already; pass --resume to continue it, or use a new folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(saved)


def score_split(predictor: Predictor, dataset: Dataset, case_ids: list[str]) -> list[dict]:
    """Metric rows (one per case and label) in each case's own geometry and spacing (HD95/ASSD in
    physical units); cases without a mask are skipped."""
    labels = range(1, predictor.num_classes)
    rows = []
    for case_id in case_ids:
        case = dataset.case(case_id)
        if not case.mask:
            continue
        image, mask = decode_case(dataset, case)
        pred, _ = predictor.predict_case(image)
        rows.extend(score_case(pred, mask, labels, spacing=case.spacing, case_id=case_id))
    return rows


def evaluate_split(predictor: Predictor, dataset: Dataset, case_ids: list[str], csv_path: Path | None = None) -> dict:
    """`score_split`'s rows (written to csv_path) summarised by `summarize_split`."""
    rows = score_split(predictor, dataset, case_ids)
    if csv_path is not None:
        write_rows_csv(rows, csv_path)
    return summarize_split(rows)


def rescore_test(run_dir: str | Path, flip: bool = False, device: str = "cpu",
                 csv_path: Path | None = None) -> dict:
    """Score a finished run's selected model (checkpoints/best.pt) again on the cases results.json says
    it was scored on (`scored`: dataset root and split), e.g. with test-time mirroring (`flip`)."""
    run_dir = Path(run_dir)
    results_path, checkpoint = run_dir / "results.json", run_dir / "checkpoints" / "best.pt"
    for path in (results_path, checkpoint):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; only a finished run with its checkpoints can be rescored")
    scored = json.loads(results_path.read_text()).get("scored")
    if not scored or "root" not in scored:
        raise ValueError(f"{results_path}: no `scored` entry (dataset root and split); written by an older aidemed?")
    dataset = load_dataset(scored["root"])
    case_ids = dataset.load_splits()[scored["split"]]
    if len(case_ids) != scored["n_cases"]:
        raise ValueError(f"{results_path}: scored {scored['n_cases']} cases of {scored['root']} split "
                         f"{scored['split']!r}, which now has {len(case_ids)}; the split file changed")
    predictor = Predictor.from_checkpoint(checkpoint, resolve_device(device), flip=flip)
    return evaluate_split(predictor, dataset, case_ids, csv_path)


def summarize_split(rows: list[dict]) -> dict:
    """Per label, and Dice/HD95 averaged over the labels: what results.json reports as `test`."""
    summary = summarize_by_label(rows)
    return {"per_label": {str(k): v for k, v in summary.items()},
            "dice": _mean_over_labels(summary, "dice"), "hd95": _mean_over_labels(summary, "hd95"),
            "n_cases": len({r["case"] for r in rows})}


def _mean_over_labels(summary: dict, metric: str) -> float:
    return float(np.mean([s[metric]["mean"] for s in summary.values()])) if summary else float("nan")
