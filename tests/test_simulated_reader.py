"""The simulated reader: hedge levels the labeler recovers, realised error rates, errors in hedges."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aidemed.bench.simulated_reader import (
    LEVEL_GRADE,
    LEVELS,
    TEMPLATES,
    ReaderConfig,
    label_information,
    level_stats,
    simulate_reports,
)
from aidemed.engine.classification import ClsConfig, report_labels


def _labelled_levels(sentences):
    """The labeler's grade (malignancy scale) and class for each sentence."""
    labels = report_labels(sentences, ClsConfig(labels_from_reports=True, vocab="breast_malignancy"),
                           ["benign", "malignant"])
    return labels.grades, labels.y


def test_every_template_is_graded_as_intended():
    sentences, wanted = [], []
    for level, templates in TEMPLATES.items():
        for t in templates:
            sentences.append(t.format(Loc="Right breast at 10 o'clock", size="1.4"))
            wanted.append(LEVEL_GRADE[level])
    grades, _ = _labelled_levels(sentences)
    agree = np.mean([g == w for g, w in zip(grades, wanted)])
    assert agree == 1.0, [(s, g, w) for s, g, w in zip(sentences, grades, wanted) if g != w]


def _population(n: int, malignant: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random true classes (that share malignant) and difficulties in [0, 1]."""
    rng = np.random.default_rng(seed)
    return rng.random(n) < malignant, rng.random(n)


@pytest.mark.parametrize("target", [0.2, 0.4])
def test_realised_error_is_on_target_and_concentrated_in_hedges(target):
    n = 1500
    truth, difficulty = _population(n, malignant=0.4, seed=5)
    sim = simulate_reports(truth, difficulty, ReaderConfig(error_rate=target), seed=3)
    assert sim["error"].mean() == pytest.approx(target, abs=1.5 / n)
    # the stated class is the direction of the level
    says = np.isin(sim["level"], LEVELS[:4])
    assert np.array_equal(says, sim["stated_malignant"])
    assert np.array_equal(sim["error"], says != truth)
    firm = np.isin(sim["level"], ("firm_positive", "firm_negative"))
    assert sim["error"][firm].mean() < target < sim["error"][~firm].mean()
    assert sim["error"][sim["level"] == "cannot_exclude"].mean() > sim["error"][sim["level"] == "likely"].mean()
    # harder images: more hedging and more errors
    hard = difficulty > 0.5
    assert firm[hard].mean() < firm[~hard].mean() and sim["error"][hard].mean() > sim["error"][~hard].mean()
    # the labeler recovers the intended levels from the sentences
    grades, y = _labelled_levels(sim["sentence"])
    assert np.mean(grades == np.array([LEVEL_GRADE[lv] for lv in sim["level"]])) >= 0.9
    assert np.mean(y == sim["stated_malignant"].astype(int)) >= 0.9


@pytest.mark.parametrize("target", [0.1, 0.2])
def test_bayes_reader_is_calibrated_and_on_target(target):
    n = 4000
    truth, difficulty = _population(n, malignant=0.33, seed=7)
    sim = simulate_reports(truth, difficulty, ReaderConfig(error_rate=target, error_model="bayes"), seed=2)
    assert sim["error"].mean() == pytest.approx(target, abs=3 / n)
    assert np.array_equal(sim["error"], np.isin(sim["level"], LEVELS[:4]) != truth)
    stats = level_stats(sim["level"], sim["error"])
    info = label_information(stats)
    assert info["error_rate"] <= info["informative_bound"]
    # every well-populated level is right more often than wrong, and hedges err more than firm statements
    for level, s in stats.items():
        if s["n"] >= 200:
            assert s["error_rate"] < 0.5, (level, s)
    firm = np.isin(sim["level"], ("firm_positive", "firm_negative"))
    assert sim["error"][firm].mean() < target < sim["error"][~firm].mean()
    # the per-case error probabilities are the model's: their mean matches the realised error
    assert sim["error_probability"].mean() == pytest.approx(sim["error"].mean(), abs=0.02)
    hard = difficulty > 0.5
    assert sim["error"][hard].mean() > sim["error"][~hard].mean()


def test_bayes_reader_refuses_an_error_above_the_bound():
    truth = np.arange(100) < 30
    with pytest.raises(ValueError, match=r"out of reach.*min\(pi, 1 - pi\) = 0.300"):
        simulate_reports(truth, np.full(100, 0.5), ReaderConfig(error_rate=0.4, error_model="bayes"))
    with pytest.raises(ValueError, match="error_model"):
        simulate_reports(truth, np.full(100, 0.5), ReaderConfig(error_model="oracle"))


def test_label_information_by_hand():
    # 10 cases: 4 malignant. "possible" says malignant and is wrong on 3 of 4 (misleading).
    levels = {lv: {"n": 0, "error_rate": None} for lv in LEVELS}
    levels["firm_positive"] = {"n": 3, "error_rate": 0.0}
    levels["possible"] = {"n": 4, "error_rate": 0.75}
    levels["firm_negative"] = {"n": 3, "error_rate": 0.0}
    info = label_information(levels)
    assert info["n"] == 10
    assert info["prevalence"] == pytest.approx(0.4)  # 3 firm + 1 right "possible"
    assert info["error_rate"] == pytest.approx(0.3)
    assert info["informative_bound"] == pytest.approx(0.4)
    assert info["misleading_levels"] == ["possible"]


@pytest.mark.parametrize("seed", range(20))
def test_a_reader_with_no_misleading_level_errs_at_most_the_minority_share(seed):
    # the bound behind the 40% benchmark: every level right at least half the time => error <= min(pi, 1 - pi)
    rng = np.random.default_rng(seed)
    n = 400
    truth = rng.random(n) < rng.uniform(0.1, 0.9)
    levels = rng.choice(np.array(LEVELS), n)
    says = np.isin(levels, [lv for lv in LEVELS if lv not in ("unlikely", "firm_negative")])
    errors = says != truth
    stats = level_stats(levels, errors)
    info = label_information(stats)
    assert info["prevalence"] == pytest.approx(truth.mean())
    assert info["error_rate"] == pytest.approx(errors.mean())
    if not info["misleading_levels"]:
        assert info["error_rate"] <= info["informative_bound"] + 1e-12
    else:
        worst = max(info["misleading_levels"], key=lambda lv: stats[lv]["error_rate"])
        assert stats[worst]["error_rate"] > 0.5
    # flipping the misleading levels' statements leaves a reader under the bound
    flipped = np.where(np.isin(levels, info["misleading_levels"]), ~errors, errors)
    assert flipped.mean() <= info["informative_bound"] + 1e-12


def test_same_seed_same_reports_other_seed_differs():
    truth = np.arange(200) % 3 == 0
    d = np.linspace(0, 1, 200)
    a, b = simulate_reports(truth, d, ReaderConfig(), seed=1), simulate_reports(truth, d, ReaderConfig(), seed=1)
    assert a["sentence"] == b["sentence"]
    assert simulate_reports(truth, d, ReaderConfig(), seed=2)["sentence"] != a["sentence"]
    with pytest.raises(ValueError, match="out of reach"):
        simulate_reports(truth, d, ReaderConfig(error_rate=0.95), seed=1)


def test_reader_dataset_keeps_true_labels_and_split(tmp_path, capsys):
    from aidemed.cli.main import main
    from aidemed.data.manifest import load_dataset
    from aidemed.data.phantom import generate_phantom_dataset

    src = tmp_path / "src"
    generate_phantom_dataset(src, n_cases=40, size=40, seed=2)
    out = tmp_path / "reader"
    assert main(["bench", "make-reader-dataset", "--data", str(src), "--error", "0.2", "--seed", "0",
                 "-o", str(out)]) == 0
    assert "reports" in capsys.readouterr().out
    source, ds = load_dataset(src), load_dataset(out)
    splits = json.loads((out / "splits.json").read_text())
    assert splits == json.loads((src / "splits.json").read_text())
    for case in ds.cases:
        assert case.label == source.case(case.id).label  # true labels everywhere
        has_report = case.id in splits["train"] or case.id in splits["val"]
        assert (case.report is not None) == has_report
        if has_report:
            r = case.extra["reader"]
            assert r["error"] == (r["stated"] != case.label) and 0 <= r["difficulty"] <= 1
    reader = json.loads((out / "reader.json").read_text())
    n_train = reader["splits"]["train"]["n"]
    assert reader["splits"]["train"]["error_rate"] == pytest.approx(0.2, abs=1 / n_train + 1e-9)
    assert main(["data", "check", str(out)]) == 0
