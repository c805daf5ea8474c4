"""The report-label benchmark: classifiers trained on labels read from simulated reader reports.

For every (label error, seed): the simulated reader (`simulated_reader.py`) writes one report sentence
per train/val case of a benign/malignant dataset, at that error rate and with that seed; every
method in `METHODS` trains on the labels the report labeler reads from those sentences and is
scored on the true test labels. Reader datasets and finished runs are cached, so an interrupted
sweep resumes where it stopped:

    OUT/datasets/e0.4-s1/       the reader dataset (references the source images)
    OUT/runs/certainty-e0.4-s1/ one `train-cls` run folder (results.json when finished)
    OUT/summary.md|json, runs.csv, auroc_vs_error.png

A method is plain data: the `ClsConfig` fields it changes (timm-style: adding a baseline is adding
one entry). Validation truth is the case's own (true) label, as in `train-cls`: model selection
uses a small clean validation split, the usual protocol of label-noise benchmarks.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from aidemed.bench.report import mean_sd, record_command, recorded_commands, save_figure, write_sweep_files
from aidemed.bench.simulated_reader import label_information

# The report labels as read: each statement's own direction ("probably benign" -> benign, "cannot
# exclude malignancy" -> malignant). CheXpert coding calls probable/possible/cannot-exclude/unlikely all
# "uncertain"; the u_* policies below remap those, `uncertain="grade"` keeps what the sentence said.
CE = {"rate_policy": "constant", "policy_args": {"rate": 0.0, "uncertain": "grade"}}


def _smoothed(rate: float) -> dict:
    return {"rate_policy": "constant", "policy_args": {"rate": rate, "uncertain": "grade"}}


METHODS: dict[str, dict] = {
    "ce": CE,
    "certainty": {"rate_policy": "certainty"},
    "certainty-warmup": {"rate_policy": "certainty", "warmup_epochs": 5},
    "adaptive": {"rate_policy": "adaptive", "warmup_epochs": 5},  # fitted on val after the warm-up
    "adaptive-reliability": {"rate_policy": "adaptive", "policy_args": {"criterion": "reliability"},
                             "warmup_epochs": 5},
    "ls-0.1": _smoothed(0.1),
    "ls-0.2": _smoothed(0.2),
    "ls-0.4": _smoothed(0.4),
    # Wei et al. (ICML 2022): negative smoothing needs a warm-up with plain CE under heavy noise
    "nls-0.2": {**_smoothed(-0.2), "warmup_epochs": 10},
    "u_ones": {"rate_policy": "u_ones"},
    "u_zeros": {"rate_policy": "u_zeros"},
    "u_ignore": {"rate_policy": "u_ignore"},
    "lsr": {"rate_policy": "lsr"},
    "coteaching": {**CE, "method": "coteaching"},
    "gce": {**CE, "loss": "gce", "loss_args": {"q": 0.7}},
}
REFERENCE = "ce"
OURS = "certainty"


class SweepFailed(ValueError):
    """Some runs of a sweep failed; the finished ones and the tables are kept."""


def list_methods() -> list[str]:
    return list(METHODS)


def method_config(base, name: str):
    """`base` (a ClsConfig) with method `name`'s fields; unknown names raise with the list."""
    from aidemed.engine.classification import check_config

    if name not in METHODS:
        raise KeyError(f"unknown report-label method {name!r}; known: {', '.join(METHODS)}")
    cfg = replace(base, **METHODS[name])
    check_config(cfg)
    return cfg


def run_key(method: str, error: float, seed: int) -> str:
    return f"{method}-e{error:g}-s{seed}"


def reader_dataset(source: Path, out: Path, error: float, seed: int, reader_values: dict, log=print) -> Path:
    """The cached reader dataset for (error, seed); rewritten only when its config differs."""
    from aidemed.bench.simulated_reader import ReaderConfig, make_reader_dataset

    folder = out / "datasets" / f"e{error:g}-s{seed}"
    cfg = ReaderConfig.from_dict({**reader_values, "error_rate": error})
    wanted = json.loads(json.dumps(asdict(cfg)))
    saved = folder / "reader.json"
    if saved.is_file():
        summary = json.loads(saved.read_text())
        saved_cfg = json.loads(json.dumps(asdict(ReaderConfig.from_dict(summary["config"]))))  # new keys: defaults
        if saved_cfg == wanted and summary["seed"] == seed and summary["source"] == str(source.resolve()):
            return folder
        log(f"{folder}: reader config changed; rewriting it")
    make_reader_dataset(source, folder, cfg, seed=seed, force=True)
    return folder


def run_sweep(base, source: str | Path, out: str | Path, methods: list[str], errors: list[float], seeds: list[int],
              reader_values: dict | None = None, log=print) -> list[dict]:
    """Train every (method, error, seed) not yet finished; rebuild the tables after each run."""
    from aidemed.engine.classification import train_classifier

    source, out = Path(source), Path(out)
    for name in methods:
        method_config(base, name)  # fail before any training on a misspelt method
    (out / "runs").mkdir(parents=True, exist_ok=True)
    record_command(out)
    plan = [(m, e, s) for e in errors for s in seeds for m in methods]
    results, failures = [], []
    for i, (method, error, seed) in enumerate(plan, start=1):
        key = run_key(method, error, seed)
        run_dir = out / "runs" / key
        data = reader_dataset(source, out, error, seed, reader_values or {}, log)
        cfg = replace(method_config(base, method), data=str(data.resolve()), seed=seed)
        wanted = json.loads(json.dumps(cfg.to_dict()))
        saved = run_dir / "config.json"
        if saved.is_file() and json.loads(saved.read_text()) != wanted:
            _set_aside(run_dir, out, log)  # the method's definition changed: keep the old run, train anew
        if (run_dir / "results.json").is_file():
            log(f"[{i}/{len(plan)}] {key}: cached")
            results.append(json.loads((run_dir / "results.json").read_text()))
            continue
        if saved.is_file() and not (run_dir / "checkpoints" / "last.pt").is_file():
            saved.unlink()  # a start that never finished an epoch: nothing to keep
        resume = (run_dir / "checkpoints" / "last.pt").is_file()
        log(f"[{i}/{len(plan)}] {key}: {'resuming' if resume else 'training'}")
        began = time.perf_counter()
        try:
            result = train_classifier(cfg, run_dir, resume=resume)
        except (ValueError, OSError) as error_:  # one broken run must not stop the sweep
            failures.append(f"{key}: {error_}")
            log(f"[{i}/{len(plan)}] {key}: FAILED: {error_}")
            continue
        log(f"[{i}/{len(plan)}] {key}: test AUROC {result['test']['auroc']['value']:.4f} "
            f"in {time.perf_counter() - began:.0f} s")
        results.append(result)
        write_tables(out)
    write_tables(out)
    if failures:
        raise SweepFailed(f"{out}: {len(failures)} run(s) failed (the others are kept):\n  " + "\n  ".join(failures))
    return results


def _set_aside(run_dir: Path, out: Path, log=print) -> None:
    stale = out / "stale" / f"{run_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    stale.parent.mkdir(parents=True, exist_ok=True)
    run_dir.rename(stale)
    log(f"{run_dir.name}: holds a run with another config; moved to {stale}")


# ============================================================================ tables


def _parse_key(name: str) -> tuple[str, float, int]:
    rest, seed = name.rsplit("-s", 1)
    method, error = rest.rsplit("-e", 1)
    return method, float(error), int(seed)


def load_runs(out: Path) -> list[dict]:
    runs = []
    for path in sorted((Path(out) / "runs").glob("*/results.json")):
        method, error, seed = _parse_key(path.parent.name)
        result = json.loads(path.read_text())
        test = result["test"]
        labels = result["train_labels"]
        runs.append({"run": path.parent.name, "method": method, "error": error, "seed": seed,
                     "auroc": test["auroc"]["value"], "accuracy": test["accuracy"]["value"],
                     "balanced_accuracy": test["balanced_accuracy"]["value"], "f1": test["f1"]["value"],
                     "ece": test["ece"]["value"], "val_auroc": result["best"]["score"],
                     "best_epoch": result["best"]["epoch"],
                     "train_label_error": labels.get("error_rate_vs_case_label"),
                     "train_seconds": result["train_seconds"], "n_test": result["n_test"],
                     "environment": result["environment"], "config": result["config"]})
    return runs


def aggregate(runs: list[dict]) -> list[dict]:
    """One row per (error, method): mean ± sd over seeds, and the paired difference to CE per seed."""
    reference = {(r["error"], r["seed"]): r["auroc"] for r in runs if r["method"] == REFERENCE}
    groups: dict[tuple[float, str], list[dict]] = {}
    for r in runs:
        groups.setdefault((r["error"], r["method"]), []).append(r)
    order = {m: i for i, m in enumerate(METHODS)}
    rows = []
    for (error, method), group in sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))):
        row = {"error": error, "method": method, "seeds": sorted(r["seed"] for r in group)}
        for metric in ("auroc", "accuracy", "balanced_accuracy", "ece", "train_label_error", "train_seconds"):
            row[f"{metric}_mean"], row[f"{metric}_sd"] = mean_sd([r[metric] for r in group])
        deltas = [r["auroc"] - reference[(error, r["seed"])] for r in group if (error, r["seed"]) in reference]
        row["delta_auroc_vs_ce_mean"], row["delta_auroc_vs_ce_sd"] = mean_sd(deltas)
        row["delta_seeds"] = len(deltas)
        rows.append(row)
    return rows


def seed_averaged_bootstrap(out: Path, error: float, method: str, other: str = REFERENCE, n_boot: int = 2000,
                            seed: int = 0) -> dict | None:
    """Paired bootstrap over test images of AUROC(method) - AUROC(other), each image's probability
    averaged over the seeds both ran (the seeds' reader labels differ; the test images do not)."""
    def probs(name):
        by_seed = {}
        for path in sorted((Path(out) / "runs").glob(f"{name}-e{error:g}-s*/test_predictions.csv")):
            with open(path, newline="") as fh:
                rows = list(csv.DictReader(fh))
            positive = [k for k in rows[0] if k.startswith("p_")][-1]
            by_seed[_parse_key(path.parent.name)[2]] = {r["case"]: (int(float(r["truth"])), float(r[positive]))
                                                       for r in rows}
        return by_seed

    ours, theirs = probs(method), probs(other)
    seeds = sorted(set(ours) & set(theirs))
    if not seeds:
        return None
    cases = sorted(set.intersection(*(set(ours[s]) for s in seeds)))
    y = np.array([ours[seeds[0]][c][0] for c in cases])
    p = np.array([np.mean([ours[s][c][1] for s in seeds]) for c in cases])
    q = np.array([np.mean([theirs[s][c][1] for s in seeds]) for c in cases])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), (n_boot, len(y)))
    both_classes = y[idx].min(1) != y[idx].max(1)
    diffs = (_auroc_rows(y[idx], p[idx]) - _auroc_rows(y[idx], q[idx]))[both_classes]
    return {"error": error, "method": method, "other": other, "seeds": seeds, "n_images": len(cases),
            "auroc_difference": float(_auroc_rows(y[None], p[None])[0] - _auroc_rows(y[None], q[None])[0]),
            "ci_low": float(np.percentile(diffs, 2.5)), "ci_high": float(np.percentile(diffs, 97.5)),
            "p_not_better": float(np.mean(diffs <= 0))}


def _auroc_rows(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """AUROC of every row (Mann-Whitney with mid-ranks for ties), vectorised over bootstrap resamples,
    which a call per resample makes a minute-long table rebuild."""
    from scipy.stats import rankdata

    ranks = rankdata(p, axis=1)
    n_pos = y.sum(1)
    n_neg = y.shape[1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((ranks * y).sum(1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def write_tables(out: str | Path) -> dict:
    out = Path(out)
    runs = load_runs(out)
    rows = aggregate(runs)
    errors = sorted({r["error"] for r in runs})
    tests = [t for e in errors for m in sorted({r["method"] for r in runs if r["error"] == e} - {REFERENCE})
             for t in [seed_averaged_bootstrap(out, e, m)] if t]
    readers = {}
    for path in sorted((out / "datasets").glob("*/reader.json")):
        summary = json.loads(path.read_text())
        readers[path.parent.name] = {"train": summary["splits"].get("train"), "k": summary["k"]}
    summary = {"rows": rows, "runs": [{k: v for k, v in r.items() if k not in ("environment", "config")} for r in runs],
               "paired_bootstrap_vs_ce": tests, "readers": readers,
               "environment": runs[0]["environment"] if runs else None,
               "config": {k: v for k, v in runs[0]["config"].items()
                          if k not in ("data", "seed", "rate_policy", "policy_args", "loss", "loss_args", "method",
                                       "warmup_epochs")} if runs else None,
               "methods": {m: METHODS[m] for m in sorted({r["method"] for r in runs}) if m in METHODS},
               "commands": recorded_commands(out)}
    write_sweep_files(out, summary, summary["runs"], summary_markdown(out, summary))
    if rows:
        _plot(rows, out / "auroc_vs_error.png")
    return summary


def summary_markdown(out: Path, summary: dict) -> str:
    env = summary["environment"] or {}
    cfg = summary["config"] or {}
    lines = [f"# {out.name}", "",
             "| label error | method | seeds | test AUROC (mean ± sd) | AUROC − CE (paired by seed) | accuracy | "
             "balanced accuracy | ECE | realised train label error | s / run |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        delta = (f"{100 * r['delta_auroc_vs_ce_mean']:+.1f} ± {100 * r['delta_auroc_vs_ce_sd']:.1f} pts"
                 if r["delta_seeds"] else "")
        lines.append(f"| {r['error']:g} | {r['method']} | {len(r['seeds'])} | {r['auroc_mean']:.4f} ± {r['auroc_sd']:.4f} | "
                     f"{delta} | {r['accuracy_mean']:.3f} ± {r['accuracy_sd']:.3f} | "
                     f"{r['balanced_accuracy_mean']:.3f} ± {r['balanced_accuracy_sd']:.3f} | "
                     f"{r['ece_mean']:.3f} ± {r['ece_sd']:.3f} | {r['train_label_error_mean']:.3f} | "
                     f"{r['train_seconds_mean']:.0f} |")
    if summary["paired_bootstrap_vs_ce"]:
        lines += ["", "Paired bootstrap over test images (2,000 resamples) of AUROC(method) − AUROC(ce), each "
                  "image's probability averaged over the seeds both ran:", "",
                  "| label error | method | seeds | images | AUROC difference | 95% CI | share of resamples ≤ 0 |",
                  "|---|---|---|---|---|---|---|"]
        for t in summary["paired_bootstrap_vs_ce"]:
            lines.append(f"| {t['error']:g} | {t['method']} | {','.join(map(str, t['seeds']))} | {t['n_images']} | "
                         f"{100 * t['auroc_difference']:+.1f} pts | [{100 * t['ci_low']:+.1f}, {100 * t['ci_high']:+.1f}] | "
                         f"{t['p_not_better']:.3f} |")
    lines += ["", "Methods (ClsConfig fields each one sets):", ""]
    lines += [f"- `{m}`: `{json.dumps(v)}`" for m, v in summary["methods"].items()]
    lines += ["", "Reader datasets (train split): realised error and per level (n, share wrong); pi = share of "
              "malignant cases. A reader whose every level is right more often than wrong errs on at most "
              "min(pi, 1 - pi) of the cases (`simulated_reader.label_information`), so above that bound some "
              "levels mislead (wrong more often than right): a smoothing rate r <= 1 keeps their target on "
              "the stated side, while a policy that flips them (u_zeros) or drops them (u_ignore) does not.", ""]
    for name, reader in summary["readers"].items():
        train = reader["train"]
        levels = ", ".join(f"{lv} {s['n']} ({s['error_rate']:.0%})" for lv, s in train["levels"].items() if s["n"])
        info = label_information(train["levels"])
        misleading = ", ".join(info["misleading_levels"]) or "none"
        lines.append(f"- {name}: {train['error_rate']:.1%} wrong; {levels}; pi {info['prevalence']:.3f}, bound "
                     f"{info['informative_bound']:.1%}, misleading levels: {misleading}")
    total = sum(r["train_seconds"] for r in summary["runs"])
    lines += ["", f"Runs: {len(summary['runs'])}, total training wall time {total / 60:.1f} min.",
              f"Machine: {env.get('processor')}, {env.get('threads')} torch threads, torch {env.get('torch')}, "
              f"MONAI {env.get('monai')}, Python {env.get('python')}, CUDA: {env.get('cuda')}.",
              f"Config: net {cfg.get('net')}, profile {cfg.get('profile')}, epochs {cfg.get('epochs')}, batch "
              f"{cfg.get('batch_size')}, {cfg.get('optimizer')} lr {cfg.get('lr')}, {cfg.get('scheduler')} schedule; "
              "model selection by val AUROC against the true val labels; test scored against the true labels.",
              "", "Commands:", "", *[f"    {c}" for c in summary["commands"]], ""]
    return "\n".join(lines)


def _plot(rows: list[dict], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plotting is optional (`pip install aidemed[plot]`)
        return
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    errors = sorted({r["error"] for r in rows})
    fig, ax = plt.subplots(figsize=(6.5, 3.8), dpi=120)
    width = 0.8 / max(len(methods), 1)
    for j, method in enumerate(methods):
        for k, error in enumerate(errors):
            row = next((r for r in rows if r["method"] == method and r["error"] == error), None)
            if row:
                ax.bar(k + (j - len(methods) / 2 + 0.5) * width, row["auroc_mean"], width, yerr=row["auroc_sd"],
                       capsize=2, color=plt.cm.tab20(j % 20), label=method if k == 0 else None,
                       hatch="//" if method == OURS else None, edgecolor="black" if method == OURS else None)
    ax.set_xticks(range(len(errors)), [f"{e:.0%} label error" for e in errors])
    ax.set_ylabel("test AUROC (mean ± sd over seeds)")
    lows = [r["auroc_mean"] - r["auroc_sd"] for r in rows if not math.isnan(r["auroc_sd"])]
    ax.set_ylim(max(0.0, min(lows, default=0.5) - 0.05), 1.0)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    fig.tight_layout()
    save_figure(fig, path)
