"""Tables across sweeps for the robustness benchmarks (docs/robustness.md).

A noise level or an adaptation fold is its own `aidemed bench label-efficiency` folder (its own
dataset). These tables read the finished run folders of several such sweeps:

* noise: test Dice per (noise level, method), mean ± sd over seeds, and each method's Dice as a
  share of its own Dice without noise; the audits' precision@k where `RUN/audit*/audit.json` exist.
* adaptation: target-test Dice per (fold, method) and pooled over the folds' test images (each
  target image is scored in exactly one fold), with the difference to `source_only` in points.
  Optionally, per fold, a sweep trained with the target's training masks (e.g.
  benchmarks/stu_oracle.py's dataset) and scored on the same target test cases: the
  target-labelled reference, a practical ceiling for what adaptation without those masks can gain.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from aidemed.bench.harness import paired_test, plot_dice
from aidemed.bench.report import mean_sd
from aidemed.data.manifest import atomic_write_text

SOURCE_ONLY = ("source_only", "supervised")  # `supervised` in a DA sweep is the source-only model
TARGET_LABELLED = "target-labelled supervised (reference)"


def finished_runs(sweep: Path) -> list[dict]:
    """results.json of every finished run, with the run folder and its per-case test Dice."""
    runs = []
    for path in sorted((Path(sweep) / "runs").glob("*/results.json")):
        result = json.loads(path.read_text())
        with open(path.parent / "test_cases.csv", newline="") as fh:
            per_case: dict[str, list[float]] = {}
            for row in csv.DictReader(fh):
                per_case.setdefault(row["case"], []).append(float(row["dice"]))
        result["run_dir"] = str(path.parent)
        result["case_dice"] = {case: float(np.mean(d)) for case, d in per_case.items()}
        runs.append(result)
    return runs


def _by_method(runs: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for run in runs:
        groups.setdefault(run["config"]["method"], []).append(run)
    return groups


def _audit(run: dict) -> dict | None:
    """The run's audits' precision@k in one dict: RUN/audit's under the ranking's name, those of other
    RUN/audit* folders (e.g. audit_crossfit2) as "name [folder]"."""
    precision = {}
    for path in sorted(Path(run["run_dir"]).glob("audit*/audit.json")):
        folder = path.parent.name
        for name, value in json.loads(path.read_text()).get("precision_at_k", {}).items():
            precision[name if folder == "audit" else f"{name} [{folder}]"] = value
    return {"precision_at_k": precision} if precision else None


def training_path(config: dict) -> str:
    """The speed options a run trained with: epoch times of runs on different paths are not comparable
    (with unet-base and bf16 on this project's CPU, compiled channels-last training steps ran 1.6x as
    many images/s as eager ones, README)."""
    options = [name for key, name in (("compile", "compiled"), ("channels_last", "channels-last"))
               if config.get(key)]
    return ", ".join(options) or "eager"


def noise_rows(sweeps: dict[float, Path]) -> list[dict]:
    """One row per (noise level, method); `relative_to_clean` = Dice / the same method's Dice at level 0."""
    rows = []
    for level in sorted(sweeps):
        for method, runs in sorted(_by_method(finished_runs(sweeps[level])).items()):
            dice_mean, dice_sd = mean_sd([r["test"]["dice"] for r in runs])
            audits = [a for a in map(_audit, runs) if a and "precision_at_k" in a]
            rows.append({
                "noise": level, "method": method, "seeds": sorted(r["config"]["seed"] for r in runs),
                "dice_mean": dice_mean, "dice_sd": dice_sd,
                "hd95_mean": mean_sd([r["test"]["hd95"] for r in runs])[0],
                "median_epoch_seconds": float(np.median([r["seconds_per_epoch"] for r in runs])),
                "training_path": " / ".join(sorted({training_path(r["config"]) for r in runs})),
                "precision_at_k": _mean_precision(audits),
            })
    clean = {r["method"]: r["dice_mean"] for r in rows if r["noise"] == 0.0}
    for row in rows:
        row["relative_to_clean"] = row["dice_mean"] / clean[row["method"]] if row["method"] in clean else math.nan
    return rows


def _mean_precision(audits: list[dict]) -> dict[str, float]:
    names = sorted({k for a in audits for k, v in a["precision_at_k"].items() if isinstance(v, (int, float))})
    return {name: float(np.mean([a["precision_at_k"][name] for a in audits
                                 if isinstance(a["precision_at_k"].get(name), (int, float))])) for name in names}


def adaptation_rows(folds: list[Path], target_labelled: list[Path] | None = None) -> list[dict]:
    """One row per method: per-fold Dice (mean over seeds) and the Dice pooled over all folds' target test
    images (each image's Dice averaged over the seeds), with the pooled difference to source-only on the
    method's own seeds (source-only's other seeds would mix seed luck into the difference).
    `target_labelled`: one sweep per fold (same order) whose supervised runs saw the target's training
    masks; they form one more row, checked to be scored on the fold's own target test cases."""
    per_method: dict[str, dict[int, list[dict]]] = {}
    for k, fold in enumerate(folds):
        for method, runs in _by_method(finished_runs(fold)).items():
            per_method.setdefault(method, {})[k] = runs
    if target_labelled:
        if len(target_labelled) != len(folds):
            raise ValueError(f"{len(target_labelled)} target-labelled sweeps for {len(folds)} adaptation folds: "
                             "give one folder per --adaptation fold, in the same order")
        for k, sweep in enumerate(target_labelled):
            runs = [r for r in finished_runs(sweep) if r["config"]["method"] in SOURCE_ONLY]
            _check_same_test_cases(sweep, runs, folds[k], [r for m in per_method.values() for r in m.get(k, [])])
            if runs:
                per_method.setdefault(TARGET_LABELLED, {})[k] = runs
    rows, pooled = [], {}
    for method, by_fold in sorted(per_method.items()):
        cases = pooled[method] = _pooled_cases(by_fold)
        rows.append({"method": method, "folds": sorted(by_fold), "complete": len(by_fold) == len(folds),
                     "fold_dice": {k: mean_sd([r["test"]["dice"] for r in runs])[0] for k, runs in sorted(by_fold.items())},
                     "seeds": sorted({r["config"]["seed"] for runs in by_fold.values() for r in runs}),
                     "n_images": len(cases), "pooled_dice": float(np.mean(list(cases.values())))})
    reference = next((m for m in SOURCE_ONLY if m in per_method), None)
    for row in rows:
        if reference is None:
            row["minus_source_only_points"] = math.nan
            continue
        reference_seeds = {r["config"]["seed"] for runs in per_method[reference].values() for r in runs}
        seeds = (set(row["seeds"]) & reference_seeds) or reference_seeds  # no seed in common: all of source-only's
        mine, theirs = pooled[row["method"]], _pooled_cases(per_method[reference], seeds)
        shared = sorted(set(mine) & set(theirs))
        row["minus_source_only_points"] = 100 * float(np.mean([mine[c] - theirs[c] for c in shared])) if shared else math.nan
        row["source_only_reference"] = reference
        row["source_only_seeds"] = sorted(seeds)
        row["paired_test"] = None if row["method"] == reference else paired_test(
            _pooled_by_seed(per_method[row["method"]]), _pooled_by_seed(per_method[reference]))
    return rows


def _check_same_test_cases(sweep: Path, runs: list[dict], fold: Path, fold_runs: list[dict]) -> None:
    if not runs or not fold_runs:
        return
    theirs, mine = set(fold_runs[0]["case_dice"]), set(runs[0]["case_dice"])
    if mine != theirs:
        raise ValueError(f"{sweep}: its runs are scored on {len(mine)} test cases, the adaptation fold {fold} on "
                         f"{len(theirs)}, {len(mine ^ theirs)} of them differ (e.g. {sorted(mine ^ theirs)[:3]}); "
                         "a target-labelled reference must be scored on the fold's own target test cases")


def _pooled_by_seed(by_fold: dict[int, list[dict]]) -> dict[int, dict[str, float]]:
    seeds = {r["config"]["seed"] for runs in by_fold.values() for r in runs}
    return {seed: _pooled_cases(by_fold, {seed}) for seed in seeds}


def _pooled_cases(by_fold: dict[int, list[dict]], seeds: set | None = None) -> dict[str, float]:
    """Each target test image's Dice ("foldK:case"), averaged over the runs (of the given seeds)."""
    cases = {}
    for k, runs in by_fold.items():
        runs = [r for r in runs if seeds is None or r["config"]["seed"] in seeds]
        for case in (runs[0]["case_dice"] if runs else {}):
            cases[f"fold{k}:{case}"] = float(np.mean([r["case_dice"][case] for r in runs]))
    return cases


def _fmt(value: float, digits: int = 4) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _p_value(p: float) -> str:
    """Three significant digits, as the label-efficiency tables print them (a tiny p stays readable)."""
    return "–" if p is None or math.isnan(p) else f"{p:.3g}"


def noise_markdown(rows: list[dict]) -> list[str]:
    lines = ["| noise (share of training masks corrupted) | method | seeds | test Dice (mean ± sd) | × own Dice at 0% | "
             "HD95 px | median s / epoch (training path) | audit precision@k |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        audit = ", ".join(f"{k} {v:.3f}" for k, v in r["precision_at_k"].items()) or "–"
        lines.append(f"| {r['noise']:.0%} | {r['method']} | {len(r['seeds'])} | {_fmt(r['dice_mean'])} ± {_fmt(r['dice_sd'])} | "
                     f"{_fmt(r['relative_to_clean'], 3)} | {_fmt(r['hd95_mean'], 1)} | {r['median_epoch_seconds']:.1f} ({r['training_path']}) | {audit} |")
    return lines


def adaptation_markdown(rows: list[dict], n_folds: int) -> list[str]:
    head = " | ".join(f"fold {k} Dice" for k in range(n_folds))
    lines = [f"| method | seeds | {head} | target images | pooled target Dice | − source-only, same seeds (points) | "
             "p (paired Wilcoxon over images, same seeds) |",
             "|---|---|" + "---|" * n_folds + "---|---|---|---|"]
    for r in rows:
        folds = " | ".join(_fmt(r["fold_dice"].get(k, math.nan)) for k in range(n_folds))
        seeds = ",".join(str(seed) for seed in r["seeds"])
        lines.append(f"| {r['method']}{'' if r['complete'] else ' (incomplete)'} | {seeds} | {folds} | {r['n_images']} | "
                     f"{_fmt(r['pooled_dice'])} | {_fmt(r['minus_source_only_points'], 1)} | "
                     f"{_p_value(r['paired_test']['p_value']) if r.get('paired_test') else '–'} |")
    return lines


def write_robustness_tables(out: Path, noisy: dict[float, Path], adaptation: list[Path], command: str,
                            target_labelled: list[Path] | None = None) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    target_labelled = list(target_labelled or [])
    summary = {"command": command, "noise": noise_rows(noisy) if noisy else [],
               "adaptation": adaptation_rows(adaptation, target_labelled) if adaptation or target_labelled else [],
               "noise_sweeps": {str(k): str(v) for k, v in sorted(noisy.items())},
               "adaptation_folds": [str(p) for p in adaptation],
               "target_labelled_folds": [str(p) for p in target_labelled]}
    lines = [f"# {out.name}", "", f"Built by `{command}` from the run folders of these sweeps "
             "(each has its own summary.md with the training commands, machine and config):", ""]
    lines += [f"- noise {k:.0%}: `{v}`" for k, v in sorted(noisy.items())]
    lines += [f"- adaptation fold {k}: `{p}`" for k, p in enumerate(adaptation)]
    lines += [f"- target-labelled reference, fold {k}: `{p}`" for k, p in enumerate(target_labelled)]
    if summary["noise"]:
        lines += ["", "## Noisy masks (test Dice against the clean test masks)", "", *noise_markdown(summary["noise"])]
    if summary["adaptation"]:
        lines += ["", "## Domain adaptation (Dice on the target's test images; selection on source val)", "",
                  *adaptation_markdown(summary["adaptation"], len(adaptation))]
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=float) + "\n")
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    if summary["noise"]:
        plot_dice(summary["noise"], "noise", out / "dice_vs_noise.png", "share of training masks corrupted")
    return summary
