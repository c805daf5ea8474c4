"""Would a label correction have helped? Offline check of AIDE's correction rule on a finished noisy run.

    python benchmarks/aide_correction_gain.py RUN_DIR -o OUT_DIR

RUN_DIR: an `aide` run in the `noisy` setting on a dataset written by `aidemed data corrupt` (so the
clean masks are known) that kept checkpoints/last.pt. Network A of last.pt predicts every correctable
training image; for the cases each rule would correct, the gain is Dice(prediction, clean mask) -
Dice(given mask, clean mask): positive when the new label is closer to the truth than the old one.
Rules: the paper's (the `correction_fraction` least agreeing with their label), and the same gated by
the prediction's mean foreground confidence (`correction_min_confidence`) or by A-B agreement.
The networks are the run's last ones, not those of the correction epochs, so this ranks rules; it is
no replay of the run. Writes OUT_DIR/correction_gain.json and .md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from aidemed.audit import clean_mask_at, load_networks, run_train_data
from aidemed.data.cache import resolve_size
from aidemed.engine.config import TrainConfig
from aidemed.engine.inference import predict_probs
from aidemed.methods.aide import AIDEOptions, labels_to_correct, per_sample_dice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--fraction", type=float, default=0.25)
    args = parser.parse_args()
    start = time.time()
    run = Path(args.run_dir)
    cfg = TrainConfig.load(run / "config.json")
    data, dataset = run_train_data(cfg)
    net_a, net_b = load_networks(run, cfg, "last", data.in_channels, data.num_classes, torch.device("cpu"))[:2]
    rows = data.indices(data.has_label & ~data.trusted)
    images, given = data.images[rows], data.masks[rows]
    probs_a = predict_probs([net_a], images)
    pred_a, pred_b = probs_a.argmax(1), predict_probs([net_b], images).argmax(1)
    size = resolve_size(cfg.profile)
    clean = []
    for i in rows.numpy():
        mask = clean_mask_at(dataset, str(data.case_ids[i]), size, 1)
        if mask is None:
            raise SystemExit(f"{cfg.data}: no clean mask for case {data.case_ids[i]} (not a corrupted copy?)")
        clean.append(mask[0])
    clean = torch.stack(clean)
    k = data.num_classes
    gain = per_sample_dice(pred_a, clean, k) - per_sample_dice(given, clean, k)
    corrupted = per_sample_dice(given, clean, k) < 1
    agreement = per_sample_dice(pred_a, given, k)
    n_replace = int(round(args.fraction * len(rows)))

    def chosen(min_confidence: float) -> torch.Tensor:  # AIDE's own selection, as a mask over the rows
        picked, _ = labels_to_correct(agreement, probs_a, pred_a, n_replace,
                                      AIDEOptions(correction_min_confidence=min_confidence))
        return torch.zeros(len(rows), dtype=torch.bool).index_fill_(0, picked, True)

    worst = chosen(0.0)
    peer_agreement = per_sample_dice(pred_a, pred_b, k)
    rules = {"least agreement (paper)": worst}
    rules.update({f"least agreement, foreground confidence >= {t}": chosen(t) for t in (0.6, 0.7, 0.8)})
    rules.update({f"least agreement, A-B Dice >= {t}": worst & (peer_agreement >= t) for t in (0.8, 0.9)})
    table = []
    for name, sel in rules.items():
        n = int(sel.sum())
        table.append({"rule": name, "n": n, "mean_gain": float(gain[sel].mean()) if n else None,
                      "improved": float((gain[sel] > 0).float().mean()) if n else None,
                      "corrupted": float(corrupted[sel].float().mean()) if n else None})
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"run": str(run), "data": cfg.data, "n_correctable": len(rows), "fraction": args.fraction,
               "rules": table, "seconds": time.time() - start,
               "command": f"python benchmarks/aide_correction_gain.py {args.run_dir} -o {args.output}"}
    (out / "correction_gain.json").write_text(json.dumps(summary, indent=1) + "\n")
    md = [f"# Label corrections of {run.name} ({cfg.data})", "",
          f"{len(rows)} correctable masks; network A of last.pt; gain = Dice(prediction, clean) - Dice(given, clean).",
          "", "| rule | corrected | mean gain | improved | share corrupted |", "|---|---|---|---|---|"]
    for r in table:
        md.append(f"| {r['rule']} | {r['n']} | " + (f"{r['mean_gain']:+.3f} | {r['improved']:.2f} | {r['corrupted']:.2f} |"
                                                     if r["n"] else "– | – | – |"))
    md += ["", f"Command: `{summary['command']}` ({summary['seconds']:.0f} s)", ""]
    (out / "correction_gain.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
