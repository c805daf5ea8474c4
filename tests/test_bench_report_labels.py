"""The report-label sweep: every registered method builds a valid config; the sweep caches runs and
reader datasets, and its tables pair each method with CE by seed."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest

from aidemed.bench import report_labels as rl
from aidemed.engine.classification import ClsConfig
from aidemed.losses.rate_policies import get_rate_policy


@pytest.mark.parametrize("name", rl.list_methods())
def test_every_method_is_a_valid_config(name):
    cfg = rl.method_config(ClsConfig(labels_from_reports=True), name)  # runs check_config
    get_rate_policy(cfg.rate_policy, **cfg.policy_args)
    assert ClsConfig.from_dict(cfg.to_dict()) == cfg


def test_check_config_refuses_adaptive_without_warmup():
    from aidemed.engine.classification import check_config

    with pytest.raises(ValueError, match="warm-up"):
        check_config(ClsConfig(rate_policy="adaptive", warmup_epochs=0))
    with pytest.raises(ValueError, match="unknown loss"):
        check_config(ClsConfig(loss="focal"))


def test_unknown_method_is_named():
    with pytest.raises(KeyError, match="no-such.*known: ce"):
        rl.method_config(ClsConfig(), "no-such")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from aidemed.data.phantom import generate_phantom_dataset

    root = tmp_path_factory.mktemp("rl_phantom")
    generate_phantom_dataset(root, n_cases=40, size=40, seed=2)
    return root


def test_sweep_caches_runs_and_pairs_methods_with_ce(source, tmp_path):
    base = ClsConfig(net="resnet-tiny", profile="32", epochs=1, batch_size=8, iterations_per_epoch=1, device="cpu",
                     progress=False, n_boot=5, labels_from_reports=True, vocab="breast_malignancy")
    out = tmp_path / "sweep"
    reader = {"profile": "32"}
    logs = []
    rl.run_sweep(base, source, out, ["ce", "certainty"], [0.2], [0, 1], reader, log=logs.append)
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "ce-e0.2-s0", "ce-e0.2-s1", "certainty-e0.2-s0", "certainty-e0.2-s1"]
    assert sorted(p.name for p in (out / "datasets").iterdir()) == ["e0.2-s0", "e0.2-s1"]
    # the two seeds' readers write different reports
    reports = [[json.loads(l).get("report") for l in (out / "datasets" / d / "manifest.jsonl").read_text().splitlines()]
               for d in ("e0.2-s0", "e0.2-s1")]
    assert reports[0] != reports[1]

    summary = json.loads((out / "summary.json").read_text())
    rows = {(r["error"], r["method"]): r for r in summary["rows"]}
    runs = {(r["method"], r["seed"]): r for r in summary["runs"]}
    ce, ours = rows[(0.2, "ce")], rows[(0.2, "certainty")]
    assert ce["delta_auroc_vs_ce_mean"] == 0.0 and ce["delta_seeds"] == 2
    expected = [runs[("certainty", s)]["auroc"] - runs[("ce", s)]["auroc"] for s in (0, 1)]
    assert ours["delta_auroc_vs_ce_mean"] == pytest.approx(sum(expected) / 2)
    assert ours["auroc_mean"] == pytest.approx((runs[("certainty", 0)]["auroc"] + runs[("certainty", 1)]["auroc"]) / 2)
    with open(out / "runs.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 4
    markdown = (out / "summary.md").read_text()
    assert "| 0.2 | certainty | 2 |" in markdown and "Commands:" in markdown
    assert [t["method"] for t in summary["paired_bootstrap_vs_ce"]] == ["certainty"]

    # a second invocation trains nothing
    logs.clear()
    rl.run_sweep(base, source, out, ["ce", "certainty"], [0.2], [0, 1], reader, log=logs.append)
    assert all(line.endswith("cached") for line in logs), logs


def test_changed_reader_config_rewrites_the_dataset(source, tmp_path):
    out = tmp_path / "sweep"
    first = rl.reader_dataset(source, out, 0.2, 0, {"profile": "32"})
    before = (first / "reader.json").read_text()
    assert rl.reader_dataset(source, out, 0.2, 0, {"profile": "32"}) == first
    assert (first / "reader.json").read_text() == before
    logs = []
    rl.reader_dataset(source, out, 0.2, 0, {"profile": "32", "max_error": 0.6}, log=logs.append)
    assert json.loads((first / "reader.json").read_text())["config"]["max_error"] == 0.6
    assert logs and "changed" in logs[0]


def test_cli_report_labels(source, tmp_path, capsys):
    from aidemed.cli.main import main

    cfg = tmp_path / "reader.json"
    cfg.write_text(json.dumps({"profile": "32"}))
    code = main(["bench", "report-labels", "--data", str(source), "--methods", "ce", "--errors", "0.4",
                 "--seeds", "0", "--reader-config", str(cfg), "--profile", "32", "--epochs", "1",
                 "--batch-size", "8", "--n-boot", "5", "--device", "cpu", "-o", str(tmp_path / "cli")])
    assert code == 0
    assert "| 0.4 | ce | 1 |" in capsys.readouterr().out
    assert len((tmp_path / "cli" / "commands.txt").read_text().splitlines()) == 1  # one line per invocation


def test_base_config_fields_survive_method_overrides():
    base = replace(ClsConfig(), epochs=7, net="densenet-tiny")
    cfg = rl.method_config(base, "nls-0.2")
    assert (cfg.epochs, cfg.net, cfg.warmup_epochs, cfg.policy_args) == (7, "densenet-tiny", 10, {"rate": -0.2, "uncertain": "grade"})


def test_a_failing_run_does_not_stop_the_sweep(source, tmp_path, monkeypatch):
    import aidemed.engine.classification as engine

    base = ClsConfig(net="resnet-tiny", profile="32", epochs=1, batch_size=8, iterations_per_epoch=1, device="cpu",
                     progress=False, n_boot=5, labels_from_reports=True)
    out = tmp_path / "sweep"
    stale = out / "runs" / "ce-e0.2-s0"
    stale.mkdir(parents=True)
    (stale / "config.json").write_text('{"epochs": 99}')  # a start that never finished an epoch
    real = engine.train_classifier

    def flaky(cfg, run_dir, resume=False):
        if run_dir.name.startswith("gce"):
            raise ValueError(f"{run_dir}: corrupt")
        return real(cfg, run_dir, resume=resume)

    monkeypatch.setattr(engine, "train_classifier", flaky)
    with pytest.raises(rl.SweepFailed, match=r"(?s)1 run.*gce-e0.2-s0: .*corrupt"):
        rl.run_sweep(base, source, out, ["gce", "ce"], [0.2], [0], {"profile": "32"}, log=lambda _: None)
    assert (stale / "results.json").is_file()  # the stale start was replaced, the run after the failure ran
    assert [r["method"] for r in json.loads((out / "summary.json").read_text())["runs"]] == ["ce"]


def test_a_changed_method_definition_retrains_and_keeps_the_old_run(source, tmp_path, monkeypatch):
    base = ClsConfig(net="resnet-tiny", profile="32", epochs=1, batch_size=8, iterations_per_epoch=1, device="cpu",
                     progress=False, n_boot=5, labels_from_reports=True)
    out = tmp_path / "sweep"
    args = (source, out, ["ce"], [0.2], [0], {"profile": "32"})
    rl.run_sweep(base, *args, log=lambda _: None)
    monkeypatch.setitem(rl.METHODS, "ce", {**rl.CE, "policy_args": {"rate": 0.0, "uncertain": "ones"}})
    logs = []
    rl.run_sweep(base, *args, log=logs.append)
    assert not any(line.endswith("cached") for line in logs)
    (stale,) = (out / "stale").iterdir()
    assert json.loads((stale / "results.json").read_text())["config"]["policy_args"]["uncertain"] == "grade"
    now = json.loads((out / "runs" / "ce-e0.2-s0" / "results.json").read_text())
    assert now["config"]["policy_args"]["uncertain"] == "ones"


def test_vectorised_auroc_matches_pair_counting():
    import numpy as np

    def by_pairs(y, p):  # the definition: P(score of a positive > score of a negative), ties count half
        pos, neg = p[y == 1], p[y == 0]
        return np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :]))

    rng = np.random.default_rng(0)
    y = (rng.random((5, 40)) < 0.4).astype(int)
    p = np.round(rng.random((5, 40)), 1)  # ties
    assert rl._auroc_rows(y, p) == pytest.approx([by_pairs(a, b) for a, b in zip(y, p)])
