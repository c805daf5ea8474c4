"""Sweeps of training runs with cached results, and the tables and plots we publish.

A sweep is (methods x label fractions x seeds) over one prepared dataset. Each run has its own folder
`OUT/runs/METHOD-fF-sSEED`; a run whose `results.json` exists is skipped, a run with a `last.pt` but no
results is resumed, so an interrupted sweep continues where it stopped. Tables are rebuilt from the
run folders alone (`aidemed bench table OUT`).
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from aidemed.bench.report import mean_sd, record_command, recorded_commands, save_figure, write_sweep_files
from aidemed.engine.config import TrainConfig


@dataclass(frozen=True)
class RunSpec:
    method: str
    fraction: float
    seed: int

    @property
    def key(self) -> str:
        return f"{self.method}-f{self.fraction:g}-s{self.seed}"


def plan(methods: list[str], fractions: list[float], seeds: list[int],
         only: dict[str, list[float]] | None = None) -> list[RunSpec]:
    """All combinations; `only` restricts a method to some fractions (e.g. supervised alone at 1.0)."""
    specs = []
    for fraction in fractions:
        for method in methods:
            if only and method in only and fraction not in only[method]:
                continue
            for seed in seeds:
                specs.append(RunSpec(method, fraction, seed))
    return specs


def run_sweep(base: TrainConfig, specs: list[RunSpec], out: Path, log=print,
              method_args: dict[str, dict] | None = None, jobs: int = 1) -> list[dict]:
    """Train every spec not yet finished in OUT/runs. base.method_args go to every method, `method_args`
    maps a method name to options for its runs only. Each run's options are checked before the first
    trains, and a run folder made with another config stops the sweep (its numbers would not be this
    sweep's). With jobs > 1, that many runs train at once, each in its own process (`_ParallelSweep`)."""
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    out = Path(out)
    configs = [_spec_config(base, spec, method_args or {}) for spec in specs]
    for spec, cfg in zip(specs, configs):
        _check_run_folder(cfg, out / "runs" / spec.key)
    specs, configs = _bootstraps_first(specs, configs)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    record_command(out)
    if jobs > 1:
        return _ParallelSweep(specs, configs, out, log, jobs).run()
    from aidemed.engine.run import train

    results = []
    for i, (spec, cfg) in enumerate(zip(specs, configs), start=1):
        run_dir = out / "runs" / spec.key
        if (run_dir / "results.json").is_file():
            log(f"[{i}/{len(specs)}] {spec.key}: cached")
            results.append(json.loads((run_dir / "results.json").read_text()))
            continue
        cfg = _with_sibling_bootstrap(cfg, spec, out)
        resume = (run_dir / "checkpoints" / "last.pt").is_file()
        log(f"[{i}/{len(specs)}] {spec.key}: {'resuming' if resume else 'training'}")
        began = time.perf_counter()
        result = train(cfg, run_dir, resume=resume, check=(i == 1))
        log(f"[{i}/{len(specs)}] {spec.key}: test Dice {result['test']['dice']:.4f} in {time.perf_counter() - began:.0f} s")
        results.append(result)
        write_tables(out)
    write_tables(out)
    return results


def sweep_dependencies(specs: list[RunSpec], configs: list[TrainConfig]) -> dict[str, str]:
    """For each run that bootstraps from another run of the same sweep, the key of that run (see
    `_with_sibling_bootstrap`): it must finish first."""
    from aidemed.engine.run import bootstrap_rounds
    from aidemed.methods import get_method

    keys = {spec.key for spec in specs}
    needs = {}
    for spec, cfg in zip(specs, configs):
        if not getattr(get_method(spec.method), "needs_bootstrap", False) or "bootstrap_run" in cfg.method_args:
            continue
        sibling = RunSpec("supervised" if bootstrap_rounds(cfg) == 1 else "pseudo_label", spec.fraction, spec.seed).key
        if sibling in keys and sibling != spec.key:
            needs[spec.key] = sibling
    return needs


def _bootstraps_first(specs: list[RunSpec], configs: list[TrainConfig]) -> tuple[list[RunSpec], list[TrainConfig]]:
    """The sweep's order, except that a run comes after the run it bootstraps from, so it reuses that run
    whatever order the methods were listed in."""
    needs = sweep_dependencies(specs, configs)
    pending, placed, order = list(range(len(specs))), set(), []
    while pending:
        i = next(i for i in pending if needs.get(specs[i].key) in (None, *placed))
        pending.remove(i)
        placed.add(specs[i].key)
        order.append(i)
    return [specs[i] for i in order], [configs[i] for i in order]


class _ParallelSweep:
    """Up to `jobs` runs at once, each in a fresh process (spawned, so CUDA works in it), a run that
    bootstraps from another run of the sweep submitted once that run has finished. Many small runs
    share one GPU this way (benchmarks/results/busi_label_efficiency_h100/: 36 at once), or two jobs
    share a 2-core CPU. A failed run does not stop the others; the sweep raises at the end, naming
    every run that failed or could not start, and the finished runs stay cached."""

    def __init__(self, specs: list[RunSpec], configs: list[TrainConfig], out: Path, log, jobs: int):
        import os

        self.specs, self.configs, self.out, self.log, self.jobs = specs, configs, out, log, jobs
        self.index = {spec.key: i for i, spec in enumerate(specs)}
        self.needs = sweep_dependencies(specs, configs)
        self.threads = max(1, (os.cpu_count() or 1) // jobs)
        self.results: dict[str, dict] = {}
        self.failed: dict[str, str] = {}
        self.waiting: list[RunSpec] = []
        self.running: dict = {}

    def run(self) -> list[dict]:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        self._load_cached()
        if self.waiting:
            _check_and_cache_datasets(self.configs)
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            while self.waiting or self.running:
                self._submit_ready(pool)
                self._give_up_on_orphans()
                if not self.running:
                    break
                finished, _ = wait(self.running, return_when=FIRST_COMPLETED)
                self._collect(finished)
        self.failed.update({spec.key: "not started" for spec in self.waiting})
        write_tables(self.out)
        if self.failed:
            raise RuntimeError(
                f"{self.out}: {len(self.failed)} of {len(self.specs)} runs did not finish (the others are saved):\n"
                + "\n".join(f"  {key}: {why}" for key, why in self.failed.items()))
        return [self.results[spec.key] for spec in self.specs]

    def _prefix(self, spec: RunSpec) -> str:
        return f"[{self.index[spec.key] + 1}/{len(self.specs)}] {spec.key}"

    def _load_cached(self) -> None:
        for spec in self.specs:
            done = self.out / "runs" / spec.key / "results.json"
            if done.is_file():
                self.log(f"{self._prefix(spec)}: cached")
                self.results[spec.key] = json.loads(done.read_text())
            else:
                self.waiting.append(spec)

    def _submit_ready(self, pool) -> None:
        for spec in [s for s in self.waiting if self.needs.get(s.key) in (None, *self.results)]:
            self.waiting.remove(spec)
            base = self.configs[self.index[spec.key]]
            cfg = replace(_with_sibling_bootstrap(base, spec, self.out), progress=False,
                          num_threads=base.num_threads or self.threads)
            run_dir = self.out / "runs" / spec.key
            resume = (run_dir / "checkpoints" / "last.pt").is_file()
            self.log(f"{self._prefix(spec)}: {'resuming' if resume else 'training'}")
            self.running[pool.submit(_train_in_worker, cfg, str(run_dir), resume)] = (spec, time.perf_counter())

    def _give_up_on_orphans(self) -> None:
        for spec in [s for s in self.waiting if self.needs.get(s.key) in self.failed]:
            self.waiting.remove(spec)
            self.failed[spec.key] = f"not started: its bootstrap run {self.needs[spec.key]} failed"

    def _collect(self, finished) -> None:
        for future in finished:
            spec, began = self.running.pop(future)
            try:
                self.results[spec.key] = future.result()
            except Exception as err:  # noqa: BLE001 - reported with the run's name at the end
                self.failed[spec.key] = f"{type(err).__name__}: {err}"
                self.log(f"{self._prefix(spec)}: FAILED ({self.failed[spec.key]})")
                continue
            dice = self.results[spec.key]["test"]["dice"]
            self.log(f"{self._prefix(spec)}: test Dice {dice:.4f} in {time.perf_counter() - began:.0f} s")
            write_tables(self.out)


def _check_and_cache_datasets(configs: list[TrainConfig]) -> None:
    """Check each dataset and decode it into its array cache once, here, rather than in every worker."""
    from aidemed.data.cache import load_arrays
    from aidemed.data.check import assert_dataset_ok
    from aidemed.data.manifest import load_dataset

    for data in sorted({d for c in configs for d in (c.data, c.target_data) if d}):
        assert_dataset_ok(data)
    for data, profile in sorted({(d, c.profile) for c in configs for d in (c.data, c.target_data) if d}):
        load_arrays(load_dataset(data), profile)


def _train_in_worker(cfg: TrainConfig, run_dir: str, resume: bool) -> dict:
    from aidemed.engine.run import train

    return train(cfg, run_dir, resume=resume, check=False)  # checked once by the parent


def split_method_args(method_args: dict, methods: list[str]) -> tuple[dict, dict[str, dict]]:
    """`--method-arg KEY=VALUE` is for every method of a sweep, `--method-arg METHOD:KEY=VALUE` for one:
    the shared options and the per-method ones."""
    shared: dict = {}
    per_method: dict[str, dict] = {}
    for key, value in method_args.items():
        if ":" not in key:
            shared[key] = value
            continue
        method, option = key.split(":", 1)
        if method not in methods:
            raise ValueError(f"--method-arg {key}={value}: method {method!r} is not one of the sweep's "
                             f"methods ({' '.join(methods)})")
        per_method.setdefault(method, {})[option] = value
    return shared, per_method


def _spec_config(base: TrainConfig, spec: RunSpec, method_args: dict[str, dict]) -> TrainConfig:
    from aidemed.methods import get_method

    options = {**base.method_args, **method_args.get(spec.method, {})}
    try:
        get_method(spec.method).check_options(base.setting, options)
    except ValueError as err:
        raise ValueError(f"{spec.key}: {err}") from None
    return replace(base, method=spec.method, labelled_fraction=spec.fraction, seed=spec.seed, method_args=options)


def _check_run_folder(cfg: TrainConfig, run_dir: Path) -> None:
    from aidemed.engine.run import learning_config_differences

    saved = run_dir / "config.json"
    if saved.is_file():
        changed = learning_config_differences(json.loads(saved.read_text()), cfg)
        if changed:
            raise ValueError(f"{run_dir}: this run was made with another config than the sweep asks for "
                             f"(differs in {changed}); use another output folder, or delete the run folder "
                             "to train it again")


def _with_sibling_bootstrap(cfg: TrainConfig, spec: RunSpec, out: Path) -> TrainConfig:
    """Methods that start from a bootstrap model reuse the sweep's run of that model (same budget and
    seed, finished) instead of training it again: the `supervised` run for one bootstrap round, the
    `pseudo_label` run of R - 1 rounds for R."""
    from aidemed.engine.run import bootstrap_rounds
    from aidemed.methods import get_method

    saved = out / "runs" / spec.key / "config.json"
    if saved.is_file():  # a started run keeps the bootstrap it started with, so it can be resumed
        return replace(cfg, method_args=json.loads(saved.read_text()).get("method_args", {}))
    if not getattr(get_method(spec.method), "needs_bootstrap", False) or "bootstrap_run" in cfg.method_args:
        return cfg
    rounds = bootstrap_rounds(cfg)
    sibling = out / "runs" / RunSpec("supervised" if rounds == 1 else "pseudo_label", spec.fraction, spec.seed).key
    if not (sibling / "results.json").is_file():
        return cfg
    if rounds > 1 and bootstrap_rounds(TrainConfig.load(sibling / "config.json")) != rounds - 1:
        return cfg
    return replace(cfg, method_args={**cfg.method_args, "bootstrap_run": str(sibling.resolve())})


def load_results(out: Path) -> list[dict]:
    results = []
    for path in sorted((Path(out) / "runs").glob("*/results.json")):
        result = json.loads(path.read_text())
        history = [json.loads(l) for l in (path.parent / "metrics.jsonl").read_text().splitlines() if l.strip()]
        # The median epoch is robust to other jobs slowing some epochs down on a shared machine.
        result["median_epoch_seconds"] = float(np.median([h["epoch_seconds"] for h in history])) if history else math.nan
        result["train_seconds"] = float(sum(h["epoch_seconds"] for h in history))
        results.append(result)
    return results


def aggregate(results: list[dict]) -> list[dict]:
    """One row per (method, fraction): mean and sd over seeds of the runs' test means."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for r in results:
        groups.setdefault((r["config"]["method"], r["config"]["labelled_fraction"]), []).append(r)
    rows = []
    for (method, fraction), runs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        dice, dice_sd = mean_sd([r["test"]["dice"] for r in runs])
        hd95, hd95_sd = mean_sd([r["test"]["hd95"] for r in runs])
        rows.append({
            "method": method, "fraction": fraction, "seeds": sorted(r["config"]["seed"] for r in runs),
            "n_runs": len(runs), "n_labelled": runs[0]["n_labelled"], "n_test": runs[0]["test"]["n_cases"],
            "dice_mean": dice, "dice_sd": dice_sd, "hd95_mean": hd95, "hd95_sd": hd95_sd,
            "val_dice_mean": mean_sd([r["best"]["score"] for r in runs])[0],
            "seconds_per_run": mean_sd([r["train_seconds"] for r in runs])[0],
            "seconds_per_epoch": mean_sd([r["seconds_per_epoch"] for r in runs])[0],
            "median_epoch_seconds": mean_sd([r.get("median_epoch_seconds", math.nan) for r in runs])[0],
        })
    return rows


def per_image_dice(out: Path, method: str, fraction: float) -> dict[int, dict[str, float]]:
    """Test Dice per seed and image (foreground classes averaged) of the finished runs."""
    by_seed: dict[int, dict[str, float]] = {}
    for run in sorted((Path(out) / "runs").glob(f"{method}-f{fraction:g}-s*")):
        if not (run / "results.json").is_file():
            continue
        seed = int(run.name.rsplit("-s", 1)[1])
        per_case: dict[str, list[float]] = {}
        with open(run / "test_cases.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                per_case.setdefault(row["case"], []).append(float(row["dice"]))
        by_seed[seed] = {case: float(np.mean(dice)) for case, dice in per_case.items()}
    return by_seed


def paired_test(ours: dict[int, dict[str, float]], theirs: dict[int, dict[str, float]]) -> dict | None:
    """Wilcoxon signed-rank test over the images both scored, on the seeds both ran (each image's Dice
    difference averaged over those seeds); None when there is nothing to test."""
    from scipy.stats import wilcoxon

    seeds = sorted(set(ours) & set(theirs))
    if not seeds:
        return None
    cases = sorted(set.intersection(*(set(ours[s]) & set(theirs[s]) for s in seeds)))
    diff = np.array([np.mean([ours[s][c] - theirs[s][c] for s in seeds]) for c in cases])
    if len(cases) < 2 or not np.any(diff):
        return None
    statistic, p_value = wilcoxon(diff)
    return {"seeds": seeds, "n_images": len(cases), "mean_difference": float(diff.mean()),
            "median_difference": float(np.median(diff)), "statistic": float(statistic), "p_value": float(p_value)}


def paired_tests(out: Path, reference: str = "aide") -> list[dict]:
    """`paired_test` of `reference` against every other method of the sweep, per fraction."""
    results = load_results(out)
    fractions = sorted({r["config"]["labelled_fraction"] for r in results if r["config"]["method"] == reference})
    tests = []
    for fraction in fractions:
        ours = per_image_dice(out, reference, fraction)
        others = sorted({r["config"]["method"] for r in results
                         if r["config"]["labelled_fraction"] == fraction and r["config"]["method"] != reference})
        for other in others:
            test = paired_test(ours, per_image_dice(out, other, fraction))
            if test:
                tests.append({"fraction": fraction, "reference": reference, "other": other, **test})
    return tests


def markdown_table(rows: list[dict]) -> str:
    lines = ["| method | labelled fraction | labelled cases | seeds | test Dice (mean ± sd over seeds) | "
             "test HD95 px (mean ± sd) | s / run | s / epoch (mean) | s / epoch (median) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['fraction']:g} | {r['n_labelled']} | {len(r['seeds'])} | "
                     f"{r['dice_mean']:.4f} ± {r['dice_sd']:.4f} | {r['hd95_mean']:.2f} ± {r['hd95_sd']:.2f} | "
                     f"{r['seconds_per_run']:.0f} | {r['seconds_per_epoch']:.1f} | {r['median_epoch_seconds']:.1f} |")
    return "\n".join(lines)


def write_tables(out: Path) -> dict:
    out = Path(out)
    results = load_results(out)
    rows = aggregate(results)
    per_run = [{"run": f"{r['config']['method']}-f{r['config']['labelled_fraction']:g}-s{r['config']['seed']}",
                "method": r["config"]["method"], "fraction": r["config"]["labelled_fraction"],
                "seed": r["config"]["seed"], "test_dice": r["test"]["dice"], "test_hd95": r["test"]["hd95"],
                "val_dice": r["best"]["score"], "best_epoch": r["best"]["epoch"],
                "selected": r["best"]["candidate"], "train_seconds": r["train_seconds"],
                "seconds_per_epoch": r["seconds_per_epoch"],
                "median_epoch_seconds": r["median_epoch_seconds"]} for r in results]
    summary = {"rows": rows, "headline": headline(rows), "runs": per_run, "paired_tests": paired_tests(out),
               "environment": results[0]["environment"] if results else None,
               "config": {k: v for k, v in results[0]["config"].items() if k not in ("method", "labelled_fraction", "seed")}
               if results else None,
               "commands": recorded_commands(out)}
    write_sweep_files(out, summary, per_run, _summary_markdown(out, summary))
    if rows:
        plot_dice(rows, "fraction", out / "dice_vs_fraction.png", "labelled fraction of training masks", log_x=True)
    return summary


def headline(rows: list[dict], method: str = "aide") -> list[dict]:
    """Per budget where `method` ran: its Dice as a share of supervised at 100%, its margin over
    supervised at the same budget and over the best of mean_teacher / cps, and its epoch cost (median
    s per epoch) as a multiple of supervised's: the figures the label-efficiency targets are set in."""
    by = {(r["method"], r["fraction"]): r for r in rows}
    full = by.get(("supervised", 1.0))
    lines = []
    for fraction in sorted({r["fraction"] for r in rows if r["method"] == method}):
        ours, sup = by[(method, fraction)], by.get(("supervised", fraction))
        peers = [by[(m, fraction)] for m in ("mean_teacher", "cps") if (m, fraction) in by]
        best_peer = max(peers, key=lambda r: r["dice_mean"]) if peers else None
        lines.append({
            "fraction": fraction, "method": method, "seeds": ours["seeds"],
            "ratio_to_supervised_full": ours["dice_mean"] / full["dice_mean"] if full else math.nan,
            "minus_supervised": ours["dice_mean"] - sup["dice_mean"] if sup else math.nan,
            "best_semi_baseline": best_peer["method"] if best_peer else None,
            "minus_best_semi_baseline": ours["dice_mean"] - best_peer["dice_mean"] if best_peer else math.nan,
            "epoch_cost_ratio": ours["median_epoch_seconds"] / sup["median_epoch_seconds"] if sup else math.nan,
        })
    return lines


def _num(value: float, spec: str) -> str:
    return "–" if value is None or math.isnan(value) else format(value, spec)


def _headline_markdown(lines: list[dict]) -> list[str]:
    if not lines:
        return []
    out = ["| fraction | method | seeds | Dice ÷ supervised 100% | − supervised same budget | "
           "− best of mean_teacher / cps | epoch time ÷ supervised (median) |", "|---|---|---|---|---|---|---|"]
    for h in lines:
        peer = "–" if h["best_semi_baseline"] is None else f"{h['minus_best_semi_baseline']:+.4f} ({h['best_semi_baseline']})"
        out.append(f"| {h['fraction']:g} | {h['method']} | {len(h['seeds'])} | {_num(h['ratio_to_supervised_full'], '.3f')} | "
                   f"{_num(h['minus_supervised'], '+.4f')} | {peer} | {_num(h['epoch_cost_ratio'], '.2f')} |")
    return out + [""]


def _summary_markdown(out: Path, summary: dict) -> str:
    env = summary["environment"] or {}
    cfg = summary["config"] or {}
    total = sum(r["train_seconds"] for r in summary["runs"])
    lines = [f"# {out.name}", "", markdown_table(summary["rows"]), "",
             *_headline_markdown(summary.get("headline", [])),
             *_paired_markdown(summary["paired_tests"]),
             f"Runs: {len(summary['runs'])}, total training wall time {total / 60:.1f} min.",
             f"Machine: {env.get('processor')}, {env.get('threads')} torch threads, torch {env.get('torch')}, "
             f"MONAI {env.get('monai')}, Python {env.get('python')}, CUDA: {env.get('cuda')}.",
             f"Config: net {cfg.get('net')}, profile {cfg.get('profile')}, epochs {cfg.get('epochs')}, "
             f"batch {cfg.get('batch_size')}, {cfg.get('optimizer')} lr {cfg.get('lr')}, {cfg.get('scheduler')} schedule, "
             f"{_precision(env, cfg)}{_augment_note(cfg)}{_weight_ema_note(cfg)}{_init_weights_note(cfg)}.",
             "Dice and HD95 are computed per test case in the case's own geometry (prediction resized back), "
             "mean over cases, then mean ± sd over seeds. HD95 leaves out cases with an empty prediction.",
             _wall_time_note(env),
             "", "Commands:", "", *[f"    {c}" for c in summary["commands"]], ""]
    return "\n".join(lines)


def _augment_note(cfg: dict) -> str:
    """The training augmentation's settings that differ from the defaults (`--augment`), if any."""
    from dataclasses import fields

    from aidemed.engine.config import AugmentConfig, augment_with

    default, used = AugmentConfig(), augment_with(AugmentConfig(), cfg.get("augment") or {})
    changed = [f"{f.name}={list(v) if isinstance(v, tuple) else v}" for f in fields(AugmentConfig)
               if (v := getattr(used, f.name)) != getattr(default, f.name)]
    return "; augmentation " + ", ".join(changed) if changed else ""


def _weight_ema_note(cfg: dict) -> str:
    decay = cfg.get("weight_ema") or 0.0
    return f"; weight EMA {decay:g} (its networks also candidates)" if decay else ""


def _init_weights_note(cfg: dict) -> str:
    path = cfg.get("init_weights") or ""
    return f"; networks started from the pretrained weights in {path} (all layers but the output layer)" if path else ""


def _precision(env: dict, cfg: dict) -> str:
    if env.get("cuda"):
        precision = "bf16 autocast on CUDA" if cfg.get("amp", True) else "fp32 on CUDA"
    else:
        precision = "bf16 autocast on the CPU" if cfg.get("cpu_bf16") else "fp32 on the CPU"
    return (precision + (", channels-last" if cfg.get("channels_last") else "")
            + (", torch.compile" if cfg.get("compile") else ""))


def _wall_time_note(env: dict) -> str:
    if env.get("cuda"):
        return ("Wall times are from a GPU that may have trained several runs at once (e.g. "
                "benchmarks/device_sweep.sh): compare them within this folder, not with CPU sweeps.")
    return ("Wall times are from a shared 2-core machine where other jobs ran at times; the median epoch "
            "time is the robust figure (mean epoch and run times include the slowed epochs).")


def _paired_markdown(tests: list[dict]) -> list[str]:
    if not tests:
        return []
    lines = ["Paired Wilcoxon signed-rank tests over test images (per-image Dice difference averaged over the "
             "seeds both methods ran):", "", "| fraction | comparison | seeds | images | mean Dice difference | median | p |",
             "|---|---|---|---|---|---|---|"]
    for t in tests:
        lines.append(f"| {t['fraction']:g} | {t['reference']} - {t['other']} | {','.join(map(str, t['seeds']))} | "
                     f"{t['n_images']} | "
                     f"{t['mean_difference']:+.4f} | {t['median_difference']:+.4f} | {t['p_value']:.3g} |")
    return lines + [""]


def plot_dice(rows: list[dict], x: str, path: Path, xlabel: str, log_x: bool = False) -> None:
    """Test Dice (mean ± sd over seeds) against the rows' `x` value, one line per method."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plotting is optional (`pip install aidemed[plot]`)
        return
    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=120)
    for method in sorted({r["method"] for r in rows}):
        points = sorted((r[x], r["dice_mean"], r["dice_sd"]) for r in rows if r["method"] == method)
        xs, y, e = zip(*points)
        ax.errorbar(xs, y, yerr=e, marker="o", capsize=3, label=method)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test Dice")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
