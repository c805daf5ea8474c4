"""Annotation audit: rank a run's training masks by how strongly the trained networks disagree with them
and how far their outlines stray from the image's edges.

    aidemed audit RUN_DIR [-o OUT] [--top N] [--ensemble RUN2 ...] [--cross-fit K] [--rank-by R]

For every training case whose mask was given and may be wrong (has_label and not trusted, as the run's
setting built them), the run's model (best.pt, or every network of last.pt averaged) predicts the
image at the training size, and two scores are computed against the given mask:

  disagreement  1 - Dice(model mask, given mask), foreground classes averaged, slices of a volume pooled
                (both empty: Dice 1). The ranking: most disagreement first.
  soft_score    mean over pixels of the model's probability of the given label: the per-pixel input
                of cleanlab's segmentation scores (lower = more suspect).
  confident_disagreement
                the disagreement with each differing pixel weighted by the model's margin there:
                where the model doubts, a differing right mask weighs little (a third ranking,
                `aidemed_confident`).
  edge_alignment
                from the image alone: the image's gradient on the given mask's outline against the
                strongest gradient near it (lower = the outline was drawn beside the edges). Its ranking
                `image_edges` judges what the model cannot: a mask a little too big or too small, which
                the model's own error hides. `aidemed_disagreement+edges` and `aidemed_confident+edges`
                sum a model ranking's ranks and this one's.

`rank_by` (`--rank-by`) picks the order of audit.csv and the gallery: disagreement+edges (default:
ahead of the disagreement and of cleanlab in all 45 audits measured, docs/robustness.md "Session 16"),
disagreement, confident, edges or confident+edges.

With `--ensemble RUN2 ...` the networks of more runs on the same training data (other seeds, other
methods) are averaged with the run's own: each model's own mistakes on right masks are partly its
own, and averaging several lowers them, while a wrong mask stays wrong for all of them.

With `--cross-fit K` the probabilities are out-of-sample instead: K supervised models with the run's
network and schedule, each trained without one fold of the audited masks, predict their fold (a model
partly memorises the masks it trained on; cleanlab asks for out-of-sample probabilities too).

When the run's method recorded each sample's training loss against its given mask (supervised and
co-teaching runs do), the mean over the run is a fourth ranking, `aidemed_training_loss` (highest
first): wrong masks stay harder to fit than right ones (the small-loss criterion).

With `cleanlab` installed (`pip install aidemed[audit]`), cleanlab.segmentation.rank's
get_label_quality_scores ("softmin") is computed on the same probabilities and masks.

For AIDE runs, last.pt's label copies and correction list say which masks AIDE replaced and when.
For datasets written by `aidemed data corrupt`, the noise records say which masks were corrupted:
the audit then reports precision@k (k = number of corrupted audited cases) of each ranking, the same
for the gross corruptions only (given vs clean Dice below `gross_below`, 0.9), and the Dice of the
given and the model masks against the clean masks.

OUT (default RUN_DIR/audit): audit.csv (one row per audited case, by rank), audit.json (summary),
gallery/RANK-CASE.png for the top N (image | given mask | model mask [| clean mask]) and gallery.html.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from pathlib import Path

import numpy as np
import torch

from aidemed.data.cache import decode_case, load_arrays, resize_mask, resolve_size
from aidemed.data.io import read_mask
from aidemed.data.manifest import Dataset, atomic_write_text, load_dataset
from aidemed.engine.checkpoint import CheckpointError, load_checkpoint
from aidemed.engine.config import TrainConfig
from aidemed.engine.inference import Predictor, per_case_dice, predict_probs

GIVEN_COLOR = (255, 64, 64)
MODEL_COLOR = (64, 160, 255)
CLEAN_COLOR = (64, 220, 64)
# The orders audit.csv and the gallery can take (--rank-by): each one's ranking name in audit.json, and
# how the gallery page words it.
RANK_BY = {
    "disagreement": ("aidemed_disagreement", "disagreement (1 - Dice of the model mask and the given mask)"),
    "confident": ("aidemed_confident", "confident disagreement (the disagreement weighted by the model's margin)"),
    "edges": ("image_edges", "edge alignment (how closely the mask's outline follows the image's edges), worst first"),
    "disagreement+edges": ("aidemed_disagreement+edges",
                           "disagreement (1 - Dice of the model mask and the given mask) and edge misfit (how far the "
                           "mask's outline strays from the image's edges), their ranks summed"),
    "confident+edges": ("aidemed_confident+edges", "confident disagreement and edge misfit, their ranks summed"),
}
MIN_PANEL = 160  # pixels: gallery panels of smaller images are enlarged (nearest neighbour)


# ----- scores and rankings


def recall_by_corruption(ranked: list[str], corruption_of: dict[str, str], k: int | None = None) -> dict[str, dict]:
    """For each kind of corruption: how many of its cases there are and the share of them among the first
    k ranked ids (k defaults to the number of corrupted cases, as in `precision_at_k`). Gross errors
    (a missed lesion) and subtle ones (a slightly coarser outline) are found at very different rates."""
    k = len(corruption_of) if k is None else int(k)
    top = set(ranked[:k])
    out: dict[str, dict] = {}
    for case, kind in corruption_of.items():
        entry = out.setdefault(kind, {"n": 0, "found": 0})
        entry["n"] += 1
        entry["found"] += case in top
    return {kind: {**e, "recall": e["found"] / e["n"]} for kind, e in sorted(out.items())}

def precision_at_k(ranked: list[str], positives: set[str] | list[str], k: int | None = None) -> float | None:
    """Share of the first k ranked ids that are positives; k defaults to the number of positives among
    the ranked ids (then precision = recall). None when k is 0."""
    positives = set(positives) & set(ranked)
    k = len(positives) if k is None else int(k)
    if k <= 0:
        return None
    return len(set(ranked[:k]) & positives) / k


def mean_per_case(values: torch.Tensor, case_index: torch.Tensor, num_cases: int) -> np.ndarray:
    """Per-sample values averaged per case (the slices of a volume; a 2D case is one sample)."""
    values = values.float()
    total = torch.zeros(num_cases).index_add_(0, case_index, values)
    counts = torch.zeros(num_cases).index_add_(0, case_index, torch.ones_like(values))
    return (total / counts.clamp_min(1)).numpy()


def mask_scores(probs: torch.Tensor, given: torch.Tensor, case_index: torch.Tensor, num_cases: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per case: 1 - Dice(argmax, given) (slices pooled) and the mean probability of the given label."""
    num_classes = probs.shape[1]
    dice = per_case_dice(probs.argmax(1), given, case_index, num_cases, num_classes)
    of_given = probs.gather(1, given[:, None].long())[:, 0].flatten(1).mean(1)
    return (1 - dice).numpy(), mean_per_case(of_given, case_index, num_cases)


def confident_disagreement(probs: torch.Tensor, given: torch.Tensor, case_index: torch.Tensor, num_cases: int
                           ) -> np.ndarray:
    """Per case: 1 - Dice(model mask, given mask) with each differing pixel weighted by the model's
    margin there (top probability minus the next; |2p - 1| for two classes), foreground classes averaged,
    slices pooled; 0 when a class is absent from both.

    A right mask on an image the model finds hard differs from the model mask where the model doubts, and
    weighs little; a wrong mask differs where the model is sure. (Measured beside the plain
    disagreement and cleanlab in benchmarks/audit_score_variants.py.)"""
    top2 = probs.topk(2, dim=1).values
    margin = (top2[:, 0] - top2[:, 1]).float().flatten(1)
    prediction = probs.argmax(1).flatten(1)
    given = given.flatten(1)
    scores = []
    for c in range(1, probs.shape[1]):
        model_c, given_c = prediction == c, given == c
        weighted = torch.zeros(num_cases).index_add_(0, case_index, ((model_c ^ given_c) * margin).sum(1))
        area = torch.zeros(num_cases).index_add_(0, case_index, (model_c.sum(1) + given_c.sum(1)).float())
        scores.append(torch.where(area > 0, weighted / area.clamp(min=1), torch.zeros_like(area)))
    return torch.stack(scores, 1).mean(1).numpy()


def edge_alignment(images: torch.Tensor, given: torch.Tensor, case_index: torch.Tensor, num_cases: int,
                   sigma: float = 1.0, band: float = 0.15) -> np.ndarray:
    """Per case: how closely the given mask's outline follows the image's edges, from the image alone.

    The mean image gradient magnitude (Gaussian derivative of `sigma` pixels, channels averaged) on the
    mask's boundary pixels, divided by the 90th percentile of the gradient within `band` x the region's
    equivalent radius (at least 2 pixels) of that boundary: near 1 when the outline lies on the strongest
    edges around it, lower when it was drawn beside them (dilated, eroded, shifted, jittered). Each
    foreground class's boundary on every slice of a case is pooled; NaN when a case has no foreground
    (no outline to judge). The image's border does not count as outline.

    Written here because the label-quality scores of cleanlab and MONAI's metrics judge a mask against
    model probabilities only; this judges it against the image, so it also sees what the model cannot
    (measured in docs/robustness.md, "Session 16")."""
    from scipy import ndimage

    on_boundary: list[list[np.ndarray]] = [[] for _ in range(num_cases)]
    in_band: list[list[np.ndarray]] = [[] for _ in range(num_cases)]
    labels = given.numpy()
    for sample, case in enumerate(case_index.tolist()):
        image = images[sample].float().numpy()
        gradient = np.mean([ndimage.gaussian_gradient_magnitude(channel, sigma) for channel in image], axis=0)
        for c in np.unique(labels[sample]):
            if c == 0:
                continue
            region = labels[sample] == c
            boundary = region & ~ndimage.binary_erosion(region, border_value=1)
            if not boundary.any():
                continue
            reach = max(2.0, band * np.sqrt(region.sum() / np.pi))
            near = ndimage.distance_transform_edt(~boundary) <= reach
            on_boundary[case].append(gradient[boundary])
            in_band[case].append(gradient[near])
    scores = np.full(num_cases, np.nan)
    for case in range(num_cases):
        if on_boundary[case]:
            strong = np.percentile(np.concatenate(in_band[case]), 90)
            scores[case] = np.concatenate(on_boundary[case]).mean() / max(strong, 1e-12)
    return scores


def rank_sum(*suspicion: np.ndarray) -> np.ndarray:
    """Sum over the scores of each case's rank (higher = more suspect); a NaN score takes the middle
    rank. Ranks, not values, so that scores on different scales weigh the same."""
    from scipy.stats import rankdata

    total = np.zeros(len(suspicion[0]))
    for score in suspicion:
        score = np.asarray(score, dtype=np.float64)
        filled = np.where(np.isnan(score), np.nanmedian(score) if (~np.isnan(score)).any() else 0.0, score)
        total += rankdata(filled)
    return total


def cleanlab_scores(probs: torch.Tensor, given: torch.Tensor, case_index: torch.Tensor, num_cases: int
                    ) -> np.ndarray | None:
    """cleanlab's per-image label quality (lower = more likely wrong), slices averaged per case; None
    when cleanlab is not installed."""
    try:
        from cleanlab.segmentation.rank import get_label_quality_scores
    except ImportError:
        return None
    scores, _ = get_label_quality_scores(given.numpy().astype(np.int64), probs.numpy().astype(np.float32),
                                         verbose=False)
    return mean_per_case(torch.from_numpy(np.asarray(scores, dtype=np.float64)), case_index, num_cases)


def ranking_orders(disagreement: np.ndarray, soft: np.ndarray, confident: np.ndarray, edges: np.ndarray,
                   cleanlab: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every ranking of the audit by its name in audit.json: case indices, most suspect first (cleanlab's
    two only when its scores are given). Ties go to the larger disagreement, except in cleanlab's."""
    orders = {"aidemed_disagreement": order_by(-disagreement, soft),
              "aidemed_soft": order_by(soft, -disagreement),
              "aidemed_confident": order_by(-confident, -disagreement),
              "image_edges": order_by(np.nan_to_num(edges, nan=np.inf), -disagreement),
              "aidemed_disagreement+edges": order_by(-rank_sum(disagreement, -edges), -disagreement),
              "aidemed_confident+edges": order_by(-rank_sum(confident, -edges), -disagreement)}
    if cleanlab is not None:
        orders["cleanlab"] = order_by(cleanlab)
        orders["cleanlab+edges"] = order_by(-rank_sum(-cleanlab, -edges))
    return orders


def order_by(primary: np.ndarray, secondary: np.ndarray | None = None) -> np.ndarray:
    """Indices by primary ascending (ties by secondary ascending, then position)."""
    keys = [np.arange(len(primary))] + ([secondary] if secondary is not None else []) + [primary]
    return np.lexsort(keys)


# ----- what the run trained on, and its model

def run_train_data(cfg: TrainConfig):
    """The run's TrainData rebuilt from its config (same dataset, setting and budget) and its dataset."""
    from aidemed.engine.run import get_setting

    dataset = load_dataset(cfg.data)
    splits = dataset.load_splits()
    arrays = load_arrays(dataset, cfg.profile)
    return get_setting(cfg.setting)(cfg, dataset, arrays, splits).train, dataset


def load_networks(run_dir: Path, cfg: TrainConfig, which: str, in_channels: int, num_classes: int,
                  device: torch.device) -> list[torch.nn.Module]:
    """best: the selected model of best.pt; last: every network of last.pt (e.g. AIDE's A and B)."""
    from aidemed.nets import create_model

    if which == "best":
        return Predictor.from_checkpoint(run_dir / "checkpoints" / "best.pt", device).networks
    if which != "last":
        raise ValueError(f"audit model must be 'best' or 'last', got {which!r}")
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    networks = []
    try:
        for weights in state["method"]["networks"].values():
            net = create_model(cfg.net, in_channels, num_classes)
            net.load_state_dict(weights)
            networks.append(net.to(device).eval())
    except (KeyError, RuntimeError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{run_dir / 'checkpoints' / 'last.pt'}: no usable networks ({exc})") from exc
    return networks


ENSEMBLE_MUST_MATCH = ("data", "profile", "setting", "labelled_fraction")


def ensemble_networks(runs: list, cfg: TrainConfig, which: str, in_channels: int, num_classes: int,
                      device: torch.device) -> list[torch.nn.Module]:
    """The networks of more runs to average with the audited run's; each must have trained on the same
    data (dataset, profile, setting, label budget), or its probabilities would be of other masks."""
    networks = []
    for other in map(Path, runs):
        if not (other / "config.json").is_file():
            raise ValueError(f"{other}: not a run folder (config.json missing)")
        other_cfg = TrainConfig.load(other / "config.json")
        for field in ENSEMBLE_MUST_MATCH:
            mine, theirs = getattr(cfg, field), getattr(other_cfg, field)
            if field == "data":
                mine, theirs = str(Path(mine).resolve()), str(Path(theirs).resolve())
            if mine != theirs:
                raise ValueError(f"{other}: trained with {field} {theirs!r}, the audited run with {mine!r}; "
                                 "an ensemble audit needs runs on the same training data")
        networks += load_networks(other, other_cfg, which, in_channels, num_classes, device)
    return networks


def audit_folds(case_ids: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold (0..k-1) of each audited case: a seeded shuffle dealt round-robin, so folds differ by at most one."""
    order = np.random.default_rng(seed).permutation(len(case_ids))
    folds = np.empty(len(case_ids), dtype=np.int64)
    folds[order] = np.arange(len(case_ids)) % k
    return folds


def cross_fitted_probs(cfg: TrainConfig, data, rows_idx: torch.Tensor, case_index: torch.Tensor,
                       folds: np.ndarray, out: Path, device: torch.device, log=print, flip: bool = False
                       ) -> tuple[torch.Tensor, list[list[torch.nn.Module]]]:
    """Out-of-sample probabilities for the audited samples: for each fold, a supervised model with the
    run's network and schedule trained on every training mask outside the fold (trusted ones included,
    selected on val as usual) predicts the fold. Returns the probabilities and each fold's networks.

    A model that trained on a mask has partly memorised it, so its in-sample disagreement understates
    how wrong the mask is; cleanlab asks for out-of-sample probabilities for the same reason. Fold
    runs live in OUT/crossfit/foldF and are reused (or resumed) by a later audit.
    """
    from dataclasses import replace

    from aidemed.engine.run import train

    probs, fold_networks = None, []
    fold_of_sample = torch.full((len(data),), -1, dtype=torch.long)
    fold_of_sample[rows_idx] = torch.from_numpy(folds)[case_index]
    for fold in range(int(folds.max()) + 1):
        keep = torch.nonzero(fold_of_sample != fold).flatten()
        subset = data.subset(keep)
        run = out / "crossfit" / f"fold{fold}"
        fold_cfg = replace(cfg, method="supervised", method_args={}, progress=False)
        if not (run / "results.json").is_file():
            log(f"cross-fit fold {fold + 1}/{int(folds.max()) + 1}: training supervised on "
                f"{int(subset.has_label.sum())} masks -> {run}")
            train(fold_cfg, run, resume=(run / "checkpoints" / "last.pt").is_file(), check=False, train_data=subset)
        held_out = torch.nonzero(fold_of_sample[rows_idx] == fold).flatten()
        networks = Predictor.from_checkpoint(run / "checkpoints" / "best.pt", device).networks
        fold_networks.append(networks)
        fold_probs = predict_probs(networks, data.images[rows_idx[held_out]], device=device, flip=flip)
        if probs is None:
            probs = torch.zeros((len(rows_idx),) + tuple(fold_probs.shape[1:]))
        probs[held_out] = fold_probs
    return probs, fold_networks


def aide_history(run_dir: Path) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """AIDE's correction list and final label copies from last.pt (empty for other methods)."""
    path = run_dir / "checkpoints" / "last.pt"
    if not path.is_file():
        return [], {}
    extra = load_checkpoint(path).get("method", {}).get("extra", {}) or {}
    copies = {k[len("labels_"):]: v for k, v in extra.items() if k.startswith("labels_") and torch.is_tensor(v)}
    return list(extra.get("corrections", []) or []), copies


def training_losses(run_dir: Path, n_samples: int) -> torch.Tensor | None:
    """Each training sample's mean loss against its given mask over the run (last.pt), when the run's
    method recorded it (supervised, coteaching) and it matches the rebuilt training data."""
    path = run_dir / "checkpoints" / "last.pt"
    if not path.is_file():
        return None
    record = load_checkpoint(path).get("method", {}).get("sample_losses")
    if not record or len(record["sum"]) != n_samples or not bool((record["steps"] > 0).any()):
        return None
    return (record["sum"] / record["steps"].clamp_min(1)).float()


def noise_records(dataset: Dataset) -> dict[str, dict]:
    path = dataset.root / "noise_records.jsonl"
    if not path.is_file():
        return {}
    from aidemed.noise import read_noise_records

    return {r["id"]: r for r in read_noise_records(dataset.root)}


def clean_mask_at(dataset: Dataset, case_id: str, size: int, n_slices: int) -> torch.Tensor | None:
    clean = dataset.case(case_id).extra.get("clean_mask")
    if not clean:
        return None
    mask, _ = read_mask(dataset.path(clean))
    resized = resize_mask(mask, size)[None] if mask.ndim == 2 else np.stack([resize_mask(m, size) for m in mask])
    return torch.from_numpy(resized.astype(np.int64)) if len(resized) == n_slices else None


# ----- the audit

def audit_run(run_dir: str | Path, out_dir: str | Path | None = None, top: int = 12, model: str = "best",
              device: str = "auto", include_trusted: bool = False, gross_below: float = 0.9, cross_fit: int = 0,
              ensemble: list | tuple = (), flip: bool = False, rank_by: str = "disagreement+edges", log=print) -> dict:
    """Rank the run's given masks, write audit.csv, audit.json, the gallery and gallery.html into out_dir.

    `precision_at_k_gross` scores the rankings on the gross corruptions only (given mask vs clean mask
    Dice below `gross_below`), with the subtler corrupted cases left out of the ranking: a corruption
    that moves the mask less than the model's own error cannot be told from annotator variation.
    `flip` averages every prediction with the mirrored image's (rankings and gallery alike).
    `rank_by` (a key of RANK_BY) orders audit.csv and the gallery; every ranking is scored in audit.json.
    """
    from aidemed.engine.seed import resolve_device

    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir else run_dir / "audit"
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise ValueError(f"{run_dir}: not a run folder (config.json missing)")
    if rank_by not in RANK_BY:
        raise ValueError(f"rank_by must be one of {', '.join(RANK_BY)}, got {rank_by!r}")
    cfg = TrainConfig.load(cfg_path)
    dev = resolve_device(device)
    data, dataset = run_train_data(cfg)
    audited = data.has_label if include_trusted else data.has_label & ~data.trusted
    rows_idx = data.indices(audited)
    if len(rows_idx) == 0:
        raise ValueError(f"{run_dir}: no given, non-trusted training masks to audit (setting {cfg.setting!r}; "
                         "in the semi setting every given mask is ground truth: pass --all-given to audit them)")
    case_ids, case_index = np.unique(data.case_ids[rows_idx.numpy()], return_inverse=True)
    case_index = torch.from_numpy(case_index.astype(np.int64))
    if cross_fit == 1 or cross_fit < 0:
        raise ValueError(f"cross_fit must be 0 (the run's own model) or at least 2 folds, got {cross_fit}")
    if cross_fit and ensemble:
        raise ValueError("an audit uses either cross-fitted models or an ensemble of runs, not both")
    networks = load_networks(run_dir, cfg, model, data.in_channels, data.num_classes, dev)
    networks += ensemble_networks(list(ensemble), cfg, model, data.in_channels, data.num_classes, dev)
    images, given = data.images[rows_idx], data.masks[rows_idx]
    out.mkdir(parents=True, exist_ok=True)
    if cross_fit:
        folds = audit_folds(case_ids, cross_fit, cfg.seed)
        probs, fold_networks = cross_fitted_probs(cfg, data, rows_idx, case_index, folds, out, dev, log, flip)
        fold_of = dict(zip(case_ids.tolist(), folds.tolist()))
        networks_for = lambda case: fold_networks[fold_of[case]]  # noqa: E731
    else:
        probs = predict_probs(networks, images, device=dev, flip=flip)
        networks_for = lambda case: networks  # noqa: E731
    disagreement, soft = mask_scores(probs, given, case_index, len(case_ids))
    confident = confident_disagreement(probs, given, case_index, len(case_ids))
    edges = edge_alignment(images, given, case_index, len(case_ids))
    lab = cleanlab_scores(probs, given, case_index, len(case_ids))
    sample_losses = training_losses(run_dir, len(data))
    loss_of_case = None if sample_losses is None else mean_per_case(sample_losses[rows_idx], case_index, len(case_ids))

    corrections, copies = aide_history(run_dir)
    corrected: dict[str, list[str]] = {}
    for entry in corrections:
        for case in entry.get("cases", []):
            corrected.setdefault(str(case), []).append(f"{entry.get('by', '?')}@{entry.get('epoch')}")
    copies_ok = {k: v for k, v in copies.items() if len(v) == len(data)}

    records = noise_records(dataset)
    size = resolve_size(cfg.profile)
    prediction = probs.argmax(1)
    rows = []
    for c, case_id in enumerate(case_ids):
        samples = torch.nonzero(case_index == c).flatten()
        row = {"case": str(case_id), "disagreement": float(disagreement[c]), "soft_score": float(soft[c]),
               "confident_disagreement": float(confident[c]), "edge_alignment": float(edges[c])}
        if lab is not None:
            row["cleanlab_score"] = float(lab[c])
        if loss_of_case is not None:
            row["training_loss"] = float(loss_of_case[c])
        row["corrected_by_aide"] = str(case_id) in corrected
        row["corrections"] = ";".join(corrected.get(str(case_id), []))
        for key, copy in sorted(copies_ok.items()):  # AIDE's final label copies vs the given mask
            final = copy[rows_idx[samples]].long()
            row[f"aide_labels_{key}_vs_given_dice"] = _dice(final, given[samples], data.num_classes)
        if records:
            record = records.get(str(case_id), {})
            row["corrupted"] = bool(record.get("corrupted", False))
            row["corruption"] = record.get("corruption", "")
        clean = clean_mask_at(dataset, str(case_id), size, len(samples))
        if clean is not None:
            row["given_vs_clean_dice"] = _dice(given[samples], clean, data.num_classes)
            row["model_vs_clean_dice"] = _dice(prediction[samples], clean, data.num_classes)
            for key, copy in sorted(copies_ok.items()):
                row[f"aide_labels_{key}_vs_clean_dice"] = _dice(copy[rows_idx[samples]].long(), clean, data.num_classes)
        rows.append(row)

    orders = ranking_orders(disagreement, soft, confident, edges, lab)
    order = orders[RANK_BY[rank_by][0]]
    ranked = [rows[i] for i in order]
    for rank, row in enumerate(ranked, start=1):
        row["rank"] = rank
    summary = {
        "run": str(run_dir.resolve()), "dataset": dataset.info.name, "setting": cfg.setting, "method": cfg.method,
        "model": model, "flip": flip, "rank_by": rank_by, "n_networks": len(networks), "size": size, "n_audited": len(rows),
        "probabilities": _probabilities_source(cross_fit, ensemble), "ensemble": [str(Path(r).resolve()) for r in ensemble],
        "include_trusted": include_trusted, "n_corrected_by_aide": sum(r["corrected_by_aide"] for r in rows),
        "aide_corrections": corrections,
        "cleanlab": "installed" if lab is not None else "cleanlab not installed",
    }
    if records:
        positives = {r["case"] for r in rows if r.get("corrupted")}
        rankings = {name: [rows[i]["case"] for i in o] for name, o in orders.items()}
        if loss_of_case is not None:
            rankings["aidemed_training_loss"] = [rows[i]["case"] for i in order_by(-loss_of_case)]
        summary["n_corrupted"] = len(positives)
        summary["k"] = len(positives)
        summary["precision_at_k"] = {name: precision_at_k(ids, positives) for name, ids in rankings.items()}
        summary["recall_at_k_by_corruption"] = {
            name: recall_by_corruption(ids, {r["case"]: r["corruption"] for r in rows if r.get("corrupted")})
            for name, ids in rankings.items()}
        if lab is None:
            summary["precision_at_k"]["cleanlab"] = "cleanlab not installed"
        gross = {r["case"] for r in rows if r.get("corrupted") and r.get("given_vs_clean_dice", 1.0) < gross_below}
        if gross:
            subtle = positives - gross
            summary["gross_below"] = gross_below
            summary["n_gross"] = len(gross)
            summary["precision_at_k_gross"] = {
                name: precision_at_k([c for c in ids if c not in subtle], gross) for name, ids in rankings.items()}

    _write_csv(ranked, out / "audit.csv")
    shown = ranked[: max(int(top), 0)]
    gallery = _write_gallery(shown, dataset, networks_for, size, data.num_classes, data.in_channels, dev, out, flip)
    _write_html(shown, gallery, summary, out / "gallery.html")
    summary["gallery"] = [str(p.relative_to(out)) for p in gallery]
    atomic_write_text(out / "audit.json", json.dumps(summary, indent=2, default=float) + "\n")
    return summary


def _probabilities_source(cross_fit: int, ensemble) -> str:
    if cross_fit:
        return f"cross-fitted, {cross_fit} folds (supervised)"
    if ensemble:
        return f"in-sample (the run's model and those of {len(ensemble)} more runs, averaged)"
    return "in-sample (the run's model)"


def _dice(a: torch.Tensor, b: torch.Tensor, num_classes: int) -> float:
    index = torch.zeros(len(a), dtype=torch.int64)
    return float(per_case_dice(a, b, index, 1, num_classes)[0])


def _write_csv(rows: list[dict], path: Path) -> None:
    first = ["rank", "case", "disagreement", "soft_score", "confident_disagreement", "edge_alignment", "cleanlab_score",
             "corrected_by_aide", "corrections", "corrupted", "corruption", "given_vs_clean_dice", "model_vs_clean_dice"]
    present = {k for r in rows for k in r}
    columns = [c for c in first if c in present] + sorted(present - set(first))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())


# ----- gallery

def overlay_rgb(image: np.ndarray, mask: np.ndarray | None, color: tuple[int, int, int]) -> np.ndarray:
    """Grayscale (H, W) image as uint8 RGB, the mask's foreground tinted and its outline drawn
    (as `aidemed predict --overlay`)."""
    from scipy import ndimage

    gray = image.astype(np.float32) - image.min()
    gray = 255 * gray / (gray.max() + 1e-6)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    if mask is not None:
        fg = mask > 0
        edge = fg & ~ndimage.binary_erosion(fg)
        rgb[fg] = 0.6 * rgb[fg] + 0.4 * np.array(color, np.float32)
        rgb[edge] = color
    return rgb.clip(0, 255).astype(np.uint8)


def compose(panels: list[np.ndarray], titles: list[str], gap: int = 4) -> np.ndarray:
    """Panels side by side on a dark background, a caption above each."""
    from PIL import Image, ImageDraw

    height, caption = max(p.shape[0] for p in panels), 14
    width = sum(p.shape[1] for p in panels) + gap * (len(panels) + 1)
    canvas = Image.new("RGB", (width, height + caption + 2 * gap), (24, 24, 24))
    draw = ImageDraw.Draw(canvas)
    x = gap
    for panel, title in zip(panels, titles):
        canvas.paste(Image.fromarray(panel), (x, caption + gap))
        draw.text((x + 2, 1), title, fill=(235, 235, 235))
        x += panel.shape[1] + gap
    return np.asarray(canvas)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _write_gallery(rows: list[dict], dataset: Dataset, networks_for, size: int, num_classes: int, in_channels: int,
                   device: torch.device, out: Path, flip: bool = False) -> list[Path]:
    """One PNG per case at the case's own resolution (3D: the slice where model and mask differ most);
    `networks_for(case_id)` gives the networks whose mask the ranking used."""
    from PIL import Image

    folder = out / "gallery"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for row in rows:
        case = dataset.case(row["case"])
        image, given = decode_case(dataset, case)
        predictor = Predictor(networks_for(row["case"]), size, num_classes, device, in_channels=in_channels, flip=flip)
        pred, _ = predictor.predict_case(image)
        clean = None
        if case.extra.get("clean_mask"):
            clean, _ = read_mask(dataset.path(case.extra["clean_mask"]))
        if image.ndim == 4:  # (C, Z, X, Y): the slice with the most disagreeing pixels
            z = int(np.argmax([(pred[i] != given[i]).sum() for i in range(len(pred))]))
            image, given, pred = image[:, z], given[z], pred[z]
            clean = clean[z] if clean is not None else None
        panels = [overlay_rgb(image[0], None, GIVEN_COLOR), overlay_rgb(image[0], given, GIVEN_COLOR),
                  overlay_rgb(image[0], pred, MODEL_COLOR)]
        titles = ["image", "given mask", "model mask"]
        if clean is not None:
            panels.append(overlay_rgb(image[0], clean, CLEAN_COLOR))
            titles.append("clean mask")
        zoom = max(1, -(-MIN_PANEL // min(panels[0].shape[:2])))  # small images are enlarged for review
        panels = [p.repeat(zoom, axis=0).repeat(zoom, axis=1) for p in panels]
        path = folder / f"{row['rank']:03d}-{_safe(row['case'])}.png"
        Image.fromarray(compose(panels, titles)).save(path)
        written.append(path)
    return written


def _write_html(rows: list[dict], images: list[Path], summary: dict, path: Path) -> None:
    def fmt(value) -> str:
        if isinstance(value, float):
            return f"{value:.3f}"
        return html.escape(str(value)) if value not in (None, "") else "-"

    lines = ["<!doctype html>", "<meta charset='utf-8'>",
             f"<title>aidemed audit: {html.escape(summary['run'])}</title>",
             "<style>body{font-family:sans-serif;margin:1.5em}td,th{padding:4px 8px;vertical-align:top}"
             "img{max-width:100%}tr:nth-child(even){background:#f4f4f4}</style>",
             f"<h1>Annotation audit</h1><p>Run <code>{html.escape(summary['run'])}</code> "
             f"({html.escape(summary['method'])}, setting {html.escape(summary['setting'])}); dataset "
             f"{html.escape(summary['dataset'])}; {summary['n_audited']} masks audited, ranked by "
             f"{RANK_BY[summary['rank_by']][1]}. The top {len(rows)} are shown: image, given mask "
             "(red), model mask (blue), and the clean mask (green) when the dataset has one.</p>"]
    if "precision_at_k" in summary:
        parts = ", ".join(f"{k}: {fmt(v)}" for k, v in summary["precision_at_k"].items())
        lines.append(f"<p>{summary['n_corrupted']} corrupted masks; precision@{summary['k']}: {parts}</p>")
    lines.append("<table><tr><th>rank</th><th>case</th><th>scores</th><th>review</th></tr>")
    for row, image in zip(rows, images):
        facts = [f"disagreement {fmt(row['disagreement'])}", f"edge alignment {fmt(row['edge_alignment'])}",
                 f"soft score {fmt(row['soft_score'])}"]
        if "cleanlab_score" in row:
            facts.append(f"cleanlab {fmt(row['cleanlab_score'])}")
        facts.append("corrected by AIDE: " + (fmt(row["corrections"]) if row["corrected_by_aide"] else "no"))
        if "corrupted" in row:
            facts.append(f"corrupted: {'yes (' + fmt(row['corruption']) + ')' if row['corrupted'] else 'no'}")
        if "given_vs_clean_dice" in row:
            facts.append(f"given vs clean Dice {fmt(row['given_vs_clean_dice'])}")
        lines.append(f"<tr><td>{row['rank']}</td><td>{html.escape(row['case'])}</td><td>{'<br>'.join(facts)}</td>"
                     f"<td><img src='{html.escape(str(image.relative_to(path.parent)))}'></td></tr>")
    lines.append("</table>")
    atomic_write_text(path, "\n".join(lines) + "\n")
