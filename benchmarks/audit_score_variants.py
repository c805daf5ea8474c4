"""Other ways to score a given mask against the model's probabilities, measured as the audit measures its own.

    python benchmarks/audit_score_variants.py RUN [RUN ...] [--no-flip] -o OUT_DIR

For each run (on a dataset written by `aidemed data corrupt`, binary masks), every network of last.pt
predicts the audited training images (averaged, and with the horizontally flipped image unless
`--no-flip`), and each variant ranks the given masks, most suspect first. Precision@k as in
`aidemed audit` (k = the number of corrupted masks). Variants (higher = more suspect):

  disagreement        1 - Dice(model mask, given mask): the audit's own ranking
  cleanlab            - cleanlab.segmentation.rank's softmin label quality (the audit's comparison)
  soft_given          1 - soft Dice(foreground probability, given mask)
  confidence_weighted pixels where model mask and given mask differ, each weighted by the model's
                      confidence |2p - 1|, over |model mask| + |given mask| (1 - Dice when certain)
  excess              soft Dice(p, model mask) - soft Dice(p, given mask): how much worse the given mask
                      fits the model's belief than the model's own mask does (the model's own doubt on a
                      hard image counts against neither)
  component_max       the largest mean |p - given| over the connected components of model mask OR given
                      mask (a spurious blob or a missed region is one bad component however small)

Writes OUT_DIR/audit_score_variants.{json,md} with the command, the machine and the wall time.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from aidemed.audit import (cleanlab_scores, confident_disagreement, load_networks, mask_scores, noise_records, order_by,
                           precision_at_k, run_train_data)
from aidemed.engine.config import TrainConfig
from aidemed.engine.inference import predict_probs
from aidemed.engine.run import environment

VARIANTS = ("disagreement", "cleanlab", "soft_given", "confidence_weighted", "excess", "component_max")


def soft_dice(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per sample 2 sum(ab) / (sum a + sum b); 1 when both are empty."""
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    total = a.sum(1) + b.sum(1)
    return np.where(total > 0, 2 * (a * b).sum(1) / np.maximum(total, 1e-12), 1.0)


def component_max(p: np.ndarray, given: np.ndarray) -> np.ndarray:
    scores = []
    for prob, mask in zip(p, given):
        labels, n = ndimage.label((prob > 0.5) | (mask > 0))
        scores.append(0.0 if n == 0 else float(np.max(ndimage.mean(np.abs(prob - mask), labels, np.arange(1, n + 1)))))
    return np.array(scores)


def variant_scores(p: np.ndarray, given: np.ndarray) -> dict[str, np.ndarray]:
    """p: (N, H, W) foreground probability; given: (N, H, W) 0/1. Every variant but cleanlab; the two the
    audit reports come from aidemed.audit itself, so the benchmark measures what `aidemed audit` ranks by."""
    probs = torch.from_numpy(np.stack([1 - p, p], axis=1))
    labels, cases = torch.from_numpy(given).long(), torch.arange(len(p))
    model = (p > 0.5).astype(np.float64)
    return {
        "disagreement": mask_scores(probs, labels, cases, len(p))[0],
        "soft_given": 1 - soft_dice(p, given),
        "confidence_weighted": confident_disagreement(probs, labels, cases, len(p)),
        "excess": soft_dice(p, model) - soft_dice(p, given),
        "component_max": component_max(p, given),
    }


def run_variants(run: Path, flip: bool) -> dict:
    cfg = TrainConfig.load(run / "config.json")
    data, dataset = run_train_data(cfg)
    if data.num_classes != 2 or data.images.ndim != 4:
        raise ValueError(f"{run}: the variants are written for binary 2D masks")
    rows = data.indices(data.has_label & ~data.trusted)
    networks = load_networks(run, cfg, "last", data.in_channels, data.num_classes, torch.device("cpu"))
    images = data.images[rows]
    probs = predict_probs(networks, images, flip=flip)
    given = data.masks[rows]
    records = noise_records(dataset)
    if not records:
        raise ValueError(f"{run}: its dataset {dataset.root} has no noise records (not made by `aidemed data corrupt`)")
    ids = [str(c) for c in data.case_ids[rows.numpy()]]
    corrupted = {c for c in ids if records.get(c, {}).get("corrupted")}
    scores = variant_scores(probs[:, 1].double().numpy(), given.double().numpy())
    scores["cleanlab"] = -cleanlab_scores(probs, given, torch.arange(len(ids)), len(ids))
    precision = {}
    for name in VARIANTS:
        order = order_by(-np.asarray(scores[name], dtype=np.float64))
        precision[name] = precision_at_k([ids[i] for i in order], corrupted)
    return {"run": str(run), "method": cfg.method, "seed": cfg.seed, "data": cfg.data, "k": len(corrupted),
            "n_audited": len(ids), "precision_at_k": precision}


def markdown(results: list[dict], command: str, seconds: float, flip: bool) -> str:
    lines = ["# Audit score variants: precision@k on the same probabilities", "",
             f"Command: `{command}`", "",
             f"Machine: {environment()['processor']}, torch {torch.__version__}; wall time {seconds:.0f} s. "
             f"Probabilities: every network of last.pt{', with the flipped image' if flip else ''}, in-sample.", "",
             "| run | data | k | " + " | ".join(VARIANTS) + " |", "|---|---|---|" + "---|" * len(VARIANTS)]
    for r in results:
        best = max(r["precision_at_k"].values())
        cells = [f"**{v:.3f}**" if v == best else f"{v:.3f}" for v in (r["precision_at_k"][n] for n in VARIANTS)]
        lines.append(f"| {Path(r['run']).name} | {Path(r['data']).name} | {r['k']} | " + " | ".join(cells) + " |")
    means = [np.mean([r["precision_at_k"][n] for r in results]) for n in VARIANTS]
    lines.append("| mean | | | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--no-flip", action="store_true")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    began = time.perf_counter()
    results = [run_variants(run, not args.no_flip) for run in args.runs]
    seconds = time.perf_counter() - began
    command = "python benchmarks/audit_score_variants.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "audit_score_variants.json").write_text(
        json.dumps({"command": command, "machine": environment()["processor"], "seconds": seconds, "results": results}, indent=2) + "\n")
    (args.out / "audit_score_variants.md").write_text(markdown(results, command, seconds, not args.no_flip))
    print(markdown(results, command, seconds, not args.no_flip))


if __name__ == "__main__":
    main()
