"""Where AIDE's label copies end up: their Dice to the hidden ground truth, against the bootstrap masks.

    python benchmarks/aide_label_quality.py benchmarks/results/busi_label_efficiency_unet_base_bf16_fast \
        [--fractions 0.05 0.1 0.25]

A label-efficiency sweep hides the masks of the training cases outside the budget. On a dataset that has
them all (BUSI), each finished AIDE run's pseudo-masks can be scored against them: the bootstrap model's
masks (AIDE's starting labels, and what `pseudo_label` trains on), A's and B's label copies at the end of
the run (after the global corrections), the masks the corrections changed, and the last-epoch network
A's own prediction on the same images. Per-case Dice (foreground classes averaged; 1 when both are
empty), mean over the cases without a budget mask. Writes label_quality.json and label_quality.md into
the sweep folder, with the command.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from aidemed.data.cache import load_arrays
from aidemed.data.manifest import load_dataset
from aidemed.engine.checkpoint import load_checkpoint
from aidemed.engine.config import TrainConfig
from aidemed.engine.inference import predict_probs
from aidemed.engine.predict import Predictor
from aidemed.engine.run import environment, semi_supervised_data
from aidemed.methods.aide import per_sample_dice
from aidemed.nets import create_model


def score_labels(truth: torch.Tensor, bootstrap: torch.Tensor, copies: dict[str, torch.Tensor],
                 prediction: torch.Tensor, num_classes: int) -> dict:
    """Mean Dice to `truth` of the bootstrap masks, each label copy and the network's prediction, and of
    the bootstrap and A's copy over the cases whose A copy a correction changed."""
    def dice(masks):
        return per_sample_dice(masks, truth, num_classes)

    changed = (copies["A"] != bootstrap).flatten(1).any(1)
    result = {"cases": len(truth), "bootstrap": float(dice(bootstrap).mean()),
              **{f"copy_{k}": float(dice(v).mean()) for k, v in copies.items()},
              "changed_A": int(changed.sum()), "last_epoch_A_prediction": float(dice(prediction).mean())}
    if changed.any():
        result["changed_A_bootstrap"] = float(dice(bootstrap)[changed].mean())
        result["changed_A_corrected"] = float(dice(copies["A"])[changed].mean())
    return result


def bootstrap_dir(run: Path, cfg: TrainConfig) -> Path:
    """The run's bootstrap: `bootstrap_run` when it still exists, else the sweep's sibling supervised run."""
    given = Path(cfg.method_args.get("bootstrap_run", ""))
    if str(given) not in ("", ".") and (given / "checkpoints" / "best.pt").is_file():
        return given
    for candidate in (run / "bootstrap", run.parent / f"supervised-f{cfg.labelled_fraction:g}-s{cfg.seed}"):
        if (candidate / "checkpoints" / "best.pt").is_file():
            return candidate
    raise SystemExit(f"{run}: no bootstrap run with checkpoints/best.pt found")


def run_label_quality(run: Path) -> dict:
    cfg = TrainConfig.load(run / "config.json")
    dataset = load_dataset(cfg.data)
    splits = dataset.load_splits()
    arrays = load_arrays(dataset, cfg.profile)
    data = semi_supervised_data(dataset, arrays, splits, cfg.labelled_fraction)
    truth_set = arrays.select_cases(splits["train"])
    hidden = data.indices(~data.has_label)
    if not bool(torch.from_numpy(truth_set.has_mask)[hidden].all()):
        raise SystemExit(f"{cfg.data}: some training cases have no mask, so their pseudo-masks cannot be scored")
    truth = torch.from_numpy(truth_set.masks).long()[hidden]
    device = torch.device("cpu")
    images = data.images[hidden]
    boot = Predictor.from_checkpoint(bootstrap_dir(run, cfg) / "checkpoints" / "best.pt", device)
    bootstrap = predict_probs(boot.networks, images, device=device).argmax(1)
    state = load_checkpoint(run / "checkpoints" / "last.pt")["method"]
    copies = {k: state["extra"][f"labels_{k}"].long()[hidden] for k in ("A", "B")}
    net = create_model(cfg.net, data.in_channels, data.num_classes)
    net.load_state_dict(state["networks"]["A"])
    prediction = predict_probs([net.eval()], images, device=device).argmax(1)
    return {"run": run.name, "fraction": cfg.labelled_fraction, "seed": cfg.seed,
            **score_labels(truth, bootstrap, copies, prediction, data.num_classes)}


def markdown(rows: list[dict], command: str, machine: str, seconds: float) -> str:
    lines = ["# AIDE's label copies against the hidden ground truth", "", f"Command: `{command}`", "",
             f"Machine: {machine}; wall time {seconds:.0f} s.", "",
             "Mean per-case Dice to the true mask over the training cases without a budget mask. `bootstrap`: "
             "the bootstrap model's masks AIDE starts from (the supervised model's, or with `bootstrap_rounds` "
             "the chain's last pseudo_label model's); `copy A/B`: the "
             "labels A and B trained on at the end of the run; `changed`: cases whose A copy a correction "
             "replaced, with their Dice before and after; last column: the last-epoch network A's prediction.", "",
             "| fraction | seed | cases | bootstrap | copy A | copy B | changed (A) | changed: bootstrap -> corrected | last-epoch A prediction |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        moved = (f"{r['changed_A_bootstrap']:.4f} -> {r['changed_A_corrected']:.4f}" if r["changed_A"] else "–")
        lines.append(f"| {r['fraction']:g} | {r['seed']} | {r['cases']} | {r['bootstrap']:.4f} | {r['copy_A']:.4f} | "
                     f"{r['copy_B']:.4f} | {r['changed_A']} | {moved} | {r['last_epoch_A_prediction']:.4f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--fractions", type=float, nargs="+")
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = sorted(p.parent for p in (args.sweep / "runs").glob("aide-f*/results.json"))
    if args.fractions:
        runs = [r for r in runs if any(r.name.startswith(f"aide-f{f:g}-") for f in args.fractions)]
    if not runs:
        raise SystemExit(f"{args.sweep / 'runs'}: no finished AIDE runs")
    began = time.perf_counter()
    rows = [run_label_quality(r) for r in runs]
    seconds, machine = time.perf_counter() - began, environment()["processor"]
    command = " ".join(shlex.quote(w) for w in ["python", *sys.argv])
    (args.sweep / "label_quality.json").write_text(json.dumps(
        {"command": command, "machine": machine, "seconds": seconds, "runs": rows}, indent=2) + "\n")
    text = markdown(rows, command, machine, seconds)
    (args.sweep / "label_quality.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
