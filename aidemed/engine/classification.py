"""Image classification with labels from class columns or from report text (docs/classification.md).

    cfg = ClsConfig(data="prepared/busi-reader", labels_from_reports=True, vocab="breast_malignancy",
                    rate_policy="certainty", warmup_epochs=2)
    result = train_classifier(cfg, "runs/cls")

Pieces, kept apart as in the segmentation engine:

* labels: `case_labels` (class labels from `Case.label`) and `report_labels` (the report labeler on
  `Case.report`, with a finding -> class map for multi-class or one output per finding for
  multi-label), both giving a `ClsLabels`;
* `policy_targets`: a rate policy + warm-up turn the labels into per-sample training targets for an
  epoch (class index + GLS rate + mask for softmax, targets + rates + mask for sigmoid);
* `ClassifierModel`: networks, optimisers and losses (`gls` with the policy's rates, `gce`, `sce`;
  method `standard` or `coteaching`);
* `ClsTrainer`: epochs, batch augmentation, validation (macro AUROC) and best-model selection,
  metrics.csv/jsonl, atomic checkpoints and `--resume`;
* `evaluate_probs`: test metrics with bootstrap confidence intervals.

Validation and test truth: a case's own class label (`Case.label`) when it has one, else the label
its report gives (hedged statements count with their direction for multi-class; for multi-label only
firm positives (1) and negatives (0) count, uncertain and blank entries are left out).
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from aidemed.data.augment import augment_batch
from aidemed.data.cache import load_arrays, resolve_size
from aidemed.data.manifest import Dataset, atomic_write_text, load_dataset
from aidemed.engine.history import write_history
from aidemed.engine.checkpoint import load_checkpoint, save_checkpoint
from aidemed.engine.config import AugmentConfig, augment_with
from aidemed.engine.seed import epoch_generator, mixed_precision, resolve_device, seed_everything
from aidemed.losses.rate_policies import GRADE_DIRECTION, WarmupSchedule, get_rate_policy, grade_from_score
from aidemed.losses.smoothing import (
    GeneralizedCrossEntropy,
    SymmetricCrossEntropy,
    generalized_ls_bce,
    generalized_ls_cross_entropy,
)
from aidemed.methods.base import make_optimizer, make_scheduler
from aidemed.metrics import classification as M
from aidemed.reports.grades import DEFINITE, GRADE_LABELS, NEGATED, POSSIBLE, PROBABLE, UNLIKELY

LOSSES = ("gls", "gce", "sce")
METHODS = ("standard", "coteaching")

# finding -> class maps used when --findings is not given, per vocabulary
DEFAULT_FINDINGS = {"breast_malignancy": ["Malignancy=malignant/benign", "Benign=benign"]}

# a statement about the opposite finding ("probably benign") on the primary finding's scale
MIRROR_GRADE = {DEFINITE: NEGATED, PROBABLE: UNLIKELY, POSSIBLE: POSSIBLE, "cannot_exclude": POSSIBLE,
                UNLIKELY: PROBABLE, NEGATED: DEFINITE}


@dataclass
class ClsConfig:
    data: str = ""
    net: str = "resnet-tiny"
    profile: str = "standard"
    seed: int = 0
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"  # adamw | adam | sgd
    scheduler: str = "cosine"  # poly | cosine | none
    iterations_per_epoch: int = 0  # 0: one pass over the labelled training images
    device: str = "auto"
    amp: bool = True  # bf16 autocast on CUDA only
    num_threads: int = 0
    progress: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # where labels come from
    labels_from_reports: bool = False
    vocab: str = "breast_malignancy"  # built-in name, a YAML in aidemed/reports/vocab, or a YAML path
    findings: list = field(default_factory=list)  # "OBS=CLASS[/CLASS_IF_ABSENT]" (multi-class) or names
    task: str = "auto"  # auto | multiclass | multilabel
    sections: str = "findings,impression"  # report sections labelled, or "all"
    # how they are learnt
    loss: str = "gls"  # gls | gce | sce
    loss_args: dict = field(default_factory=dict)  # gce: q; sce: alpha, beta, log_zero
    rate_policy: str = "certainty"
    policy_args: dict = field(default_factory=dict)  # e.g. {"rate": 0.2} for constant
    warmup_epochs: int = 0
    ramp_epochs: int = 0
    method: str = "standard"  # standard | coteaching
    method_args: dict = field(default_factory=dict)  # coteaching: forget_rate, gradual_epochs
    n_boot: int = 1000  # bootstrap resamples for the test confidence intervals

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ClsConfig":
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        values = dict(data)
        if isinstance(values.get("augment"), dict):
            values["augment"] = augment_with(AugmentConfig(), values["augment"])
        return cls(**values)

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")


def check_config(cfg: ClsConfig) -> None:
    """Refuse option combinations that cannot train, before any data is read or any epoch is run."""
    make_policy(cfg)  # unknown policy or policy argument
    if cfg.rate_policy == "adaptive" and cfg.warmup_epochs < 1:
        raise ValueError("the adaptive policy is fitted on val after warm-up: give --warmup-epochs >= 1")
    if cfg.loss not in ("gls", "gce", "sce"):
        raise ValueError(f"unknown loss {cfg.loss!r}; available: gls, gce, sce")
    if cfg.method not in ("standard", "coteaching"):
        raise ValueError(f"unknown method {cfg.method!r}; available: standard, coteaching")


# ============================================================================ labels


@dataclass
class ClsLabels:
    """Per-sample labels. Multi-class: `y` class index (-1 unknown) and `grades` (the certainty of
    the statement that gave the class; for a binary task on the scale of the positive class).
    Multi-label: `labels` (N, F) in CheXpert coding (NaN blank) and `scores` (N, F)."""

    task: str
    names: list
    y: np.ndarray | None = None
    grades: np.ndarray | None = None
    positive: int | None = None  # binary task: index of the positive class
    labels: np.ndarray | None = None
    scores: np.ndarray | None = None

    def take(self, index) -> "ClsLabels":
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return replace(self, y=pick(self.y), grades=pick(self.grades), labels=pick(self.labels),
                       scores=pick(self.scores))

    def truth(self) -> np.ndarray:
        """Evaluation truth: class indices (multi-class, -1 unknown), or 1/0/NaN (multi-label)."""
        if self.task == "multiclass":
            return self.y
        return np.where(np.isin(self.labels, (0.0, 1.0)), self.labels, np.nan)


def resolve_vocab(name: str):
    """Built-in names, YAML files shipped in aidemed/reports/vocab (e.g. breast_malignancy), or a path."""
    from importlib import resources

    from aidemed.reports.vocab import BUILTIN_VOCABULARIES

    if name in BUILTIN_VOCABULARIES or name.endswith((".yaml", ".yml")):
        return name
    shipped = resources.files("aidemed.reports").joinpath("vocab", f"{name}.yaml")
    if shipped.is_file():
        return str(shipped)
    return name


def parse_findings(specs) -> list[tuple[str, str, str | None]]:
    """"OBS=CLASS" or "OBS=CLASS/CLASS_IF_ABSENT" -> (observation, class, class if absent)."""
    out = []
    for spec in specs:
        if "=" not in spec:
            raise ValueError(f"multi-class finding map {spec!r} must read OBSERVATION=CLASS[/CLASS_IF_ABSENT]")
        obs, classes = (s.strip() for s in spec.split("=", 1))
        present, _, absent = classes.partition("/")
        out.append((obs, present.strip(), absent.strip() or None))
    return out


def task_of(cfg: ClsConfig) -> str:
    if cfg.task != "auto":
        if cfg.task not in ("multiclass", "multilabel"):
            raise ValueError(f"task must be auto, multiclass or multilabel, got {cfg.task!r}")
        return cfg.task
    if not cfg.labels_from_reports:
        return "multiclass"
    findings = cfg.findings or DEFAULT_FINDINGS.get(Path(cfg.vocab).stem, [])
    return "multiclass" if findings and all("=" in f for f in findings) else "multilabel"


def label_reports(reports, vocab: str, sections: str = "findings,impression"):
    from aidemed.reports import ReportLabeler

    secs = None if sections.strip().lower() == "all" else tuple(s.strip() for s in sections.split(",") if s.strip())
    labeler = ReportLabeler(resolve_vocab(vocab), sections=secs, evidence=False)
    return labeler, [labeler.label(r) for r in reports]


def report_labels(reports, cfg: ClsConfig, classes: list[str] | None = None) -> ClsLabels:
    """Labels from report texts (None = no report): multi-class through the finding map, or multi-label."""
    labeler, results = label_reports(reports, cfg.vocab, cfg.sections)
    columns = list(labeler.vocab.columns)
    if task_of(cfg) == "multilabel":
        names = list(cfg.findings) or columns
        unknown = [n for n in names if n not in columns]
        if unknown:
            raise ValueError(f"findings {unknown} are not observations of vocabulary {cfg.vocab!r} ({columns})")
        labels = np.array([[np.nan if r.labels.get(n) is None else r.labels[n] for n in names] for r in results], float)
        scores = np.array([[np.nan if r.scores.get(n) is None else r.scores[n] for n in names] for r in results], float)
        return ClsLabels("multilabel", names, labels=labels.reshape(-1, len(names)),
                         scores=scores.reshape(-1, len(names)))
    specs = parse_findings(cfg.findings or DEFAULT_FINDINGS.get(Path(cfg.vocab).stem, []))
    if not specs:
        raise ValueError(f"multi-class labels from reports need --finding OBSERVATION=CLASS[/CLASS_IF_ABSENT] "
                         f"(vocabulary {cfg.vocab!r} has no default map)")
    for obs, _, _ in specs:
        if obs not in columns:
            raise ValueError(f"finding {obs!r} is not an observation of vocabulary {cfg.vocab!r} ({columns})")
    spec_classes = [c for _, p, a in specs for c in (p, a) if c]
    names = list(classes) if classes else sorted(set(spec_classes))
    missing = sorted(set(spec_classes) - set(names))
    if missing:
        raise ValueError(f"the finding map names classes {missing} that the dataset does not have ({names})")
    primary_absent = specs[0][2]
    binary = len(names) == 2 and primary_absent is not None
    y = np.full(len(results), -1, int)
    grades = np.full(len(results), None, object)
    for i, r in enumerate(results):
        for obs, present, absent in specs:
            grade = grade_from_score(r.scores.get(obs))
            if grade is None:
                continue
            cls = present if GRADE_DIRECTION[grade] == 1 else absent
            if cls is None:
                continue  # "no cyst" says nothing about the class of a multi-class task
            if binary and obs != specs[0][0] and present == primary_absent:
                grade = MIRROR_GRADE[grade]  # "probably benign" = malignancy unlikely
            y[i], grades[i] = names.index(cls), grade
            break
    return ClsLabels("multiclass", names, y=y, grades=grades, positive=names.index(specs[0][1]) if binary else None)


def case_labels(cases, classes: list[str], positive: int | None = None) -> ClsLabels:
    """Labels from `Case.label` (firm: grade definite; for a binary task the negative class is `negated`;
    the positive class is `positive`, default the second class)."""
    y = np.array([classes.index(c.label) if c.label in classes else -1 for c in cases], int)
    if positive is None and len(classes) == 2:
        positive = 1
    grades = np.array([None if v < 0 else (NEGATED if positive is not None and v != positive else DEFINITE)
                       for v in y], object)
    return ClsLabels("multiclass", list(classes), y=y, grades=grades, positive=positive)


def merge_truth(own: ClsLabels, reported: ClsLabels | None) -> tuple[np.ndarray, str]:
    """Evaluation truth: the case's own label where it has one, else its report's."""
    truth = own.truth().copy() if own is not None else None
    if reported is None:
        return truth, "case_label"
    if truth is None:
        return reported.truth(), "reports"
    missing = truth < 0
    truth[missing] = reported.y[missing]
    return truth, "case_label" if not missing.any() else ("reports" if missing.all() else "case_label+reports")


# ============================================================================ targets


def make_policy(cfg: ClsConfig):
    return get_rate_policy(cfg.rate_policy, **cfg.policy_args)


def policy_targets(labels: ClsLabels, policy, factor: float) -> dict[str, torch.Tensor]:
    """Per-sample training targets for one epoch; `factor` scales the policy's rates (warm-up).

    Multi-class binary tasks go through the policy as one finding (the positive class): the GLS
    binary target t = (1 - r) d + r / 2 equals, for two classes, the softmax GLS target of class
    `t >= 0.5` with rate 1 - |2t - 1| (lsr's soft targets map the same way). With more classes the
    policy's rate is used directly and a target on the "absent" side (u_zeros, lsr) has no class:
    the sample is left out.
    """
    if labels.task == "multilabel":
        sm = policy(labels.labels, scores=labels.scores)
        r = sm.rates * factor
        return {"targets": torch.from_numpy(sm.targets.astype(np.float32)),
                "rates": torch.from_numpy(r.astype(np.float32)), "mask": torch.from_numpy(sm.mask),
                "hard": torch.from_numpy((sm.targets >= 0.5).astype(np.float32))}
    known = labels.y >= 0
    code = np.array([np.nan if g is None else GRADE_LABELS[g] for g in labels.grades], float)
    sm = policy(code, grades=labels.grades)
    mask = sm.mask & known
    if labels.positive is not None:
        r = sm.rates * factor
        t = (1 - r) * sm.targets + r / 2
        negative = 1 - labels.positive
        y = np.where(t >= 0.5, labels.positive, negative)
        rate = 1 - np.abs(2 * t - 1)
    else:
        if policy.name == "lsr":
            raise ValueError("the lsr policy needs a binary or multi-label task")
        mask &= sm.targets >= 0.5
        y, rate = np.where(known, labels.y, 0), sm.rates * factor
    return {"y": torch.from_numpy(y.astype(np.int64)), "rates": torch.from_numpy(rate.astype(np.float32)),
            "mask": torch.from_numpy(mask.astype(bool))}


# ============================================================================ the model


class ClassifierModel:
    """Networks, optimisers and the loss; co-teaching trains two networks that pick each other's samples."""

    def __init__(self, cfg: ClsConfig, in_channels: int, num_outputs: int, task: str, device: torch.device):
        from aidemed.nets import create_model

        if cfg.loss not in LOSSES:
            raise ValueError(f"unknown loss {cfg.loss!r} ({', '.join(LOSSES)})")
        if cfg.method not in METHODS:
            raise ValueError(f"unknown method {cfg.method!r} ({', '.join(METHODS)})")
        if cfg.loss == "sce" and task == "multilabel":
            raise ValueError("the sce loss is multi-class only; use gls or gce for multi-label")
        self.cfg, self.task, self.device = cfg, task, device
        self.networks, self.optimizers, self.schedulers = {}, {}, {}
        for k in range(2 if cfg.method == "coteaching" else 1):
            torch.manual_seed(cfg.seed * 7 + k)
            net = create_model(cfg.net, in_channels, num_outputs).to(device)
            self.networks[f"net{k}"] = net
            self.optimizers[f"net{k}"] = make_optimizer(cfg, net.parameters())
            self.schedulers[f"net{k}"] = make_scheduler(cfg, self.optimizers[f"net{k}"])
        args = dict(cfg.loss_args)
        multilabel = task == "multilabel"
        self.robust = {"gce": lambda: GeneralizedCrossEntropy(reduction="none", multilabel=multilabel, **args),
                       "sce": lambda: SymmetricCrossEntropy(reduction="none", **args)}.get(cfg.loss, lambda: None)()
        co = {"forget_rate": 0.2, "gradual_epochs": max(1, cfg.epochs // 4), **cfg.method_args}
        unknown = set(cfg.method_args) - {"forget_rate", "gradual_epochs"}
        if unknown or (cfg.method_args and cfg.method != "coteaching"):
            raise ValueError(f"method options {sorted(cfg.method_args)} do not apply to method {cfg.method!r}")
        self.forget_rate, self.gradual_epochs = float(co["forget_rate"]), int(co["gradual_epochs"])

    def sample_loss(self, logits: torch.Tensor, t: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-sample loss (B,), valid (B,)): masked samples/entries contribute 0."""
        if self.task == "multilabel":
            mask = t["mask"]
            if self.robust is not None:
                entry = self.robust(logits, t["hard"], mask)
            else:
                entry = generalized_ls_bce(logits, t["targets"], t["rates"], mask, reduction="none")
            count = mask.sum(1)
            return entry.sum(1) / count.clamp(min=1), count > 0
        if self.robust is not None:
            return self.robust(logits, t["y"], t["mask"]), t["mask"]
        return generalized_ls_cross_entropy(logits, t["y"], t["rates"], "none", t["mask"]), t["mask"]

    def keep_fraction(self, epoch: int) -> float:
        return 1 - self.forget_rate * min(1.0, (epoch + 1) / self.gradual_epochs)

    def training_step(self, images: torch.Tensor, t: dict, epoch: int, autocast) -> dict[str, float]:
        with autocast():
            logits = {k: net(images).float() for k, net in self.networks.items()}
        if len(self.networks) == 1:
            loss, valid = self.sample_loss(logits["net0"], t)
            total = loss.sum() / valid.sum().clamp(min=1)
            self._step("net0", total)
            return {"loss": float(total.detach())}
        # co-teaching (Han et al. 2018): each network learns from the small-loss samples of its peer
        (la, valid), (lb, _) = self.sample_loss(logits["net0"], t), self.sample_loss(logits["net1"], t)
        idx = torch.nonzero(valid).flatten()
        n_keep = max(1, int(round(self.keep_fraction(epoch) * len(idx)))) if len(idx) else 0
        pick_a = idx[torch.argsort(la.detach()[idx])[:n_keep]]
        pick_b = idx[torch.argsort(lb.detach()[idx])[:n_keep]]
        loss_a = lb[pick_a].sum() / max(n_keep, 1)  # net1 learns from net0's picks
        loss_b = la[pick_b].sum() / max(n_keep, 1)
        self._step("net1", loss_a)
        self._step("net0", loss_b)
        return {"loss": float((loss_a + loss_b).detach()) / 2, "kept": n_keep / max(len(idx), 1)}

    def _step(self, key: str, loss: torch.Tensor) -> None:
        opt = self.optimizers[key]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def end_epoch(self) -> None:
        for s in self.schedulers.values():
            s.step()

    def state_dict(self) -> dict:
        return {g: {k: v.state_dict() for k, v in getattr(self, g).items()}
                for g in ("networks", "optimizers", "schedulers")}

    def load_state_dict(self, state: dict) -> None:
        for g in ("networks", "optimizers", "schedulers"):
            for k, v in state[g].items():
                getattr(self, g)[k].load_state_dict(v)


@torch.no_grad()
def predict_probs(net: torch.nn.Module, images: torch.Tensor, task: str, device, batch_size: int = 64) -> np.ndarray:
    net.eval()
    out = []
    for i in range(0, len(images), batch_size):
        logits = net(images[i:i + batch_size].to(device)).float()
        out.append((torch.sigmoid(logits) if task == "multilabel" else torch.softmax(logits, 1)).cpu())
    net.train()
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


# ============================================================================ metrics


def _flat(y, p):
    y, p = np.asarray(y, float), np.asarray(p, float)
    keep = ~np.isnan(y)
    return y[keep], p[keep]


def _ml_metric(fn):
    """A multi-label metric: the mean over findings of fn on each finding's labelled entries."""
    def metric(y, p):
        vals = []
        for f in range(y.shape[1]):
            yf, pf = _flat(y[:, f], p[:, f])
            if yf.size and len(np.unique(yf)) > 0:
                vals.append(fn(yf.astype(int), (pf >= 0.5).astype(int)))
        return float(np.mean(vals)) if vals else float("nan")
    return metric


def metric_functions(task: str, num_classes: int, positive: int | None) -> dict:
    """name -> fn(y_true, probs); y_true are class indices (multi-class) or 1/0/NaN (multi-label)."""
    if task == "multilabel":
        return {
            "accuracy": lambda y, p: M.accuracy(*(a.astype(int) for a in _flat_bin(y, p))),
            "balanced_accuracy": _ml_metric(M.balanced_accuracy),
            "auroc": M.macro_auroc,
            "f1": _ml_metric(lambda a, b: M.f1_score(a, b)),
            "ece": lambda y, p: M.expected_calibration_error(*_flat(y, p)),
        }
    if positive is not None:
        return {
            "accuracy": M.accuracy,
            "balanced_accuracy": M.balanced_accuracy,
            "auroc": lambda y, p: M.roc_auc(y == positive, p[:, positive]),
            "f1": lambda y, p: M.f1_score(y, p, pos_label=positive),
            "ece": lambda y, p: M.expected_calibration_error(y == positive, p[:, positive]),
        }
    onehot = lambda y: np.eye(num_classes)[y]  # noqa: E731
    return {
        "accuracy": M.accuracy,
        "balanced_accuracy": M.balanced_accuracy,
        "auroc": lambda y, p: M.macro_auroc(onehot(y), p),
        "f1": lambda y, p: M.f1_score(y, p, average="macro"),
        "ece": M.expected_calibration_error,
    }


def _flat_bin(y, p):
    yf, pf = _flat(y, p)
    return yf, (pf >= 0.5).astype(float)


def evaluate_probs(truth: np.ndarray, probs: np.ndarray, labels: ClsLabels, n_boot: int = 1000, seed: int = 0) -> dict:
    """Metrics with bootstrap CIs over cases ({value, low, high}); per-finding/per-class AUROC."""
    if labels.task == "multiclass":
        keep = truth >= 0
        truth, probs = truth[keep], probs[keep]
    fns = metric_functions(labels.task, len(labels.names), labels.positive)
    out = {"n": int(len(truth))}
    if len(truth) == 0:
        return out
    for name, fn in fns.items():
        ci = M.bootstrap_ci(fn, truth, probs, n_boot=n_boot, seed=seed)
        out[name] = {"value": ci.value, "low": ci.low, "high": ci.high}
    per = {}
    for k, name in enumerate(labels.names):
        y = truth[:, k] if labels.task == "multilabel" else (truth == k).astype(float)
        ci = M.bootstrap_ci(M.roc_auc, y, probs[:, k], n_boot=n_boot, seed=seed)
        per[name] = {"value": ci.value, "low": ci.low, "high": ci.high}
    out["auroc_per_" + ("finding" if labels.task == "multilabel" else "class")] = per
    return out


def val_score(truth, probs, labels: ClsLabels) -> float:
    """Model selection: macro AUROC; accuracy when AUROC is undefined (one class in val)."""
    fns = metric_functions(labels.task, len(labels.names), labels.positive)
    if labels.task == "multiclass":
        keep = truth >= 0
        truth, probs = truth[keep], probs[keep]
    if len(truth) == 0:
        return float("nan")
    auc = fns["auroc"](truth, probs)
    return auc if np.isfinite(auc) else fns["accuracy"](truth, probs)


# ============================================================================ the loop


class Interrupted(RuntimeError):
    """Raised by the `stop_after_steps` test hook (a process killed mid-epoch)."""


class ClsTrainer:
    def __init__(self, cfg: ClsConfig, run_dir: Path, device: torch.device, stop_after_steps: int | None = None):
        self.cfg, self.run_dir, self.device = cfg, Path(run_dir), device
        self.stop_after_steps = stop_after_steps
        self.history: list[dict] = []
        self.best = {"score": -math.inf, "epoch": -1, "candidate": ""}

    last_path = property(lambda self: self.run_dir / "checkpoints" / "last.pt")
    best_path = property(lambda self: self.run_dir / "checkpoints" / "best.pt")

    def autocast(self):
        return mixed_precision(self.device, self.cfg.amp)

    def _write_logs(self) -> None:
        write_history(self.run_dir, self.history)

    def fit(self, model: ClassifierModel, images: torch.Tensor, labels: ClsLabels, val: dict, meta: dict,
            resume: bool = False) -> dict:
        cfg = self.cfg
        policy, schedule = make_policy(cfg), WarmupSchedule(cfg.warmup_epochs, cfg.ramp_epochs)
        adaptive = cfg.rate_policy == "adaptive"  # options were checked by train_classifier (check_config)
        start = 0
        if resume and self.last_path.is_file():
            state = load_checkpoint(self.last_path, map_location=self.device)
            model.load_state_dict(state["model"])
            self.history, self.best, start = list(state["history"]), dict(state["best"]), int(state["epoch"]) + 1
            if state.get("rate_map"):
                policy.rate_map, policy.fitted = dict(state["rate_map"]), True
        steps_done = 0
        for epoch in range(start, cfg.epochs):
            began = time.perf_counter()
            row = {"epoch": epoch}
            if adaptive and epoch == cfg.warmup_epochs and not policy.fitted:
                row.update(self._fit_adaptive(policy, model, val, labels))
            targets = policy_targets(labels, policy, schedule.factor(epoch))
            pool = torch.nonzero(targets["mask"].reshape(len(images), -1).any(1)).flatten()
            if len(pool) == 0:
                raise ValueError("no labelled training samples (check the labels, the finding map and the policy)")
            n_steps = cfg.iterations_per_epoch or max(1, math.ceil(len(pool) / cfg.batch_size))
            generator = epoch_generator(cfg.seed, epoch)
            reps = math.ceil(n_steps * cfg.batch_size / len(pool))
            order = torch.cat([pool[torch.randperm(len(pool), generator=generator)] for _ in range(reps)])
            sums: dict[str, float] = {}
            for step in range(n_steps):
                idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
                x, _ = augment_batch(images[idx], {}, cfg.augment, generator)
                batch = {k: v[idx].to(self.device) for k, v in targets.items()}
                logs = model.training_step(x.to(self.device), batch, epoch, self.autocast)
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v
                steps_done += 1
                if self.stop_after_steps is not None and steps_done >= self.stop_after_steps:
                    raise Interrupted(f"stopped after {steps_done} steps (test hook)")
            row.update({f"train_{k}": v / n_steps for k, v in sums.items()})
            row["lr"] = model.optimizers["net0"].param_groups[0]["lr"]
            row["rate_factor"] = schedule.factor(epoch)
            model.end_epoch()
            train_seconds = time.perf_counter() - began
            row.update(self._validate(model, val, labels, epoch, meta))
            row.update({"train_seconds": train_seconds, "epoch_seconds": time.perf_counter() - began,
                        "images_per_second": n_steps * cfg.batch_size / max(train_seconds, 1e-9)})
            self.history.append(row)
            self._write_logs()
            save_checkpoint(self.last_path, {"epoch": epoch, "model": model.state_dict(), "history": self.history,
                                             "best": self.best, "config": cfg.to_dict(),
                                             "rate_map": dict(getattr(policy, "rate_map", {}) or {})
                                             if getattr(policy, "fitted", False) else {}})
        return {"best": self.best, "history": self.history,
                "rate_map": dict(policy.rate_map) if hasattr(policy, "rate_map") else None}

    def _fit_adaptive(self, policy, model, val, labels: ClsLabels) -> dict:
        rep = val.get("reported")
        if rep is None:
            raise ValueError("the adaptive policy needs val cases with reports (their grades) and true labels")
        probs = predict_probs(model.networks["net0"], val["images"], labels.task, self.device)
        if labels.task == "multilabel":
            grades = np.vectorize(grade_from_score, otypes=[object])(rep.scores)
            policy.fit(probs, val["truth"], grades)
        else:
            if labels.positive is None:
                raise ValueError("the adaptive policy needs a binary or multi-label task")
            truth = np.where(val["truth"] >= 0, (val["truth"] == labels.positive).astype(float), np.nan)
            policy.fit(probs[:, labels.positive], truth, rep.grades)
        return {f"rate_{g}": r for g, r in policy.rate_map.items()}

    def _validate(self, model: ClassifierModel, val: dict, labels: ClsLabels, epoch: int, meta: dict) -> dict:
        row = {}
        for name, net in model.networks.items():
            probs = predict_probs(net, val["images"], labels.task, self.device)
            score = val_score(val["truth"], probs, labels)
            row[f"val_auroc_{name}"] = score
            if np.isfinite(score) and score > self.best["score"] or self.best["epoch"] < 0:
                self.best = {"score": float(score) if np.isfinite(score) else -math.inf, "epoch": epoch,
                             "candidate": name}
                save_checkpoint(self.best_path, {"network": net.state_dict(), "config": self.cfg.to_dict(),
                                                 "meta": {**meta, "epoch": epoch, "candidate": name,
                                                          "val_score": float(score)}})
        finite = [v for v in row.values() if np.isfinite(v)]
        row["val_auroc"] = max(finite) if finite else float("nan")
        return row


# ============================================================================ one run


def classification_split(dataset: Dataset, seed: int = 0) -> dict:
    """A 70/10/20 split over all cases (stratified by class label): for datasets without masks, whose
    mask-based default split puts every case in train."""
    from aidemed.data.splits import make_splits

    stand_in = [replace(c, mask="-") for c in dataset.cases]  # make_splits splits annotated cases only
    return make_splits(stand_in, seed=seed, stratify=("label",))


def load_split(dataset: Dataset) -> tuple[dict, str]:
    splits = dataset.load_splits() if dataset.splits_path.is_file() else {}
    if splits.get("val") and splits.get("test"):
        return splits, "splits.json"
    return classification_split(dataset, seed=int(splits.get("seed", 0))), "classification_split(seed)"


def train_classifier(cfg: ClsConfig, run_dir: str | Path, resume: bool = False,
                     stop_after_steps: int | None = None) -> dict:
    """Train, select on val, score the selected network on test; write everything into run_dir."""
    from aidemed.engine.run import _guard_config, environment

    run_dir = Path(run_dir)
    check_config(cfg)
    _guard_config(cfg, run_dir, resume)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    dataset = load_dataset(cfg.data)
    splits, split_source = load_split(dataset)
    arrays = load_arrays(dataset, cfg.profile)
    cases = [dataset.case(c) for c in arrays.case_ids]
    in_split = set(splits["train"]) | set(splits["val"]) | set(splits["test"])
    present = {c.label for c in dataset.cases if c.id in in_split and c.label}
    # classes of the split cases only (BUSI's "normal" is excluded from the benchmark split)
    classes = [c for c in dataset.info.classes if c in present] or sorted(present)
    task = task_of(cfg)

    reported = None
    if cfg.labels_from_reports:
        reported = report_labels([c.report for c in cases], cfg, classes if task == "multiclass" else None)
        classes = reported.names if task == "multiclass" else classes
    own = None
    if task == "multiclass" and len(classes) >= 2:
        own = case_labels(cases, classes, reported.positive if reported is not None else None)
    train_labels = reported if cfg.labels_from_reports else own
    if train_labels is None:
        raise ValueError(f"{dataset.root}: no class labels (Case.label) to train on; use --labels-from-reports")
    if task == "multiclass":
        truth, truth_source = merge_truth(own, reported)
    else:
        truth, truth_source = reported.truth(), "reports"

    def part(name):
        wanted = set(splits[name])
        return np.array([c in wanted for c in arrays.case_ids], bool)

    tr, va, te = part("train"), part("val"), part("test")
    images = torch.from_numpy(arrays.images)
    train_part = train_labels.take(tr)
    val = {"images": images[va], "truth": truth[va], "reported": reported.take(va) if reported is not None else None}
    n_out = len(train_labels.names)
    model = ClassifierModel(cfg, arrays.images.shape[1], n_out, task, device)
    meta = {"net": cfg.net, "in_channels": int(arrays.images.shape[1]), "num_outputs": n_out, "task": task,
            "names": list(train_labels.names), "positive": train_labels.positive,
            "size": resolve_size(cfg.profile)}

    began = time.perf_counter()
    fit = ClsTrainer(cfg, run_dir, device, stop_after_steps).fit(model, images[tr], train_part, val, meta, resume)
    invocation = time.perf_counter() - began

    best = load_checkpoint(run_dir / "checkpoints" / "best.pt", map_location=device)
    net = model.networks["net0"]
    net.load_state_dict(best["network"])
    probs = predict_probs(net, images[te], task, device)
    test = evaluate_probs(truth[te], probs, train_labels, n_boot=cfg.n_boot, seed=cfg.seed)
    _write_predictions(run_dir / "test_predictions.csv", arrays.case_ids[te], truth[te], probs, train_labels.names)
    result = {
        "config": cfg.to_dict(), "dataset": dataset.info.name, "task": task, "names": list(train_labels.names),
        "positive": train_labels.positive, "split_source": split_source, "truth_source": truth_source,
        "n_train": int(tr.sum()), "n_train_labelled": n_labelled(train_part),
        "n_val": int(va.sum()), "n_test": int(te.sum()),
        "train_labels": label_summary(train_part, own.take(tr) if own is not None and reported is not None else None),
        "best": fit["best"], "rate_map": fit["rate_map"], "test": test,
        "train_seconds": float(sum(r["epoch_seconds"] for r in fit["history"])),
        "invocation_seconds": invocation, "environment": environment(),
    }
    atomic_write_text(run_dir / "results.json", json.dumps(result, indent=2, default=_json_default) + "\n")
    return result


def n_labelled(labels: ClsLabels) -> int:
    if labels.task == "multilabel":
        return int((~np.isnan(labels.labels)).any(1).sum())
    return int((labels.y >= 0).sum())


def label_summary(labels: ClsLabels, true: ClsLabels | None = None) -> dict:
    """Counts of the training labels per class/grade, and their error rate against true labels."""
    if labels.task == "multilabel":
        lab = labels.labels
        return {n: {"positive": int(np.sum(lab[:, k] == 1)), "uncertain": int(np.sum(lab[:, k] == -1)),
                    "negative": int(np.sum(lab[:, k] == 0)), "blank": int(np.sum(np.isnan(lab[:, k])))}
                for k, n in enumerate(labels.names)}
    out = {"classes": {n: int(np.sum(labels.y == k)) for k, n in enumerate(labels.names)},
           "unlabelled": int(np.sum(labels.y < 0)),
           "grades": {str(g): int(np.sum(labels.grades == g)) for g in sorted({str(g) for g in labels.grades})}}
    if true is not None:
        both = (labels.y >= 0) & (true.y >= 0)
        out["error_rate_vs_case_label"] = float(np.mean(labels.y[both] != true.y[both])) if both.any() else None
    return out


def _write_predictions(path: Path, ids, truth, probs, names) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["case", *(["truth"] if truth.ndim == 1 else [f"truth_{n}" for n in names]), *[f"p_{n}" for n in names]])
    for i, cid in enumerate(ids):
        t = [truth[i]] if truth.ndim == 1 else list(truth[i])
        w.writerow([cid, *["" if isinstance(v, float) and np.isnan(v) else v for v in t],
                    *[f"{p:.6f}" for p in probs[i]]])
    atomic_write_text(path, buf.getvalue())


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
