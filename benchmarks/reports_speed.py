"""Throughput of `aidemed reports label` against medspaCy ConText and negspacy, same reports.

    python benchmarks/reports_speed.py [--reports ../shared/data/iu_xray/reports_dev.csv]

Writes benchmarks/results/reports_speed.json and .md. aidemed is timed end to end (CSV in, CSV
out) on one core and with --jobs 2, over the dev reports repeated to at least --min-reports rows.
The baselines (bench-only dependencies: medspacy, negspacy, spacy; no model download, spaCy's
rule-based sentencizer on spacy.blank("en")) see the same reports (findings + impression) with
target rules built from aidemed's own CheXpert vocabulary, over --baseline-reports rows.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import platform
import re
import shlex
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from aidemed.reports import ReportLabeler, load_vocabulary
from aidemed.reports.io import label_csv

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REPORTS = ROOT.parent / "shared" / "data" / "iu_xray" / "reports_dev.csv"
TEXT_COLUMNS = ("findings", "impression")


def read_reports(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_repeated(rows: list[dict], n_min: int, path: Path) -> int:
    repeats = math.ceil(n_min / len(rows))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["uid", *TEXT_COLUMNS])
        for k in range(repeats):
            for r in rows:
                writer.writerow([f"{k}-{r['uid']}", *(r[c] for c in TEXT_COLUMNS)])
    return repeats * len(rows)


def time_aidemed_cli(path: Path, n: int, jobs: int) -> dict:
    sink = io.StringIO()
    t0 = time.perf_counter()
    stats = label_csv(path, sink, TEXT_COLUMNS, id_column="uid", jobs=jobs)
    wall = time.perf_counter() - t0
    assert stats.rows == n
    return {"reports": n, "jobs": jobs, "wall_s": round(wall, 3), "reports_per_s": round(n / wall, 1)}


def time_aidemed_api(texts: list[dict], n: int) -> dict:
    labeler = ReportLabeler("chexpert", evidence=False)
    t0 = time.perf_counter()
    done = 0
    while done < n:
        for t in texts:
            labeler.label(t)
        done += len(texts)
    wall = time.perf_counter() - t0
    return {"reports": done, "wall_s": round(wall, 3), "reports_per_s": round(done / wall, 1)}


def spacy_patterns(vocab) -> list[tuple[str, list[dict]]]:
    """aidemed's plain mention phrases as spaCy token patterns (stems become regexes)."""
    out = []
    for obs in vocab.observations:
        for phrase in obs.mentions + obs.hedged + obs.anatomy:
            if phrase.startswith("re:"):
                continue
            tokens = phrase.replace("~", " ").split()
            pattern = []
            for tok in tokens:
                if tok.endswith("*"):
                    pattern.append({"LOWER": {"REGEX": "^" + re.escape(tok[:-1])}})
                else:
                    pattern.append({"LOWER": tok})
            out.append((obs.name, pattern))
    return out


def run_medspacy(texts: list[str], patterns) -> tuple[dict, list[dict]]:
    import spacy
    from medspacy.ner import TargetRule

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    matcher = nlp.add_pipe("medspacy_target_matcher")
    matcher.add([TargetRule(f"{name}:{i}", name, pattern=p) for i, (name, p) in enumerate(patterns)])
    nlp.add_pipe("medspacy_context")
    t0 = time.perf_counter()
    per_report = []
    for doc in nlp.pipe(texts, batch_size=256):
        found: dict = {}
        for ent in doc.ents:
            state = "negated" if ent._.is_negated else ("uncertain" if ent._.is_uncertain else "positive")
            found.setdefault(ent.label_, []).append(state)
        per_report.append(found)
    wall = time.perf_counter() - t0
    return {"reports": len(texts), "wall_s": round(wall, 3), "reports_per_s": round(len(texts) / wall, 1)}, per_report


def run_negspacy(texts: list[str], patterns) -> tuple[dict, list[dict]]:
    import spacy
    from negspacy.negation import Negex  # noqa: F401  (registers the "negex" factory)

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": name, "pattern": p} for name, p in patterns])
    nlp.add_pipe("negex", config={"ent_types": sorted({name for name, _ in patterns})})
    t0 = time.perf_counter()
    per_report = []
    for doc in nlp.pipe(texts, batch_size=256):
        found: dict = {}
        for ent in doc.ents:
            found.setdefault(ent.label_, []).append("negated" if ent._.negex else "positive")
        per_report.append(found)
    wall = time.perf_counter() - t0
    return {"reports": len(texts), "wall_s": round(wall, 3), "reports_per_s": round(len(texts) / wall, 1)}, per_report


def negation_agreement(ours: list, theirs: list[dict], names) -> dict:
    """Per (report, observation) mentioned by both: is the observation negated (label 0) or not."""
    both = agree = a_neg = b_neg = 0
    for result, found in zip(ours, theirs):
        for name in names:
            ours_label = result.labels.get(name)
            if ours_label is None or name not in found:
                continue
            both += 1
            ours_neg = ours_label == 0
            # report level in the same precedence: negated only if every mention is negated
            theirs_neg = all(s == "negated" for s in found[name])
            agree += ours_neg == theirs_neg
            a_neg += ours_neg
            b_neg += theirs_neg
    if not both:
        return {"pairs": 0}
    po = agree / both
    pa, pb = a_neg / both, b_neg / both
    pe = pa * pb + (1 - pa) * (1 - pb)
    kappa = (po - pe) / (1 - pe) if pe < 1 else 1.0
    return {"pairs": both, "agreement": round(po, 4), "cohen_kappa": round(kappa, 4),
            "aidemed_negated": a_neg, "baseline_negated": b_neg}


def uncertainty_counts(per_report: list[dict]) -> int:
    return sum(s == "uncertain" for found in per_report for states in found.values() for s in states)


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("aidemed", "spacy", "medspacy", "negspacy"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "loadavg_at_start": open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None,
            "platform": platform.platform(), "versions": versions}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=DEFAULT_REPORTS)
    parser.add_argument("--min-reports", type=int, default=100_000)
    parser.add_argument("--baseline-reports", type=int, default=18_960, help="reports given to each baseline")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--skip-baselines", action="store_true")
    args = parser.parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    t_start = time.perf_counter()

    rows = read_reports(args.reports)
    texts = [{c: r[c] for c in TEXT_COLUMNS} for r in rows]
    results: dict = {"command": command, "machine": machine(), "input": str(args.reports),
                     "dev_reports": len(rows)}
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "repeated.csv"
        n = write_repeated(rows, args.min_reports, big)
        results["aidemed_cli_1_core"] = time_aidemed_cli(big, n, jobs=1)
        results[f"aidemed_cli_jobs_{args.jobs}"] = time_aidemed_cli(big, n, jobs=args.jobs)
    results["aidemed_api_1_core"] = time_aidemed_api(texts, n)
    print(json.dumps({k: v for k, v in results.items() if k.startswith("aidemed")}, indent=1), file=sys.stderr)

    if not args.skip_baselines:
        vocab = load_vocabulary("chexpert")
        patterns = spacy_patterns(vocab)
        k = math.ceil(args.baseline_reports / len(rows))
        base_dicts = (texts * k)[: args.baseline_reports]
        base_texts = ["\n\n".join(t[c] for c in TEXT_COLUMNS if t[c]) for t in base_dicts]
        labeler = ReportLabeler("chexpert", evidence=False)
        ours = [labeler.label(t) for t in texts]  # one pass over the distinct reports for agreement
        one_core = results["aidemed_cli_1_core"]["reports_per_s"]
        for name, runner in (("medspacy_context", run_medspacy), ("negspacy", run_negspacy)):
            try:
                timing, per_report = runner(base_texts, patterns)
            except Exception as exc:  # a baseline that does not install or run is recorded, not faked
                results[name] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            timing["aidemed_1_core_speedup"] = round(one_core / timing["reports_per_s"], 2)
            timing["negation_agreement_with_aidemed"] = negation_agreement(ours, per_report[: len(rows)], vocab.names)
            timing["uncertain_mentions_found"] = uncertainty_counts(per_report[: len(rows)])
            results[name] = timing
        results["aidemed_uncertain_mentions_found"] = sum(
            m.label == -1 for r in ours for m in r.mentions if m.observation
        )
    results["benchmark_wall_s"] = round(time.perf_counter() - t_start, 1)
    if os.path.exists("/proc/loadavg"):
        results["machine"]["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]

    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "reports_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out_dir / "reports_speed.md").write_text(markdown(results))
    print(markdown(results))
    return 0


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# Report labeler throughput",
        "",
        f"Command: `{r['command']}`",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), Python {m['python']}, {m['platform']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v),
        "",
        f"Load average (1, 5, 15 min) at start {m.get('loadavg_at_start')}, at end {m.get('loadavg_at_end')}: "
        "other jobs shared this machine, so these are conservative figures.",
        "",
        f"Input: {r['dev_reports']} IU X-ray reports (findings + impression), repeated for aidemed. "
        f"Benchmark wall time {r['benchmark_wall_s']} s.",
        "",
        "| labeler | reports | wall (s) | reports/s | aidemed 1-core speedup |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in (("aidemed_cli_1_core", "aidemed CLI, 1 core (CSV in/out)"),
                       *((k, f"aidemed CLI, --jobs {k.rsplit('_', 1)[1]}") for k in r if k.startswith("aidemed_cli_jobs")),
                       ("aidemed_api_1_core", "aidemed Python API, 1 core"),
                       ("medspacy_context", "medspaCy ConText + sentencizer"),
                       ("negspacy", "negspacy + sentencizer")):
        if key not in r:
            continue
        v = r[key]
        if "error" in v:
            lines.append(f"| {label} | - | - | failed: {v['error']} | - |")
            continue
        lines.append(f"| {label} | {v['reports']} | {v['wall_s']} | {v['reports_per_s']} | "
                     f"{v.get('aidemed_1_core_speedup', '')} |")
    for key in ("medspacy_context", "negspacy"):
        v = r.get(key, {})
        agr = v.get("negation_agreement_with_aidemed")
        if agr:
            lines += ["", f"Negation agreement aidemed vs {key} (report x observation pairs mentioned by both, "
                      f"negated or not): {agr}; uncertain mentions found by {key}: {v['uncertain_mentions_found']} "
                      f"(aidemed: {r.get('aidemed_uncertain_mentions_found')})."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
