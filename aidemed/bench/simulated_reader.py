"""A simulated breast-ultrasound reader: one short report sentence per case, with graded hedges and
errors that concentrate in hedged phrasing (the data generator of the report-label benchmark).

    make_reader_dataset("prepared/busi", "prepared/busi-reader-e20-s0", ReaderConfig(error_rate=0.2), seed=0)

For each case of the reader's splits (train and val by default; test keeps only its true label):

1. **Difficulty** d in [0, 1] from the image and its lesion mask: the percentile rank (among the
   reader's cases) of the lesion size (area fraction) and of its contrast (|mean inside - mean in a
   ring around it| / image std), d = 1 - (size_weight * rank(size) + (1 - size_weight) * rank(contrast)).
   Small, faint lesions are hard (d near 1). Cases without a mask get d = 0.5.
2. **Confidence tier** (firm, likely, possible, cannot_exclude) drawn from `hedge_probs`, shifted
   towards hedging on hard images: tier logits log(hedge_probs) + difficulty_hedging * d * (0, 1, 2, 3).
3. **Error**: the reader states the wrong class with probability
   min(max_error, k * tier_error_weights[tier] * (0.5 + d) * (benign_error_factor for benign cases)),
   so errors are rarer in firm statements and on easy images. k is fitted by bisection on the
   cases' own random draws, so the realised share of wrong statements equals `error_rate` up to one
   case (about 1/N), not just in expectation.
4. **Level** from the stated class and the tier: stated malignant -> firm_positive, likely, possible,
   cannot_exclude; stated benign -> firm_negative for a firm tier, else unlikely (the negative side of
   the scale has two steps, like the labeler's grades).
5. **Sentence**: a template of the level (`TEMPLATES`, several per level, filled with a location and a
   size), e.g. "Irregular hypoechoic mass, highly suspicious for malignancy." or "Probably benign."

Levels and the labeler grades they are written to produce (vocabulary `breast_malignancy`, on the
malignancy scale; "probably benign" is malignancy `unlikely`):

| level | grade | stated class |
|---|---|---|
| firm_positive | definite | malignant |
| likely | probable | malignant |
| possible | possible | malignant |
| cannot_exclude | cannot_exclude | malignant |
| unlikely | unlikely | benign |
| firm_negative | negated | benign |

An "error" is a stated class (the direction of the statement) that differs from the true class.
The output dataset references the source images and masks (absolute paths), keeps the source split
and every true label in `Case.label`, puts the sentence in `Case.report` and the draw in
`Case.extra["reader"]`; `reader.json` holds the config and the realised rates per level.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

TIERS = ("firm", "likely", "possible", "cannot_exclude")
LEVELS = ("firm_positive", "likely", "possible", "cannot_exclude", "unlikely", "firm_negative")
LEVEL_GRADE = {"firm_positive": "definite", "likely": "probable", "possible": "possible",
               "cannot_exclude": "cannot_exclude", "unlikely": "unlikely", "firm_negative": "negated"}
LEVEL_SAYS_MALIGNANT = {lv: lv not in ("unlikely", "firm_negative") for lv in LEVELS}
MALIGNANT_LEVEL = dict(zip(TIERS, LEVELS[:4]))
BENIGN_LEVEL = {"firm": "firm_negative", "likely": "unlikely", "possible": "unlikely", "cannot_exclude": "unlikely"}

TEMPLATES: dict[str, tuple[str, ...]] = {
    "firm_positive": (
        "Irregular hypoechoic mass with spiculated margins, consistent with carcinoma.",
        "{Loc}: irregular mass with angular margins and posterior acoustic shadowing, diagnostic of malignancy.",
        "Spiculated taller-than-wide mass measuring {size} cm, representing a breast carcinoma.",
        "Malignant-appearing irregular mass with posterior shadowing.",
        "{Loc}: non-parallel hypoechoic mass with an echogenic halo, in keeping with invasive ductal carcinoma.",
        "Findings are consistent with a malignant tumor.",
    ),
    "likely": (
        "Irregular hypoechoic mass, highly suspicious for malignancy.",
        "{Loc}: hypoechoic mass with indistinct margins, most likely a carcinoma.",
        "Solid mass measuring {size} cm with microlobulated margins, concerning for malignancy.",
        "Findings are suggestive of a malignant lesion.",
        "Irregular solid mass, probably malignant.",
    ),
    "possible": (
        "Findings possibly represent a malignant lesion.",
        "{Loc}: heterogeneous hypoechoic lesion which may represent a carcinoma.",
        "Indeterminate solid mass measuring {size} cm; possible malignancy.",
        "Partly circumscribed mass that could represent a malignant tumor.",
    ),
    "cannot_exclude": (
        "Malignancy cannot be excluded.",
        "{Loc}: hypoechoic lesion with partly indistinct margins; malignancy cannot be excluded.",
        "Complex cystic and solid mass measuring {size} cm; cannot exclude malignancy.",
        "Carcinoma cannot be ruled out.",
        "A malignant process is not excluded.",
    ),
    "unlikely": (
        "Probably benign.",
        "Circumscribed oval mass, likely a fibroadenoma.",
        "{Loc}: oval parallel mass with circumscribed margins; malignancy is considered unlikely.",
        "Circumscribed oval hypoechoic mass measuring {size} cm, probably benign.",
        "Malignancy is unlikely.",
    ),
    "firm_negative": (
        "Benign-appearing cyst.",
        "{Loc}: simple cyst. No sonographic evidence of malignancy.",
        "Oval circumscribed mass measuring {size} cm with benign features.",
        "No sonographic features of malignancy.",
        "Anechoic oval lesion with posterior enhancement, benign.",
    ),
}


@dataclass
class ReaderConfig:
    error_rate: float = 0.2  # target share of reports (in the calibration split) stating the wrong class
    hedge_probs: tuple = (0.5, 0.25, 0.15, 0.10)  # P(tier) for firm, likely, possible, cannot_exclude at d = 0
    difficulty_hedging: float = 0.5  # tier logit shift per tier step at d = 1 (hard images hedge more)
    tier_error_weights: tuple = (1.0, 3.0, 6.0, 9.0)  # relative error odds of the four tiers
    max_error: float = 0.9  # cap on any case's error probability
    # per_case: the steps above. bayes: a calibrated reader (see `_bayes_reader`); hedge_probs,
    # difficulty_hedging, tier_error_weights, max_error and benign_error_factor are not used then
    error_model: str = "per_case"
    confidence_thresholds: tuple = (0.9, 0.75, 0.6)  # bayes: least posterior of firm, likely, possible
    difficulty_weight: float = 0.8  # bayes: evidence strength s * (1 - difficulty_weight * d)
    benign_error_factor: float = 1.0  # >1: benign lesions are over-called more often than cancers missed
    size_weight: float = 0.5  # difficulty: weight of lesion size vs contrast
    ring_pixels: int = 5  # width of the background ring for the contrast (in pixels of `profile`)
    profile: str = "standard"  # resolution the difficulty is measured at (the cached arrays)
    positive_class: str = "malignant"
    negative_class: str = "benign"
    splits: tuple = ("train", "val")  # cases that get a report
    calibrate_on: str = "train"  # split whose realised error is matched to error_rate
    templates: dict = field(default_factory=lambda: {k: list(v) for k, v in TEMPLATES.items()})

    @classmethod
    def from_dict(cls, data: dict) -> "ReaderConfig":
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown reader config keys: {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) and k != "templates" else v for k, v in data.items()})


def lesion_difficulty(images: np.ndarray, masks: np.ndarray, has_mask: np.ndarray, size_weight: float = 0.5,
                      ring_pixels: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(difficulty, size, contrast) per sample from (N, C, S, S) images and (N, S, S) masks."""
    from scipy import ndimage

    n = len(images)
    size, contrast = np.full(n, np.nan), np.full(n, np.nan)
    for i in range(n):
        m = masks[i] > 0
        if not has_mask[i] or not m.any():
            continue
        img = images[i].mean(0)
        ring = ndimage.binary_dilation(m, iterations=ring_pixels) & ~m
        size[i] = m.mean()
        outside = img[ring] if ring.any() else img[~m]
        contrast[i] = abs(img[m].mean() - outside.mean()) / (img.std() + 1e-6) if outside.size else 0.0
    known = ~np.isnan(size)
    difficulty = np.full(n, 0.5)
    if known.sum() > 1:
        rank = lambda v: (np.argsort(np.argsort(v)) / (len(v) - 1))  # noqa: E731
        difficulty[known] = 1 - (size_weight * rank(size[known]) + (1 - size_weight) * rank(contrast[known]))
    return difficulty, size, contrast


def simulate_reports(truth_malignant: np.ndarray, difficulty: np.ndarray, cfg: ReaderConfig, seed: int = 0,
                     calibrate: np.ndarray | None = None) -> dict:
    """Draw tier, error, level and sentence per case. `calibrate`: cases whose realised error is matched."""
    truth = np.asarray(truth_malignant, bool)
    d = np.asarray(difficulty, float)
    n = len(truth)
    rng = np.random.default_rng(seed)
    u_tier, u_err, u_tpl = rng.random(n), rng.random(n), rng.random(n)
    cal = np.ones(n, bool) if calibrate is None else np.asarray(calibrate, bool)
    if not cal.any():
        raise ValueError("no cases to calibrate the error rate on")
    if cfg.error_model == "per_case":
        tier, error, k, error_probability = _per_case_reader(truth, d, u_tier, u_err, cal, cfg)
    elif cfg.error_model == "bayes":
        tier, error, k, error_probability = _bayes_reader(truth, d, u_err, cal, cfg)
    else:
        raise ValueError(f"error_model must be 'per_case' or 'bayes', got {cfg.error_model!r}")
    stated = np.where(error, ~truth, truth)
    levels = np.array([MALIGNANT_LEVEL[TIERS[t]] if s else BENIGN_LEVEL[TIERS[t]] for t, s in zip(tier, stated)])
    sentences = []
    for i, lv in enumerate(levels):
        options = cfg.templates[lv]
        text = options[int(u_tpl[i] * len(options)) % len(options)]
        side = ("Right", "Left")[int(u_tpl[i] * 997) % 2]
        clock = 1 + int(u_tpl[i] * 7919) % 12
        size = 0.5 + 2.5 * (1 - d[i]) * 0.8 + 0.2 * ((u_tpl[i] * 31) % 1)
        sentences.append(text.format(Loc=f"{side} breast at {clock} o'clock", size=f"{size:.1f}"))
    return {"tier": np.array(TIERS)[tier], "error": error, "stated_malignant": stated, "level": levels,
            "sentence": sentences, "k": k, "error_probability": error_probability}


def _bisect(realised, target: float) -> float:
    """The least parameter (to 60 halvings) whose realised error reaches `target`; realised must rise with it."""
    lo, hi = 0.0, 1.0
    while realised(hi) < target:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if realised(mid) < target else (lo, mid)
    return hi


def _per_case_reader(truth, d, u_tier, u_err, cal, cfg: ReaderConfig):
    """Steps 2-3 of the module doc: a tier by difficulty, then an error with a per-case probability."""
    logits = np.log(np.asarray(cfg.hedge_probs, float))[None, :] + cfg.difficulty_hedging * d[:, None] * np.arange(4)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    tier = (u_tier[:, None] > np.cumsum(probs, 1)).sum(1).clip(0, 3)
    weight = np.asarray(cfg.tier_error_weights, float)[tier] * (0.5 + d)
    weight = np.where(truth, weight, weight * cfg.benign_error_factor)

    def realised(k):
        return float(np.mean(u_err[cal] < np.minimum(cfg.max_error, k * weight[cal])))

    if not 0 <= cfg.error_rate <= realised(1e9):
        raise ValueError(f"error_rate {cfg.error_rate} is out of reach (at most {realised(1e9):.3f} with max_error "
                         f"{cfg.max_error})")
    k = _bisect(realised, cfg.error_rate)
    p_error = np.minimum(cfg.max_error, k * weight)
    return tier, u_err < p_error, k, p_error


def _bayes_reader(truth, d, u_err, cal, cfg: ReaderConfig):
    """A calibrated reader: it states the class its posterior favours and hedges by how sure it is.

    Evidence z = (+1 malignant, -1 benign) * mu + eps, eps ~ N(0, 1) (from the case's uniform draw),
    mu = s * (1 - difficulty_weight * d): hard images carry less evidence. The reader knows mu and the
    prior pi (share of malignant cases), so its posterior is sigmoid(logit(pi) + 2 mu z); it says
    malignant when that is >= 0.5 and picks the tier from its confidence max(p, 1 - p) against
    `confidence_thresholds` (firm, likely, possible; below: cannot_exclude). Every level is then right
    more often than wrong and hedges are as sure as they sound, so its error is below min(pi, 1 - pi)
    (`label_information`); the skill s is fitted by bisection (with less skill the reader errs more)
    so the `calibrate_on` split's error matches `error_rate` up to a case or two.
    """
    from scipy.special import expit, logit, ndtr, ndtri

    prior = float(np.clip(truth.mean(), 1e-6, 1 - 1e-6))
    ceiling = min(prior, 1 - prior)
    if not 0 <= cfg.error_rate < ceiling:
        raise ValueError(f"error_rate {cfg.error_rate} is out of reach for a calibrated (bayes) reader: it errs on "
                         f"less than min(pi, 1 - pi) = {ceiling:.3f} of these cases")
    eps = ndtri(np.clip(u_err, 1e-12, 1 - 1e-12))
    sign = np.where(truth, 1.0, -1.0)

    def posterior(skill):
        mu = np.maximum(skill * (1 - cfg.difficulty_weight * d), 1e-9)
        return expit(logit(prior) + 2 * mu * (sign * mu + eps)), mu

    def realised(inverse_skill):  # rises with 1 / skill, as _bisect needs
        p, _ = posterior(1 / max(inverse_skill, 1e-12))
        return float(np.mean((p >= 0.5)[cal] != truth[cal]))

    inverse_skill = _bisect(realised, cfg.error_rate)
    p, mu = posterior(1 / inverse_skill)
    stated = p >= 0.5
    sure = np.maximum(p, 1 - p)
    tier = 3 - (sure[:, None] >= np.asarray(cfg.confidence_thresholds, float)[None, :]).sum(1)
    threshold = -logit(prior) / (2 * mu)  # says malignant when z >= threshold
    p_error = np.where(truth, ndtr(threshold - mu), 1 - ndtr(threshold + mu))
    return tier, stated != truth, 1 / inverse_skill, p_error


def level_stats(levels, errors) -> dict:
    levels, errors = np.asarray(levels), np.asarray(errors, bool)
    return {lv: {"n": int(np.sum(levels == lv)),
                 "error_rate": float(errors[levels == lv].mean()) if np.any(levels == lv) else None} for lv in LEVELS}


def label_information(levels: dict) -> dict:
    """How much a reader's statements can say, from its per-level stats (`level_stats` output).

    A statement level is *informative* when it is right more often than wrong (share wrong < 0.5).
    If every level is informative, the reader errs on at most min(pi, 1 - pi) of the cases (pi: the
    share of malignant cases): a stated-malignant level wrong on n (1 - precision) <= n * precision
    cases, i.e. on no more cases than its malignant ones, and a stated-benign level is wrong exactly on
    its malignant ones, so the errors never exceed the malignant count (nor, symmetrically, the benign
    count). Hence a reader with an error rate above that bound states at least one level wrong more
    often than right; a soft target on the stated side (any smoothing rate r <= 1) cannot point such
    a level the right way, a policy that flips or drops it can.
    """
    n = sum(s["n"] for s in levels.values())
    if n == 0:
        raise ValueError("no statements to measure")
    wrong = {lv: s["n"] * s["error_rate"] for lv, s in levels.items() if s["n"]}
    malignant = sum(s["n"] - wrong[lv] if LEVEL_SAYS_MALIGNANT[lv] else wrong[lv]
                    for lv, s in levels.items() if s["n"])
    prevalence = malignant / n
    return {"n": n, "prevalence": prevalence, "error_rate": sum(wrong.values()) / n,
            "informative_bound": min(prevalence, 1 - prevalence),
            "misleading_levels": [lv for lv, s in levels.items() if s["n"] and s["error_rate"] > 0.5]}


def make_reader_dataset(src: str | Path, out: str | Path, cfg: ReaderConfig | None = None, seed: int = 0,
                        force: bool = False):
    """Write OUT: the source dataset's cases and split, with simulated report sentences (see module doc)."""
    from aidemed.data.cache import load_arrays
    from aidemed.data.io import DataError
    from aidemed.data.manifest import atomic_write_text, load_dataset, write_dataset

    cfg = cfg or ReaderConfig()
    src, out = Path(src), Path(out)
    dataset = load_dataset(src)
    splits = dataset.load_splits()
    if out.exists() and any(out.iterdir()):
        if not force:
            raise DataError(f"{out}: already exists and is not empty; use --force to replace it")
        shutil.rmtree(out)
    in_split = {cid: name for name in ("train", "val", "test") for cid in splits.get(name, [])}
    cases = [c for c in dataset.cases if c.id in in_split]
    bad = sorted({c.label for c in cases} - {cfg.positive_class, cfg.negative_class}, key=str)
    if bad:
        raise DataError(f"{src}: split cases have class labels {bad}; the reader knows only "
                        f"{cfg.positive_class}/{cfg.negative_class} (re-split with --exclude-label)")
    reader_cases = [c for c in cases if in_split[c.id] in cfg.splits]
    arrays = load_arrays(dataset, cfg.profile).select_cases([c.id for c in reader_cases])
    first = {}
    for i, cid in enumerate(arrays.case_ids):  # one sample per 2D case (first slice of a volume)
        first.setdefault(cid, i)
    rows = [first[c.id] for c in reader_cases]
    difficulty, size, contrast = lesion_difficulty(arrays.images[rows], arrays.masks[rows], arrays.has_mask[rows],
                                                   cfg.size_weight, cfg.ring_pixels)
    truth = np.array([c.label == cfg.positive_class for c in reader_cases])
    calibrate = np.array([in_split[c.id] == cfg.calibrate_on for c in reader_cases])
    sim = simulate_reports(truth, difficulty, cfg, seed, calibrate if calibrate.any() else None)
    by_id = {c.id: i for i, c in enumerate(reader_cases)}
    new_cases = []
    for c in cases:
        image_paths = [str(dataset.path(p).resolve()) for p in c.images]
        mask = str(dataset.mask_path(c).resolve()) if c.mask else None
        extra = dict(c.extra)
        report = None
        if c.id in by_id:
            i = by_id[c.id]
            report = sim["sentence"][i]
            extra["reader"] = {"level": str(sim["level"][i]), "grade": LEVEL_GRADE[str(sim["level"][i])],
                               "tier": str(sim["tier"][i]), "error": bool(sim["error"][i]),
                               "stated": cfg.positive_class if sim["stated_malignant"][i] else cfg.negative_class,
                               "difficulty": float(difficulty[i]),
                               "lesion_size": None if np.isnan(size[i]) else float(size[i]),
                               "contrast": None if np.isnan(contrast[i]) else float(contrast[i])}
        new_cases.append(type(c)(**{**{f: getattr(c, f) for f in c.__dataclass_fields__},
                                    "images": image_paths, "mask": mask, "report": report, "extra": extra}))
    stats = {name: {"n": int(np.sum(sel)), "error_rate": float(sim["error"][sel].mean()) if sel.any() else None,
                    "levels": level_stats(sim["level"][sel], sim["error"][sel])}
             for name in cfg.splits for sel in [np.array([in_split[c.id] == name for c in reader_cases])]}
    summary = {"config": asdict(cfg), "seed": seed, "source": str(src.resolve()), "k": sim["k"], "splits": stats}
    info = dataset.info
    info.name = f"{info.name}-reader-e{cfg.error_rate:g}-s{seed}"
    info.classes = [cfg.negative_class, cfg.positive_class]
    info.extra = {**info.extra, "reader": {"error_rate": cfg.error_rate, "seed": seed, "source": str(src.resolve())}}
    result = write_dataset(out, info, new_cases)
    atomic_write_text(out / "splits.json", json.dumps(splits, indent=1) + "\n")
    atomic_write_text(out / "reader.json", json.dumps(summary, indent=2) + "\n")
    return result
