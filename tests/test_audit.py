"""`aidemed audit`: masks ranked by the model's disagreement, AIDE's corrections listed, a gallery, and
precision@k at finding simulated corruptions (with cleanlab's scores when it is installed)."""

import csv
import json
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from aidemed.audit import (RANK_BY, cleanlab_scores, confident_disagreement, edge_alignment, mask_scores,
                           order_by, precision_at_k, rank_sum, recall_by_corruption)
from aidemed.cli.main import main
from aidemed.engine.checkpoint import load_checkpoint
from aidemed.engine.run import train


def test_precision_at_k_counts_positives_in_the_top_k():
    ranked = ["a", "b", "c", "d", "e"]
    assert precision_at_k(ranked, {"a", "c"}) == 0.5  # k = 2: a hit, b a miss
    assert precision_at_k(ranked, {"a", "b"}) == 1.0
    assert precision_at_k(ranked, {"d", "e"}) == 0.0
    assert precision_at_k(ranked, {"a", "c"}, k=3) == pytest.approx(2 / 3)
    assert precision_at_k(ranked, {"zz"}) is None  # no positive among the ranked cases: k = 0
    assert precision_at_k(ranked, set()) is None


def test_recall_by_corruption_counts_each_kind_in_the_top_k():
    ranked = ["a", "b", "c", "d", "e"]
    kinds = {"a": "missed_lesion", "c": "elastic_jitter", "e": "elastic_jitter"}
    assert recall_by_corruption(ranked, kinds) == {  # k = 3 corrupted cases: a, b, c are the top 3
        "elastic_jitter": {"n": 2, "found": 1, "recall": 0.5},
        "missed_lesion": {"n": 1, "found": 1, "recall": 1.0}}
    assert recall_by_corruption(ranked, kinds, k=5)["elastic_jitter"]["recall"] == 1.0


def _hand_made():
    """Four cases where the model sees a square; case 2's given mask missed it, case 1's is shifted."""
    n, s = 4, 16
    probs = torch.zeros(n, 2, s, s)
    probs[:, 0] = 0.9
    probs[:, 0, 4:12, 4:12] = 0.1
    probs[:, 1] = 1 - probs[:, 0]
    given = torch.zeros(n, s, s, dtype=torch.long)
    given[:, 4:12, 4:12] = 1
    given[1] = 0
    given[1, 5:13, 5:13] = 1  # slightly off
    given[2] = 0  # obviously wrong: the lesion was missed
    return probs, given, torch.arange(n)


def test_the_obviously_wrong_mask_ranks_first():
    probs, given, index = _hand_made()
    disagreement, soft = mask_scores(probs, given, index, 4)
    assert disagreement[2] == pytest.approx(1.0) and disagreement[0] == pytest.approx(0.0)
    order = order_by(-disagreement, soft)
    assert order[0] == 2 and order[1] == 1
    assert soft[2] < soft[1] < soft[0]  # the mean probability of the given label agrees
    assert soft[0] == pytest.approx(0.9)


def test_confident_disagreement_weighs_each_differing_pixel_by_the_margin():
    probs, given, index = _hand_made()  # margin 0.8 everywhere
    confident = confident_disagreement(probs, given, index, 4)
    disagreement, _ = mask_scores(probs, given, index, 4)
    assert confident == pytest.approx(0.8 * disagreement)
    assert confident[3] == pytest.approx(0.0)


def test_confident_disagreement_discounts_the_pixels_the_model_doubts():
    probs, given, index = _hand_made()
    doubtful = probs.clone()
    doubtful[1, 1, 12, :] = 0.45  # the given mask's extra row: the model leans to background but doubts
    doubtful[1, 0, 12, :] = 0.55
    sure, unsure = (confident_disagreement(p, given, index, 4)[1] for p in (probs, doubtful))
    assert unsure < sure
    assert mask_scores(doubtful, given, index, 4)[0][1] == pytest.approx(mask_scores(probs, given, index, 4)[0][1])


def test_confident_disagreement_pools_slices_and_averages_classes():
    probs = torch.zeros(2, 3, 4, 4)
    probs[:, 0] = 1.0  # the model is sure it is all background
    given = torch.zeros(2, 4, 4, dtype=torch.long)
    given[0, 0, :2] = 1  # class 1 on slice 0 only, class 2 nowhere
    scores = confident_disagreement(probs, given, torch.tensor([0, 0]), 1)
    assert scores[0] == pytest.approx((1.0 + 0.0) / 2)


def test_cleanlab_agrees_on_the_hand_made_case():
    pytest.importorskip("cleanlab")
    probs, given, index = _hand_made()
    scores = cleanlab_scores(probs, given, index, 4)
    assert np.argmin(scores) == 2  # lowest label quality


def test_without_cleanlab_the_audit_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "cleanlab", None)
    monkeypatch.setitem(sys.modules, "cleanlab.segmentation.rank", None)
    probs, given, index = _hand_made()
    assert cleanlab_scores(probs, given, index, 4) is None


def _bright_square(n: int = 1, size: int = 32) -> torch.Tensor:
    """A bright square (rows and columns 10-21) on a dark background, slightly blurred, one channel."""
    from scipy import ndimage

    image = np.zeros((size, size), dtype=np.float32)
    image[10:22, 10:22] = 1.0
    image = ndimage.gaussian_filter(image, 0.7)
    return torch.from_numpy(image)[None, None].repeat(n, 1, 1, 1)


@pytest.mark.parametrize("margin, low, high", [(0, 0.9, 1.01), (3, 0.0, 0.3), (-3, 0.0, 0.3)])
def test_edge_alignment_is_high_on_the_edge_and_low_beside_it(margin, low, high):
    given = torch.zeros(1, 32, 32, dtype=torch.long)
    given[0, 10 - margin:22 + margin, 10 - margin:22 + margin] = 1  # exact, dilated or eroded by 3 pixels
    score = edge_alignment(_bright_square(), given, torch.tensor([0]), 1)[0]
    assert low <= score <= high


def test_edge_alignment_ranks_a_shifted_outline_below_the_true_one_and_skips_empty_masks():
    given = torch.zeros(3, 32, 32, dtype=torch.long)
    given[0, 10:22, 10:22] = 1
    given[1, 13:25, 10:22] = 1  # shifted by 3 rows
    scores = edge_alignment(_bright_square(3), given, torch.arange(3), 3)
    assert scores[0] > scores[1] + 0.2
    assert np.isnan(scores[2])  # no outline to judge


def test_edge_alignment_pools_the_slices_of_a_case_and_ignores_the_image_border():
    given = torch.zeros(2, 32, 32, dtype=torch.long)
    given[0, 10:22, 10:22] = 1
    given[1, 10:22, 10:22] = 2  # another class on the second slice: same outline
    pooled = edge_alignment(_bright_square(2), given, torch.tensor([0, 0]), 1)[0]
    single = edge_alignment(_bright_square(1), given[:1], torch.tensor([0]), 1)[0]
    assert pooled == pytest.approx(single)
    image = torch.zeros(1, 1, 32, 32)
    image[..., :, :16] = 1.0  # the left half is bright: its only edge is at column 16
    half = torch.zeros(1, 32, 32, dtype=torch.long)
    half[0, :, :16] = 1  # the mask fills the left half up to the image border
    assert edge_alignment(image, half, torch.tensor([0]), 1)[0] > 0.9


def test_rank_sum_adds_ranks_and_gives_nan_the_middle_rank():
    assert rank_sum(np.array([0.1, 0.5, 0.9]), np.array([30.0, 20.0, 10.0])).tolist() == [4.0, 4.0, 4.0]
    assert rank_sum(np.array([0.1, np.nan, 0.9])).tolist() == [1.0, 2.0, 3.0]


@pytest.fixture(scope="module")
def noisy_aide_run(phantom_dir, tmp_path_factory):
    from aidemed.engine.config import TrainConfig

    root = tmp_path_factory.mktemp("audit")
    noisy = root / "phantom-missed-50"
    assert main(["data", "corrupt", str(phantom_dir), "-o", str(noisy), "--model", "missed_lesion",
                 "--fraction", "0.5", "--seed", "0"]) == 0
    cfg = TrainConfig(data=str(noisy), net="unet-small", profile="32", epochs=2, batch_size=4,
                      iterations_per_epoch=2, progress=False, method="aide", setting="noisy",
                      method_args={"correction_start": 0, "correction_fraction": 0.25, "views": 2})
    train(cfg, root / "run")
    return noisy, root / "run"


def test_audit_ranks_masks_writes_gallery_and_precision(noisy_aide_run, tmp_path, capsys):
    noisy, run = noisy_aide_run
    out = tmp_path / "audit"
    assert main(["audit", str(run), "-o", str(out), "--top", "3", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "precision@" in printed and "found in the top k by corruption (aidemed_disagreement+edges)" in printed
    rows = list(csv.DictReader((out / "audit.csv").open()))
    splits = json.loads((noisy / "splits.json").read_text())
    assert len(rows) == len(splits["train"])  # every given training mask, none trusted
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    dis = [float(r["disagreement"]) for r in rows]
    assert all(0 <= d <= 1 for d in dis)
    by_case = sorted(rows, key=lambda r: r["case"])  # the audit's own order before ranking
    dis_c = np.array([float(r["disagreement"]) for r in by_case])
    edges_c = np.array([float(r["edge_alignment"]) for r in by_case])
    expected = [by_case[i]["case"] for i in order_by(-rank_sum(dis_c, -edges_c), -dis_c)]
    assert [r["case"] for r in rows] == expected  # default: disagreement and edge misfit, ranks summed
    records = {json.loads(l)["id"]: json.loads(l) for l in (noisy / "noise_records.jsonl").read_text().splitlines()}
    assert all((r["corrupted"] == "True") == records[r["case"]]["corrupted"] for r in rows)
    assert all(float(r["given_vs_clean_dice"]) == pytest.approx(1.0) for r in rows if r["corrupted"] == "False")

    # AIDE's corrections from last.pt are listed per case
    corrections = load_checkpoint(run / "checkpoints" / "last.pt")["method"]["extra"]["corrections"]
    corrected = {c for entry in corrections for c in entry["cases"]}
    assert {r["case"] for r in rows if r["corrected_by_aide"] == "True"} == corrected
    for r in rows:
        if r["case"] in corrected:
            assert "@" in r["corrections"]

    summary = json.loads((out / "audit.json").read_text())
    assert summary["n_corrupted"] == summary["k"] == sum(r["corrupted"] == "True" for r in rows)
    assert 0.0 <= summary["precision_at_k"]["aidemed_disagreement"] <= 1.0
    found = summary["recall_at_k_by_corruption"]["aidemed_disagreement"]
    assert sum(e["n"] for e in found.values()) == summary["n_corrupted"]
    lab = summary["precision_at_k"]["cleanlab"]
    assert lab == "cleanlab not installed" or 0.0 <= lab <= 1.0
    assert summary["rank_by"] == "disagreement+edges"
    for name in ("image_edges", "aidemed_disagreement+edges", "aidemed_confident+edges"):
        assert 0.0 <= summary["precision_at_k"][name] <= 1.0
    edges = {r["case"]: float(r["edge_alignment"]) for r in rows}
    by_edges = sorted(edges, key=lambda c: np.inf if np.isnan(edges[c]) else edges[c])
    assert precision_at_k(by_edges, {r["case"] for r in rows if r["corrupted"] == "True"}) == pytest.approx(
        summary["precision_at_k"]["image_edges"])

    # the gross corruptions (a missed lesion: given vs clean Dice 0), scored without the subtle ones
    gross = {r["case"] for r in rows if r["corrupted"] == "True" and float(r["given_vs_clean_dice"]) < 0.9}
    subtle = {r["case"] for r in rows if r["corrupted"] == "True"} - gross
    assert summary["n_gross"] == len(gross) > 0 and summary["gross_below"] == 0.9
    by_rank = [r["case"] for r in rows if r["case"] not in subtle]
    assert summary["precision_at_k_gross"]["aidemed_disagreement+edges"] == precision_at_k(by_rank, gross)
    pngs = sorted((out / "gallery").glob("*.png"))
    assert len(pngs) == 3 and pngs[0].name.startswith("001-")
    from PIL import Image

    width, height = Image.open(pngs[0]).size
    assert width > 3 * height  # image | given | model | clean side by side
    page = (out / "gallery.html").read_text()
    assert all(f"gallery/{p.name}" in page for p in pngs) and "precision@" in page
    assert "their ranks summed" in page and "edge alignment" in page


def test_audit_of_a_run_with_only_trusted_masks_needs_all_given(fast_config, tmp_path):
    run = tmp_path / "sup"
    train(replace(fast_config, labelled_fraction=0.25, epochs=1, iterations_per_epoch=1), run)
    with pytest.raises(ValueError, match="--all-given"):
        from aidemed.audit import audit_run

        audit_run(run, tmp_path / "a", device="cpu")
    assert main(["audit", str(run), "-o", str(tmp_path / "b"), "--all-given", "--top", "1", "--device", "cpu"]) == 0
    assert (tmp_path / "b" / "audit.csv").is_file()


def test_audit_folds_are_balanced_and_seeded():
    from aidemed.audit import audit_folds

    ids = np.array([f"c{i}" for i in range(11)])
    folds = audit_folds(ids, 3, seed=0)
    assert sorted(np.bincount(folds).tolist()) == [3, 4, 4]
    assert folds.tolist() == audit_folds(ids, 3, seed=0).tolist()
    assert folds.tolist() != audit_folds(ids, 3, seed=1).tolist()


def test_cross_fitted_audit_trains_one_model_per_fold_without_it(noisy_aide_run, tmp_path, capsys):
    noisy, run = noisy_aide_run
    out = tmp_path / "audit-cf"
    assert main(["audit", str(run), "-o", str(out), "--top", "2", "--device", "cpu", "--cross-fit", "2"]) == 0
    printed = capsys.readouterr().out
    assert "cross-fit fold 2/2" in printed and "cross-fitted, 2 folds" in printed
    summary = json.loads((out / "audit.json").read_text())
    assert summary["probabilities"] == "cross-fitted, 2 folds (supervised)"
    n_train = len(json.loads((noisy / "splits.json").read_text())["train"])
    fold_sizes = []
    for fold in (0, 1):
        result = json.loads((out / "crossfit" / f"fold{fold}" / "results.json").read_text())
        assert result["config"]["method"] == "supervised"
        fold_sizes.append(n_train - result["n_train"])  # the held-out fold is left out of training
    assert sorted(fold_sizes) == [n_train // 2, n_train - n_train // 2]
    rows = list(csv.DictReader((out / "audit.csv").open()))
    assert len(rows) == n_train and 0.0 <= summary["precision_at_k"]["aidemed_disagreement"] <= 1.0

    # a second audit reuses the fold runs
    assert main(["audit", str(run), "-o", str(out), "--top", "2", "--device", "cpu", "--cross-fit", "2"]) == 0
    assert "cross-fit fold" not in capsys.readouterr().out
    assert json.loads((out / "audit.json").read_text())["precision_at_k"] == summary["precision_at_k"]


def test_cross_fit_needs_two_folds(noisy_aide_run, tmp_path):
    from aidemed.audit import audit_run

    with pytest.raises(ValueError, match="at least 2 folds"):
        audit_run(noisy_aide_run[1], tmp_path / "a", cross_fit=1)


def test_audit_ranks_by_the_training_loss_a_supervised_run_recorded(noisy_aide_run, tmp_path):
    from aidemed.audit import audit_run
    from aidemed.engine.config import TrainConfig

    noisy, _ = noisy_aide_run
    cfg = TrainConfig(data=str(noisy), net="unet-small", profile="32", epochs=2, batch_size=4,
                      progress=False, method="supervised", setting="noisy")
    train(cfg, tmp_path / "sup")
    summary = audit_run(tmp_path / "sup", tmp_path / "audit", top=1, device="cpu")
    rows = list(csv.DictReader((tmp_path / "audit" / "audit.csv").open()))
    losses = {r["case"]: float(r["training_loss"]) for r in rows}
    assert all(v > 0 for v in losses.values())
    positives = {r["case"] for r in rows if r["corrupted"] == "True"}
    by_loss = sorted(losses, key=lambda c: -losses[c])
    assert summary["precision_at_k"]["aidemed_training_loss"] == precision_at_k(by_loss, positives)


def test_ensemble_audit_averages_the_runs_models(noisy_aide_run, tmp_path, phantom_dir):
    from aidemed.audit import audit_run
    from aidemed.engine.config import TrainConfig

    noisy, run = noisy_aide_run
    cfg = TrainConfig(data=str(noisy), net="unet-small", profile="32", epochs=1, batch_size=4,
                      iterations_per_epoch=2, progress=False, method="supervised", setting="noisy", seed=1)
    train(cfg, tmp_path / "sup")
    alone = {name: audit_run(r, tmp_path / f"a-{name}", top=0, device="cpu")
             for name, r in (("aide", run), ("sup", tmp_path / "sup"))}
    both = audit_run(run, tmp_path / "both", top=0, device="cpu", ensemble=[tmp_path / "sup"])
    assert both["n_networks"] == alone["aide"]["n_networks"] + alone["sup"]["n_networks"]
    assert "1 more runs" in both["probabilities"] and both["ensemble"] == [str((tmp_path / "sup").resolve())]

    def soft(name):
        return {r["case"]: float(r["soft_score"]) for r in csv.DictReader((tmp_path / name / "audit.csv").open())}

    # every network's softmax counts once, so the soft score (linear in the probabilities) is the weighted mean
    n_a, n_s = alone["aide"]["n_networks"], alone["sup"]["n_networks"]
    a, s, b = soft("a-aide"), soft("a-sup"), soft("both")
    for case in b:
        assert b[case] == pytest.approx((n_a * a[case] + n_s * s[case]) / (n_a + n_s), abs=1e-5)

    clean_cfg = replace(cfg, data=str(phantom_dir))
    train(clean_cfg, tmp_path / "other-data")
    with pytest.raises(ValueError, match="other-data.*same training data"):
        audit_run(run, tmp_path / "bad", device="cpu", ensemble=[tmp_path / "other-data"])
    with pytest.raises(ValueError, match="not both"):
        audit_run(run, tmp_path / "bad", device="cpu", ensemble=[tmp_path / "sup"], cross_fit=2)


def test_audit_with_flip_ranks_on_the_mirror_averaged_probabilities(noisy_aide_run, tmp_path, capsys):
    _, run = noisy_aide_run
    plain, flipped = tmp_path / "plain", tmp_path / "flipped"
    assert main(["audit", str(run), "-o", str(plain), "--top", "1", "--device", "cpu"]) == 0
    assert main(["audit", str(run), "-o", str(flipped), "--top", "1", "--device", "cpu", "--flip"]) == 0
    assert "(with the mirrored image)" in capsys.readouterr().out
    assert json.loads((flipped / "audit.json").read_text())["flip"] is True
    assert json.loads((plain / "audit.json").read_text())["flip"] is False
    score = {name: {r["case"]: float(r["disagreement"]) for r in csv.DictReader((out / "audit.csv").open())}
             for name, out in (("plain", plain), ("flipped", flipped))}
    assert score["plain"].keys() == score["flipped"].keys()
    assert score["plain"] != score["flipped"]


def test_audit_orders_its_table_by_the_chosen_ranking(noisy_aide_run, tmp_path):
    _, run = noisy_aide_run
    out = tmp_path / "by_edges"
    assert main(["audit", str(run), "-o", str(out), "--top", "1", "--device", "cpu", "--rank-by", "edges"]) == 0
    rows = list(csv.DictReader((out / "audit.csv").open()))
    edges = [float(r["edge_alignment"]) for r in rows]
    judged = [e for e in edges if not np.isnan(e)]
    assert judged == sorted(judged) and edges[: len(judged)] == judged  # worst fit first, empty masks last
    assert json.loads((out / "audit.json").read_text())["rank_by"] == "edges"
    by_disagreement = tmp_path / "by_disagreement"
    assert main(["audit", str(run), "-o", str(by_disagreement), "--top", "0", "--device", "cpu",
                 "--rank-by", "disagreement"]) == 0
    dis = [float(r["disagreement"]) for r in csv.DictReader((by_disagreement / "audit.csv").open())]
    assert dis == sorted(dis, reverse=True)
    with pytest.raises(ValueError, match="rank_by must be one of"):
        from aidemed.audit import audit_run

        audit_run(run, tmp_path / "bad", rank_by="edge")
    assert not (tmp_path / "bad").exists()


def test_the_cli_offers_every_ranking_the_audit_knows():
    from aidemed.cli.audit import RANK_BY as offered

    assert offered == tuple(RANK_BY)
