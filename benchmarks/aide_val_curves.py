"""Val Dice by epoch of AIDE runs side by side, from their metrics.jsonl: the table behind the finding
that AIDE's val Dice drops in the epoch its ramp lambda reaches 1 (docs/methods.md).

    python benchmarks/aide_val_curves.py RUN_DIR [RUN_DIR ...] -o benchmarks/results/aide_val_curves.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path


def curves(runs: list[Path]) -> dict[str, list[dict]]:
    out = {}
    for run in runs:
        path = run / "metrics.jsonl"
        if not path.is_file():
            raise SystemExit(f"{path}: missing (not a training run folder)")
        out[str(run)] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def markdown(history: dict[str, list[dict]], first: int, last: int, command: str) -> str:
    names = list(history)
    lines = ["# AIDE val Dice by epoch", "", f"Command: `{command}`", "",
             "Columns: " + "; ".join(f"({i + 1}) `{name}`" + ("" if (Path(name) / "results.json").is_file()
                                                             else " (stopped early)") for i, name in enumerate(names)),
             "", "| epoch | lambda | " + " | ".join(f"({i + 1})" for i in range(len(names))) + " |",
             "|---|---|" + "---|" * len(names)]
    for epoch in range(first, last + 1):
        rows = [next((h for h in history[n] if h["epoch"] == epoch), None) for n in names]
        lam = next((r.get("train_lambda") for r in rows if r and "train_lambda" in r), None)
        cells = [("–" if r is None else f"{r['val_dice']:.3f}" + (" c" if "corrected_by_A" in r else "")) for r in rows]
        lines.append(f"| {epoch} | {'–' if lam is None else f'{lam:.2f}'} | " + " | ".join(cells) + " |")
    lines += ["", "`c`: labels were corrected at the end of that epoch (validation runs after the correction, "
              "but a correction changes labels, not the networks).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--first", type=int, default=12)
    parser.add_argument("--last", type=int, default=39)
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args()
    command = " ".join(shlex.quote(w) for w in ["python", *sys.argv])
    text = markdown(curves(args.runs), args.first, args.last, command)
    args.out.write_text(text)
    print(text)
