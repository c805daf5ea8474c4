"""The audit's rankings of one noisy dataset's training masks, made with the networks of any checkpoints.

    python benchmarks/audit_with_checkpoints.py --data NOISY_DATASET NAME=CHECKPOINT[,CHECKPOINT...] ... -o OUT

`aidemed audit RUN` ranks a run's masks with that run's final model. This asks what other models would
do with the same masks: the checkpoints a run kept along the way (`aidemed train --keep-every 1`,
checkpoints/epoch-NNN.pt: does a model that has not yet fitted the noise rank better?) or a model trained
on the clean masks (the reference no noisy-trained model can beat: it has never seen a wrong mask).
Each CHECKPOINT is a last.pt, epoch-NNN.pt or best.pt; its networks are averaged, as the audit's
`--model last` does, and so are those of several checkpoints joined by commas (an ensemble, as the
audit's `--ensemble`). The rankings are the audit's own (`aidemed.audit.ranking_orders`), scored by
precision@k against the dataset's noise records. Writes OUT.md and OUT.json with the command.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from aidemed.audit import (cleanlab_scores, confident_disagreement, edge_alignment, mask_scores, noise_records,
                           precision_at_k, ranking_orders, run_train_data)
from aidemed.bench.report import write_script_benchmark
from aidemed.engine.checkpoint import CheckpointError, load_checkpoint
from aidemed.engine.config import TrainConfig
from aidemed.engine.inference import predict_probs
from aidemed.nets import create_model


def networks_of(path: Path, in_channels: int, num_classes: int) -> tuple[list[torch.nn.Module], TrainConfig, int]:
    """The networks of a best.pt (its selected model) or of a last.pt / epoch-NNN.pt (every network), the
    config they trained under and their epoch."""
    state = load_checkpoint(path)
    try:
        cfg = TrainConfig.from_dict(state["config"])
        weights = state["networks"] if "networks" in state else list(state["method"]["networks"].values())
        networks = []
        for w in weights:
            net = create_model(cfg.net, in_channels, num_classes)
            net.load_state_dict(w)
            networks.append(net.eval())
    except (KeyError, RuntimeError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path}: no usable networks ({exc})") from exc
    epoch = state["epoch"] if "epoch" in state else state.get("meta", {}).get("epoch")
    return networks, cfg, epoch


def audited_masks(data_dir: str, profile: str):
    """The noisy dataset's non-trusted training masks as an audit of a `noisy`-setting run sees them."""
    data, dataset = run_train_data(TrainConfig(data=str(Path(data_dir).resolve()), setting="noisy", profile=profile))
    rows = data.indices(data.has_label & ~data.trusted)
    case_ids, case_index = np.unique(data.case_ids[rows.numpy()], return_inverse=True)
    records = noise_records(dataset)
    if not records:
        raise SystemExit(f"{data_dir}: no noise_records.jsonl (make the copy with `aidemed data corrupt`)")
    corrupted = np.array([bool(records.get(str(c), {}).get("corrupted", False)) for c in case_ids])
    return data, rows, case_ids, torch.from_numpy(case_index.astype(np.int64)), corrupted


def score_checkpoints(paths: list[Path], data, rows, case_ids, case_index, corrupted, edges, flip: bool) -> dict:
    networks, trained_on, epochs = [], [], []
    for path in paths:
        nets, cfg, epoch = networks_of(path, data.in_channels, data.num_classes)
        networks += nets
        trained_on.append(cfg.data)
        epochs.append(epoch)
    images, given = data.images[rows], data.masks[rows]
    probs = predict_probs(networks, images, flip=flip)
    n = len(case_ids)
    disagreement, soft = mask_scores(probs, given, case_index, n)
    confident = confident_disagreement(probs, given, case_index, n)
    lab = cleanlab_scores(probs, given, case_index, n)
    orders = ranking_orders(disagreement, soft, confident, edges, lab)
    positives = {str(c) for c in case_ids[corrupted]}
    return {"checkpoints": [str(p) for p in paths], "epoch": epochs[0] if len(set(epochs)) == 1 else epochs,
            "trained_on": trained_on, "n_networks": len(networks), "k": len(positives),
            "mean_disagreement_right_masks": float(np.mean(disagreement[~corrupted])),
            "mean_disagreement_corrupted_masks": float(np.mean(disagreement[corrupted])),
            "precision_at_k": {name: precision_at_k([str(case_ids[i]) for i in order], positives)
                               for name, order in orders.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", metavar="NAME=CHECKPOINT[,CHECKPOINT...]")
    parser.add_argument("--data", required=True, help="the noisy dataset whose training masks are ranked")
    parser.add_argument("--profile", default="standard")
    parser.add_argument("--flip", action="store_true", help="average with the mirrored image's prediction")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--title", default="")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    named = []
    for item in args.checkpoints:
        name, sep, joined = item.partition("=")
        paths = [Path(p) for p in joined.split(",")]
        missing = [str(p) for p in paths if not p.is_file()]
        if not sep or missing:
            raise SystemExit(f"{item}: expected NAME=CHECKPOINT[,CHECKPOINT...]; not a file: {', '.join(missing)}")
        named.append((name, paths))
    began = time.perf_counter()
    data, rows, case_ids, case_index, corrupted = audited_masks(args.data, args.profile)
    edges = edge_alignment(data.images[rows], data.masks[rows], case_index, len(case_ids))
    results = []
    for name, paths in named:
        results.append({"name": name, **score_checkpoints(paths, data, rows, case_ids, case_index, corrupted, edges,
                                                         args.flip)})
        print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in results[-1]["precision_at_k"].items()), flush=True)
    names = list(results[0]["precision_at_k"])
    lines = ["", f"precision@k (k = {results[0]['k']} corrupted masks of {len(case_ids)}; chance "
             f"{results[0]['k'] / len(case_ids):.3f}); disagreement = 1 - Dice of the model's mask and the given mask, "
             "mean over the right / the corrupted masks", "",
             "| checkpoint | epoch | disagreement, right | disagreement, corrupted | " + " | ".join(names) + " |",
             "|---|---|---|---|" + "---|" * len(names)]
    for r in results:
        lines.append(f"| {r['name']} | {r['epoch']} | {r['mean_disagreement_right_masks']:.3f} | "
                     f"{r['mean_disagreement_corrupted_masks']:.3f} | "
                     + " | ".join(f"{r['precision_at_k'][n]:.3f}" for n in names) + " |")
    title = args.title or "Audit rankings made with the networks of given checkpoints"
    print(write_script_benchmark(Path(args.output), "audit_with_checkpoints.py", argv, began, title, lines,
                                 data=args.data, flip=args.flip, checkpoints=results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
