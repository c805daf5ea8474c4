"""Settings: which TrainData a run builds (semi, noisy with a trusted subset, domain adaptation)."""

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from aidemed.data.cache import load_arrays
from aidemed.data.manifest import load_dataset, write_dataset
from aidemed.engine.config import TrainConfig
from aidemed.engine.inference import Predictor, adapt_batchnorm
from aidemed.engine.run import (TARGET_PREFIX, _guard_config, bootstrap_predictor, domain_adaptation_setting,
                                get_setting, noisy_setting, semi_setting, train, trusted_subset,
                                with_setting_options)
from aidemed.methods.aide import AIDE


def _inputs(cfg):
    dataset = load_dataset(cfg.data)
    return dataset, load_arrays(dataset, cfg.profile), dataset.load_splits()


def test_semi_is_the_default_and_unknown_settings_are_refused(fast_config):
    assert TrainConfig().setting == "semi" and get_setting("semi") is semi_setting
    built = semi_setting(fast_config, *_inputs(fast_config))
    assert torch.equal(built.train.has_label, built.train.trusted)
    with pytest.raises(ValueError, match="unknown setting"):
        get_setting("nope")


def test_noisy_gives_every_mask_and_a_nested_trusted_budget(fast_config):
    dataset, arrays, splits = _inputs(fast_config)
    cfg = replace(fast_config, setting="noisy", labelled_fraction=1.0)
    trusted = {}
    for fraction in (0.0, 0.1, 0.25):
        data = noisy_setting(replace(cfg, trusted_fraction=fraction), dataset, arrays, splits).train
        assert bool(data.has_label.all()) and len(data) == len(splits["train"])
        trusted[fraction] = set(data.case_ids[data.trusted.numpy()])
        if fraction:
            assert trusted[fraction] == set(splits["budgets"][f"{fraction:g}"])
    assert not trusted[0.0] and trusted[0.1] < trusted[0.25]
    with pytest.raises(ValueError, match="trusted_fraction"):
        noisy_setting(replace(cfg, labelled_fraction=0.25, trusted_fraction=0.5), dataset, arrays, splits)


def test_trusted_subset_without_budgets_is_seeded_and_nested():
    ids = [f"c{i:02d}" for i in range(40)]
    small, large = trusted_subset({"seed": 3}, ids, 0.1), trusted_subset({"seed": 3}, ids, 0.3)
    assert len(small) == 4 and len(large) == 12 and set(small) < set(large)
    assert trusted_subset({"seed": 3}, ids, 0.1) == small and trusted_subset({"seed": 4}, ids, 0.1) != small
    assert trusted_subset({}, ids, 0.0) == []


def test_trusted_cases_of_a_corrupted_copy_get_their_clean_masks(phantom_dir, fast_config, tmp_path):
    from aidemed.noise import corrupt_dataset

    noisy = corrupt_dataset(phantom_dir, tmp_path / "missed", model="missed_lesion", fraction=1.0, seed=0)
    cfg = replace(fast_config, data=str(noisy.root), setting="noisy", labelled_fraction=1.0, trusted_fraction=0.25)
    data = noisy_setting(cfg, noisy, load_arrays(noisy, cfg.profile), noisy.load_splits()).train
    has_fg = data.masks.flatten(1).any(1)
    assert bool(has_fg[data.trusted].all())  # clean (expert-verified) masks
    assert not bool(has_fg[~data.trusted].any())  # every other given mask was emptied


def test_aide_never_rewrites_the_trusted_subset_of_a_noisy_run(fast_config):
    cfg = replace(fast_config, setting="noisy", labelled_fraction=1.0, trusted_fraction=0.25, method="aide",
                  method_args={"correction_start": 0, "correction_fraction": 1.0, "replace_with_empty": True})
    data = noisy_setting(cfg, *_inputs(cfg)).train
    method = AIDE(cfg, data, torch.device("cpu"))
    method.setup()  # every case has a mask: no bootstrap needed
    for key in ("A", "B"):  # both networks predict "everything foreground"
        final = [m for m in method.networks[key].modules() if isinstance(m, torch.nn.Conv2d)][-1]
        with torch.no_grad():
            final.weight.zero_()
            final.bias.copy_(torch.tensor([-5.0, 5.0]))
    before = {k: v.clone() for k, v in method.labels.items()}
    method.correct_labels(epoch=0)
    for key in ("A", "B"):
        changed = (method.labels[key] != before[key]).flatten(1).any(1)
        assert not bool(changed[data.trusted].any())
        assert bool(changed[~data.trusted].all())
        assert torch.equal(method.labels[key][data.trusted], data.masks[data.trusted])


@pytest.fixture(scope="module")
def target_dir(tmp_path_factory):
    """A second phantom dataset from another seed, at another site."""
    from aidemed.data.phantom import generate_phantom_dataset

    root = tmp_path_factory.mktemp("target")
    dataset = generate_phantom_dataset(root, n_cases=20, size=48, seed=1)
    write_dataset(root, dataset.info, [replace(c, site="site-b") for c in dataset.cases])
    return root


def test_domain_adaptation_adds_target_train_images_without_masks(fast_config, target_dir):
    cfg = replace(fast_config, setting="domain-adaptation", target_data=str(target_dir), labelled_fraction=1.0)
    dataset, arrays, splits = _inputs(cfg)
    built = domain_adaptation_setting(cfg, dataset, arrays, splits)
    target = load_dataset(target_dir)
    target_splits = target.load_splits()
    data, is_target = built.train, np.char.startswith(built.train.case_ids.astype(str), TARGET_PREFIX)
    assert sorted(c[len(TARGET_PREFIX):] for c in data.case_ids[is_target]) == sorted(target_splits["train"])
    assert sorted(data.case_ids[~is_target]) == sorted(splits["train"])
    assert not bool(data.has_label[is_target].any()) and not bool(data.trusted[is_target].any())
    assert not bool(data.masks[is_target].any())
    assert torch.equal(data.has_label[~is_target], data.trusted[~is_target])  # source ground truth protected
    target_images = load_arrays(target, cfg.profile).select_cases(target_splits["train"]).images
    assert np.allclose(np.sort(data.images[is_target].numpy().ravel()), np.sort(target_images.ravel()))
    assert sorted(set(built.val.case_ids)) == sorted(splits["val"])  # selection on the source val split
    assert built.test.dataset.root == target.root and built.test.case_ids == target_splits["test"]


def test_domain_adaptation_run_bootstraps_from_source_and_scores_the_target(fast_config, target_dir, tmp_path):
    cfg = replace(fast_config, setting="domain-adaptation", target_data=str(target_dir), labelled_fraction=1.0,
                  method="pseudo_label", epochs=1, iterations_per_epoch=2)
    result = train(cfg, tmp_path / "pl")
    target_splits = load_dataset(target_dir).load_splits()
    source_splits = load_dataset(cfg.data).load_splits()
    assert result["setting"] == "domain-adaptation"
    assert result["scored"]["root"] == str(target_dir.resolve()) and result["scored"]["split"] == "test"
    assert result["scored"]["role"] == "target" and result["test"]["n_cases"] == len(target_splits["test"])
    assert result["selected_on"]["root"] == str(load_dataset(cfg.data).root.resolve())
    assert result["n_labelled"] == len(source_splits["train"])
    assert result["n_train"] == len(source_splits["train"]) + len(target_splits["train"])
    with (tmp_path / "pl" / "test_cases.csv").open() as fh:
        assert {row["case"] for row in csv.DictReader(fh)} == set(target_splits["test"])
    boot = json.loads((tmp_path / "pl" / "bootstrap" / "results.json").read_text())
    assert boot["config"]["method"] == "supervised" and boot["n_labelled"] == len(source_splits["train"])
    assert boot["scored"]["role"] == "target"


def test_domain_adaptation_refuses_other_channels_and_a_missing_target(fast_config, target_dir, tmp_path):
    target = load_dataset(target_dir)
    two = tmp_path / "two-channels"
    write_dataset(two, target.info, [replace(c, images=[str(target.root / c.images[0])] * 2,
                                             mask=str(target.root / c.mask)) for c in target.cases])
    (two / "splits.json").write_text((target_dir / "splits.json").read_text())
    cfg = replace(fast_config, setting="domain-adaptation", target_data=str(two))
    with pytest.raises(ValueError, match=r"2 channel\(s\).*same channels"):
        domain_adaptation_setting(cfg, *_inputs(cfg))
    with pytest.raises(ValueError, match="--target-data"):
        domain_adaptation_setting(replace(cfg, target_data=""), *_inputs(cfg))


def test_a_run_folder_from_before_the_settings_still_resumes(fast_config, tmp_path):
    old = fast_config.to_dict()
    for key in ("setting", "trusted_fraction", "target_data"):
        old.pop(key)
    (tmp_path / "config.json").write_text(json.dumps(old))
    _guard_config(fast_config, tmp_path, resume=True)  # no "another config" error
    with pytest.raises(ValueError, match="setting"):
        _guard_config(replace(fast_config, setting="noisy"), tmp_path, resume=True)


def test_setting_presets_are_written_into_the_run_config(fast_config, tmp_path):
    noisy_aide = replace(fast_config, setting="noisy", method="aide", method_args={"beta": 5.0})
    baked = with_setting_options(noisy_aide)
    assert baked.method_args == {**AIDE.setting_options["noisy"], "beta": 5.0}
    own = replace(noisy_aide, method_args={"correction_fraction": 0.25})
    assert with_setting_options(own).method_args["correction_fraction"] == 0.25  # the run's value wins
    for cfg in (replace(fast_config, method="aide"), replace(fast_config, setting="noisy")):  # semi; supervised
        assert with_setting_options(cfg) == cfg
    # a run folder started before the preset existed is not resumed with it
    (tmp_path / "config.json").write_text(json.dumps(noisy_aide.to_dict()))
    with pytest.raises(ValueError, match="method_args"):
        _guard_config(baked, tmp_path, resume=True)


def test_cli_flags_reach_the_config_in_train_and_bench(phantom_dir, target_dir, tmp_path):
    from aidemed.cli.main import build_parser
    from aidemed.cli.train import config_from_args

    parser = build_parser()
    args = parser.parse_args(["train", "--data", str(phantom_dir), "--setting", "noisy", "--trusted-fraction", "0.1"])
    cfg = config_from_args(args)
    assert (cfg.setting, cfg.trusted_fraction, cfg.target_data) == ("noisy", 0.1, "")
    args = parser.parse_args(["bench", "label-efficiency", "--data", str(phantom_dir), "-o", str(tmp_path),
                              "--setting", "domain-adaptation", "--target-data", str(target_dir),
                              "--methods", "source_only", "aide"])
    cfg = config_from_args(args)
    assert cfg.setting == "domain-adaptation" and cfg.target_data == str(target_dir.resolve())
    assert config_from_args(parser.parse_args(["train", "--data", str(phantom_dir)])).setting == "semi"


def test_bootstrap_adapt_bn_gives_the_source_model_the_target_statistics(fast_config, target_dir, tmp_path):
    cfg = replace(fast_config, setting="domain-adaptation", target_data=str(target_dir), labelled_fraction=1.0,
                  epochs=1, iterations_per_epoch=2)
    train(cfg, tmp_path / "source")
    data = domain_adaptation_setting(cfg, *_inputs(cfg)).train
    aide = replace(cfg, method="aide", method_args={"bootstrap_run": str(tmp_path / "source")})
    plain = bootstrap_predictor(aide, tmp_path / "aide", data, torch.device("cpu"))
    adapted = bootstrap_predictor(aide, tmp_path / "aide", data, torch.device("cpu"), adapt_bn=True)
    reference = Predictor.from_checkpoint(tmp_path / "source" / "checkpoints" / "best.pt")
    adapt_batchnorm(reference.networks, data.images[~data.has_label])  # the target training images only
    means = [_first_batchnorm(p.networks[0]).running_mean for p in (plain, adapted, reference)]
    assert not torch.allclose(means[0], means[1])
    assert torch.allclose(means[1], means[2])


def _first_batchnorm(net: torch.nn.Module) -> torch.nn.BatchNorm2d:
    return next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_bootstrap_adapt_bn_is_an_option_of_the_bootstrapped_methods_only(fast_config, target_dir, tmp_path):
    cfg = replace(fast_config, setting="domain-adaptation", target_data=str(target_dir), labelled_fraction=1.0,
                  epochs=1, iterations_per_epoch=2, method="pseudo_label",
                  method_args={"bootstrap_adapt_bn": True})
    result = train(cfg, tmp_path / "pl")
    assert result["method_options"]["bootstrap_adapt_bn"] is True
    with pytest.raises(ValueError, match="bootstrap_adapt_bn"):
        train(replace(cfg, method="mean_teacher"), tmp_path / "mt")
