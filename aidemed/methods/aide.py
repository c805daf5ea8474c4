"""AIDE: two networks that clean each other's labels (Wang et al., Nature Communications 2021).

Every setting is learning with noisy labels: cases without a trusted mask carry a pseudo-mask (from
the bootstrap model, or the given noisy mask), and two networks A and B learn while correcting the
labels for each other. Each network keeps its own label copy: A trains on the copy that B corrects
and B on the copy that A corrects. Ground-truth masks (`TrainData.trusted`) are never rewritten.

Per step, for network A (B is symmetric):
  l_A(i)   per-sample Dice + CE of A against A's label copy
  clean    the `clean_fraction` of the batch with the lowest *peer* loss l_B (trusted cases are
           always clean when `trust_ground_truth`)
  P_B, w_B B's multi-view pseudo-target: K random views (rotation, flip) predicted in eval mode,
           mapped back and softmax-averaged; w = 1 - normalised entropy (= 1 - 4 p0 p1 for 2 classes)
  loss_A = mean_clean l_A + max(1 - lam, floor) mean_suspect l_A + beta lam mean_suspect c_A,
           c_A = mean over classes and pixels of w_B (softmax_A - P_B)^2 (the public code's MSE),
           lam = min((epoch / E_r)^2, 1)
At scheduled epochs each network predicts every correctable case; the `correction_fraction` that
agree least (Dice) with the peer's copy get that copy replaced by the prediction.
With `cutmix_area` > 0 (not the paper's) c_A is taken on the suspect images with a box pasted from
another suspect image (or, with `cutmix_partners=batch`, any other image of the batch, whose target
there is its label when it is not suspect), and P_B, w_B pasted with the same box. With `fda_band` > 0
(not the paper's either) each ground-truth image takes a random non-ground-truth case's low-frequency
amplitude spectrum before augmentation (FDA, `aidemed.data.augment.fourier_style_transfer`).

Differences from the public code, on purpose: views are predicted in eval mode and transformed as
batched tensors; labels live in memory; selection uses the clean val split; multi-class masks work;
views are computed only for the suspect samples (the only ones the consistency term uses), which
keeps an epoch within about 3x the supervised cost.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from aidemed.data.augment import fourier_style_transfer, invert_affine, random_affine, warp
from aidemed.engine.inference import predict_probs
from aidemed.losses.segmentation import PerSampleDiceCE, soft_consistency
from aidemed.methods.base import Method, StepContext
from aidemed.methods.registry import register_method


@dataclass
class AIDEOptions:
    views: int = 4
    view_rotate_degrees: float = 60.0
    view_flip: bool = True
    sharpen_temperature: float = 1.0  # < 1 sharpens the averaged views; 1 leaves them
    clean_fraction: float = 0.5
    # Least weight of the suspect samples' own supervised loss: (1 - lam) falls to this floor instead
    # of 0 (the paper). A floor of 0.1 did not stop the val-Dice drop near lam = 1 that the consistency
    # term summed over classes caused on BUSI; its mean over classes, as the public code, did
    # (docs/methods.md, "Measured on BUSI").
    suspect_weight_floor: float = 0.0
    ramp_epochs: int = 20  # E_r
    beta: float = 10.0
    correction_fraction: float = 0.25
    correction_every_after_ramp: int = 10
    # First epoch whose end may correct labels. The public code corrects from the first epoch but
    # trains 100 epochs at lr 1e-5; with budgets of 30-40 epochs, networks trained from scratch are
    # worse than the bootstrap masks for their first epochs, and early corrections overwrite good
    # masks with worse ones (phantoms, 10% labels, 30 epochs: test Dice 0.269 with corrections from
    # epoch 0, 0.612 from E_r = 20; docs/methods.md). Set 0 for the paper's schedule.
    correction_start: int = 20
    replace_with_empty: bool = False  # as the public code: an empty prediction never replaces a label
    # Least mean confidence (1 - normalised entropy) over a prediction's foreground pixels for it to
    # replace a label; 0 = every low-agreement prediction does (the paper). With noisy masks the
    # least-agreeing predictions are as often the network's failures as the corrupted masks: on BUSI
    # with 50% `mixed_strong` noise the ungated corrections lowered their labels' Dice to the clean
    # masks by 0.13 on average, the ones at confidence >= 0.8 raised it by 0.27 (docs/robustness.md).
    correction_min_confidence: float = 0.0
    # Least share of each epoch's samples drawn from the cases without a ground-truth mask (their
    # label copies are the ones AIDE filters and corrects), repeated as needed; the number of steps is
    # unchanged. 0 = every case once per epoch (the paper). In domain adaptation the target is a few
    # cases beside the source (BUSI -> STU: 21 of 474, under one per batch of 16), while mean_teacher
    # and cps draw a whole unlabelled batch every step.
    pseudo_share: float = 0.0
    largest_component: bool = False
    trust_ground_truth: bool = True
    select: str = "best"  # best (better of A and B on val) | ensemble (their average)
    bootstrap_run: str = ""  # a finished run of this budget and seed to bootstrap from (see bootstrap_rounds)
    # Models in the chain that makes the first pseudo-masks: 1 = supervised on the labelled cases (the
    # paper); 2 = then pseudo_label on its masks (one self-training round); see engine.run.bootstrap_checkpoint.
    bootstrap_rounds: int = 1
    # Re-estimate the bootstrap model's batch-norm statistics on the images it gives masks to (AdaBN)
    # before it predicts them: in domain adaptation the source-only model then sees target statistics.
    bootstrap_adapt_bn: bool = False
    # Area share of the box pasted from another suspect sample into each suspect image before the
    # consistency term (CutMix, French et al. 2020); the peer's target and confidence are pasted with
    # the same box. 0 = the consistency term sees the batch's own images (the paper). The network learns
    # the peer's prediction on an image it has not seen whole, the strong-view idea of FixMatch and
    # UniMatch. Costs one more forward and backward pass over the suspect half per network.
    cutmix_area: float = 0.0
    # Where the pasted box comes from: "suspect" (another suspect image) or "batch" (any other image of
    # the batch; a clean or ground-truth partner brings its label copy as target, with confidence 1).
    # In domain adaptation a target image is almost always the only suspect one of its batch, so only
    # "batch" mixes anything there: source content with its true mask inside the box, the target image
    # and the peer's prediction outside, the cross-domain mixing of DACS (Tranheden et al. 2021).
    cutmix_partners: str = "suspect"
    # Fourier Domain Adaptation of the ground-truth images (Yang & Soatto 2020), 0 = off (the paper): each
    # one takes, before augmentation, the low-frequency amplitude of a random case without a ground-truth
    # mask (in domain adaptation: a target image) within floor(fda_band * size) cycles per image, keeping
    # its own phase, so the networks learn the source masks on target-like brightness and gain. FDA's
    # L = 0.01 on 512-pixel-high images is a 5-cycle window; 0.04 is the same window at 128 pixels.
    fda_band: float = 0.0

    def __post_init__(self):
        if self.cutmix_partners not in ("suspect", "batch"):
            raise ValueError(f"AIDE option cutmix_partners must be 'suspect' or 'batch', got {self.cutmix_partners!r}")
        if not 0 <= self.cutmix_area < 1:
            raise ValueError(f"AIDE option cutmix_area must be in [0, 1), got {self.cutmix_area}")
        if not 0 <= self.fda_band <= 0.5:
            raise ValueError(f"AIDE option fda_band must be in [0, 0.5], got {self.fda_band}")
        if not 0 <= self.pseudo_share < 1:
            raise ValueError(f"AIDE option pseudo_share must be in [0, 1), got {self.pseudo_share}")
        if self.select not in ("best", "ensemble"):
            raise ValueError(f"AIDE select must be 'best' or 'ensemble', got {self.select!r}")


def confidence(probs: torch.Tensor) -> torch.Tensor:
    """1 - normalised entropy per pixel: 0 at a uniform prediction, 1 when certain."""
    classes = probs.shape[1]
    if classes == 2:
        return 1 - 4 * probs[:, 0] * probs[:, 1]
    entropy = -(probs.clamp_min(1e-8).log() * probs).sum(1)
    return 1 - entropy / math.log(classes)


@torch.no_grad()
def multi_view_target(net: torch.nn.Module, image: torch.Tensor, opts: AIDEOptions,
                      generator: torch.Generator, autocast=contextlib.nullcontext) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax averaged over K random views mapped back to the original frame, and its confidence.
    Pixels that no view covers (rotated out of frame) get confidence 0. `autocast` wraps the forward pass."""
    n, k = image.shape[0], opts.views
    theta = random_affine(n * k, generator, opts.view_rotate_degrees, flip_prob=0.5 if opts.view_flip else 0.0)
    views = warp(image.repeat(k, 1, 1, 1), theta)
    was_training = net.training
    net.eval()  # batch-norm statistics are not touched by the views
    with autocast():
        logits = net(views)
    probs = torch.softmax(logits.float(), dim=1)
    net.train(was_training)
    inverse = invert_affine(theta)
    back = warp(probs, inverse)
    covered = warp(torch.ones_like(probs[:, :1]), inverse)
    total = back.view(k, n, *back.shape[1:]).sum(0)
    count = covered.view(k, n, *covered.shape[1:]).sum(0)
    target = total / count.clamp_min(1e-6)
    target = target / target.sum(1, keepdim=True).clamp_min(1e-6)
    if opts.sharpen_temperature != 1.0:
        target = target ** (1 / opts.sharpen_temperature)
        target = target / target.sum(1, keepdim=True)
    weight = confidence(target) * (count[:, 0] > 0.5)
    return target, weight


def cutmix_boxes(n: int, height: int, width: int, area: float, generator: torch.Generator) -> torch.Tensor:
    """(n, 1, H, W) masks, 1 inside one axis-aligned box per sample covering `area` of the image (aspect
    ratio between 1/2 and 2, clipped to the frame), placed uniformly at random."""
    aspect = torch.exp(torch.empty(n).uniform_(-math.log(2), math.log(2), generator=generator))
    box_h = (math.sqrt(area * height * width) * aspect.sqrt()).round().clamp(1, height).long()
    box_w = (math.sqrt(area * height * width) / aspect.sqrt()).round().clamp(1, width).long()
    top = (torch.rand(n, generator=generator) * (height - box_h + 1)).long()
    left = (torch.rand(n, generator=generator) * (width - box_w + 1)).long()
    rows, cols = torch.arange(height), torch.arange(width)
    inside_rows = (rows[None] >= top[:, None]) & (rows[None] < (top + box_h)[:, None])
    inside_cols = (cols[None] >= left[:, None]) & (cols[None] < (left + box_w)[:, None])
    return (inside_rows[:, :, None] & inside_cols[:, None, :]).float()[:, None]


def paste(box: torch.Tensor, x: torch.Tensor, partner: torch.Tensor) -> torch.Tensor:
    """`partner`'s content inside the box, `x`'s outside; `x` and `partner` are (n, C, H, W)."""
    return box * partner + (1 - box) * x


def foreground_confidence(probs: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
    """Per sample: mean `confidence` over the pixels predicted as foreground (0 when there are none)."""
    fg = (prediction > 0).flatten(1).float()
    conf = confidence(probs).flatten(1)
    return (conf * fg).sum(1) / fg.sum(1).clamp_min(1)


def labels_to_correct(agreement: torch.Tensor, probs: torch.Tensor, prediction: torch.Tensor, n_replace: int,
                      opts: AIDEOptions) -> tuple[torch.Tensor, int]:
    """Indices whose label the prediction replaces: the `n_replace` least agreeing, without empty
    predictions (unless `replace_with_empty`) and below-`correction_min_confidence` ones; and how many
    the confidence gate turned away."""
    worst = torch.argsort(agreement)[:n_replace]
    if not opts.replace_with_empty:
        worst = worst[prediction[worst].flatten(1).any(1)]
    if opts.correction_min_confidence <= 0:
        return worst, 0
    sure = foreground_confidence(probs[worst], prediction[worst]) >= opts.correction_min_confidence
    return worst[sure], int((~sure).sum())


def largest_component(labels: np.ndarray) -> np.ndarray:
    """Keep the largest connected component of each foreground class."""
    cleaned = np.zeros_like(labels)
    for c in np.unique(labels):
        if c == 0:
            continue
        components, n = ndimage.label(labels == c)
        if n:
            sizes = np.bincount(components.ravel())[1:]
            cleaned[components == (np.argmax(sizes) + 1)] = c
    return cleaned


PEERS = (("A", "B"), ("B", "A"))


def _subset_mean(values: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    """Mean over the selected samples; an empty selection contributes zero (and keeps the graph)."""
    chosen = values[which]
    return chosen.mean() if chosen.numel() else chosen.sum()


def per_sample_dice(a: torch.Tensor, b: torch.Tensor, num_classes: int) -> torch.Tensor:
    scores = []
    for c in range(1, num_classes):
        pa, pb = (a == c).flatten(1), (b == c).flatten(1)
        total = (pa.sum(1) + pb.sum(1)).float()
        scores.append(torch.where(total > 0, 2 * (pa & pb).sum(1).float() / total.clamp_min(1), torch.ones_like(total)))
    return torch.stack(scores, 1).mean(1)


@register_method("aide")
class AIDE(Method):
    Options = AIDEOptions
    # Noisy masks (every mask given, none trusted): the suspect half keeps half its supervised loss and
    # labels are not rewritten. With the paper's values, on BUSI with 50% `mixed_strong` noise, val Dice
    # collapsed when lambda reached 1 and the corrections lowered the labels' agreement with the clean
    # masks; with these AIDE beat supervised on 3 of 3 seeds (docs/robustness.md, "AIDE on noisy masks").
    setting_options = {"noisy": {"suspect_weight_floor": 0.5, "correction_fraction": 0.0}}
    needs_bootstrap = True
    bootstrap = None  # a Predictor, set by the run before setup when some cases lack a mask

    def setup(self) -> None:
        self.new_network("A", seed_offset=1)
        self.new_network("B", seed_offset=2)
        self.loss = PerSampleDiceCE()
        labels = self.initial_labels()
        self.labels = {"A": labels.clone(), "B": labels.clone()}  # A trains on labels["A"], corrected by B
        self.corrections: list[dict] = []
        self.style_amplitude = self.fda_style_bank()

    def fda_style_bank(self) -> torch.Tensor | None:
        """Amplitude spectra of the cases without a ground-truth mask, the styles `fda_band` draws from."""
        if self.options.fda_band <= 0:
            return None
        styles = self.data.indices(~self.data.trusted)
        if len(styles) == 0:
            raise ValueError("AIDE option fda_band needs cases without a ground-truth mask to take styles from")
        return torch.fft.fft2(self.data.images[styles].float()).abs()

    def restyled_images(self, index: torch.Tensor, generator: torch.Generator) -> torch.Tensor | None:
        """These samples' images with each ground-truth one given a random style (`fda_band`); None when off."""
        if self.style_amplitude is None:
            return None
        image = self.data.images[index].clone()
        truth = self.data.trusted[index]
        if truth.any():
            style = torch.randint(len(self.style_amplitude), (int(truth.sum()),), generator=generator)
            image[truth] = fourier_style_transfer(image[truth], self.style_amplitude[style], self.options.fda_band)
        return image

    def initial_labels(self) -> torch.Tensor:
        """Given masks where there are any; the bootstrap model's prediction elsewhere."""
        labels = self.data.masks.clone()
        missing = self.data.indices(~self.data.has_label)
        if len(missing):
            if self.bootstrap is None:
                raise ValueError("AIDE needs a bootstrap model for the cases without a mask")
            probs = predict_probs(self.bootstrap.networks, self.data.images[missing], device=self.device)
            labels[missing] = probs.argmax(1)
        return labels

    def epoch_pool(self) -> torch.Tensor:
        """Every case, plus the non-ground-truth ones repeated until they are `pseudo_share` of the pool."""
        pool = torch.arange(len(self.data))
        pseudo = self.data.indices(~self.data.trusted)
        n_truth = len(pool) - len(pseudo)
        share = self.options.pseudo_share
        if share <= 0 or len(pseudo) == 0 or n_truth == 0:
            return pool
        copies = math.ceil(share * n_truth / ((1 - share) * len(pseudo)))
        return torch.cat([pool] + [pseudo] * max(copies - 1, 0))

    def ramp(self, epoch: int) -> float:
        return min((epoch / self.options.ramp_epochs) ** 2, 1.0) if self.options.ramp_epochs > 0 else 1.0

    def training_step(self, index: torch.Tensor, ctx: StepContext) -> dict[str, float]:
        o = self.options
        image, labels = ctx.batch(index, {"A": self.labels["A"][index], "B": self.labels["B"][index]},
                                  image=self.restyled_images(index, ctx.generator))
        trusted = self.data.trusted[index].to(self.device)
        nets = self.networks
        for net in nets.values():
            net.train()
        with ctx.autocast():
            logits = {k: nets[k](image) for k in ("A", "B")}
        losses = {k: self.loss(logits[k], labels[k]) for k in ("A", "B")}
        lam = self.ramp(ctx.epoch)
        logs = {"lambda": lam}
        suspects = {k: self.suspect_mask(losses[peer].detach(), trusted) for k, peer in PEERS}
        targets = {}
        if lam > 0:  # both peers' targets before either network steps, so A and B are treated alike
            for k, peer in PEERS:
                if suspects[k].any():
                    targets[k] = multi_view_target(nets[peer], image[suspects[k]], o, ctx.generator, ctx.autocast)
        for k, peer in PEERS:
            suspect = suspects[k]
            suspect_weight = max(1 - lam, o.suspect_weight_floor)
            loss = _subset_mean(losses[k], ~suspect) + suspect_weight * _subset_mean(losses[k], suspect)
            if k in targets:
                probs, target, conf = self.consistency_inputs(k, image, logits[k], labels[k], suspect, targets[k], ctx)
                consistency = soft_consistency(probs, target, conf)
                loss = loss + o.beta * lam * consistency.mean()
                logs[f"consistency_{k}"] = float(consistency.detach().mean())
            self.step_optimizer(k, loss)
            logs[f"loss_{k}"] = loss.item()
        logs["loss"] = (logs["loss_A"] + logs["loss_B"]) / 2
        return logs

    def consistency_inputs(self, k: str, image: torch.Tensor, logits: torch.Tensor, label: torch.Tensor,
                           suspect: torch.Tensor, peer_target: tuple[torch.Tensor, torch.Tensor], ctx: StepContext):
        """Network k's softmax, the peer's target and its confidence on the batch's suspect images: as they
        are, or with `cutmix_area` each one with a box pasted from its partner (see `cutmix_pool`).
        `image`, `logits` and `label` are the whole batch's; `peer_target` covers the suspect images only."""
        target, conf = peer_target
        if self.options.cutmix_area <= 0:
            return torch.softmax(logits[suspect].float(), dim=1), target, conf
        pool_image, pool_target, pool_conf, partner = self.cutmix_pool(image, label, suspect, peer_target, ctx.generator)
        own = image[suspect]
        n, _, height, width = own.shape
        box = cutmix_boxes(n, height, width, self.options.cutmix_area, ctx.generator).to(image.device)
        with ctx.autocast():
            mixed_logits = self.networks[k](paste(box, own, pool_image[partner]))
        mixed_target = paste(box, target, pool_target[partner])
        mixed_conf = paste(box, conf[:, None], pool_conf[partner][:, None])[:, 0]
        return torch.softmax(mixed_logits.float(), dim=1), mixed_target, mixed_conf

    def cutmix_pool(self, image: torch.Tensor, label: torch.Tensor, suspect: torch.Tensor,
                    peer_target: tuple[torch.Tensor, torch.Tensor], generator: torch.Generator):
        """Images, targets and confidences the suspect images take their box from, and each one's partner
        in them. "suspect": a random permutation of the suspect images (itself where it leaves one in place,
        so a suspect image alone in its batch stays whole). "batch": a uniformly drawn other image of the
        batch; where it is not suspect its target is its label copy, with confidence 1."""
        target, conf = peer_target
        n = int(suspect.sum())
        if self.options.cutmix_partners == "suspect":
            return image[suspect], target, conf, torch.randperm(n, generator=generator).to(image.device)
        pool_target = torch.nn.functional.one_hot(label, target.shape[1]).permute(0, 3, 1, 2).to(target.dtype)
        pool_target[suspect] = target
        pool_conf = torch.ones(label.shape, dtype=conf.dtype, device=conf.device)
        pool_conf[suspect] = conf
        batch = len(image)
        offset = torch.randint(1, max(batch, 2), (n,), generator=generator).to(image.device)
        partner = (suspect.nonzero()[:, 0] + offset) % batch
        return image, pool_target, pool_conf, partner

    def suspect_mask(self, peer_loss: torch.Tensor, trusted: torch.Tensor) -> torch.Tensor:
        n_clean = int(round(self.options.clean_fraction * len(peer_loss)))
        order = torch.argsort(peer_loss)
        suspect = torch.ones_like(peer_loss, dtype=torch.bool)
        suspect[order[:n_clean]] = False
        if self.options.trust_ground_truth:
            suspect &= ~trusted
        return suspect

    def is_correction_epoch(self, epoch: int) -> bool:
        """Every epoch before E_r, then every `correction_every_after_ramp`-th counted from E_r (or from
        `correction_start` when later); never after the last epoch, whose labels nobody trains on."""
        o = self.options
        if o.correction_fraction <= 0 or epoch < o.correction_start or epoch >= self.cfg.epochs - 1:
            return False
        if epoch < o.ramp_epochs:
            return True
        return (epoch - max(o.correction_start, o.ramp_epochs)) % o.correction_every_after_ramp == 0

    def on_epoch_end(self, epoch: int, ctx: StepContext) -> dict:
        logs = super().on_epoch_end(epoch, ctx)
        if self.is_correction_epoch(epoch):
            logs.update(self.correct_labels(epoch))
        return logs

    @torch.no_grad()
    def correct_labels(self, epoch: int) -> dict:
        """Each network rewrites the peer's copy where they agree least (never ground truth)."""
        correctable = self.data.indices(~self.data.trusted)
        if len(correctable) == 0:
            return {}
        n_replace = int(round(self.options.correction_fraction * len(correctable)))
        logs = {}
        for k, peer in (("A", "B"), ("B", "A")):
            probs = predict_probs([self.networks[k]], self.data.images[correctable], device=self.device)
            prediction = probs.argmax(1)
            if self.options.largest_component:
                prediction = torch.from_numpy(np.stack([largest_component(p) for p in prediction.numpy()]))
            agreement = per_sample_dice(prediction, self.labels[peer][correctable], self.data.num_classes)
            worst, unsure = labels_to_correct(agreement, probs, prediction, n_replace, self.options)
            if self.options.correction_min_confidence > 0:
                logs[f"unsure_skipped_by_{k}"] = unsure
            self.labels[peer][correctable[worst]] = prediction[worst].to(self.labels[peer].dtype)
            logs[f"corrected_by_{k}"] = len(worst)
            logs[f"agreement_{k}"] = float(agreement.mean())
            self.corrections.append({"epoch": epoch, "by": k, "cases": self.data.case_ids[correctable[worst].numpy()].tolist()})
        return logs

    def candidates(self) -> dict[str, list[torch.nn.Module]]:
        if self.options.select == "ensemble":
            return {"ensemble": [self.networks["A"], self.networks["B"]]}
        return {"A": [self.networks["A"]], "B": [self.networks["B"]]}

    def extra_state(self) -> dict:
        return {"labels_A": self.labels["A"].to(torch.uint8), "labels_B": self.labels["B"].to(torch.uint8),
                "corrections": self.corrections}

    def load_extra_state(self, state: dict) -> None:
        self.labels = {"A": state["labels_A"].long().cpu(), "B": state["labels_B"].long().cpu()}
        self.corrections = list(state["corrections"])
