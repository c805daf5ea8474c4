"""Semi-supervised baselines for AIDE, with the same network, augmentation and iteration budget.

pseudo_label  the bootstrap model's masks for the unlabelled cases, then one network on all masks
mean_teacher  an EMA teacher; consistency (softmax MSE) on unlabelled images, sigmoid ramp-up
              (Tarvainen & Valpola, 2017)
cps           cross pseudo supervision: two networks, each supervised on unlabelled images by the
              other's hard prediction (Chen et al., CVPR 2021)
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from aidemed.engine.inference import predict_probs
from aidemed.losses.segmentation import PerSampleDiceCE
from aidemed.methods.base import Method, StepContext, ema_update
from aidemed.methods.registry import register_method
from aidemed.methods.supervised import Supervised


def sigmoid_rampup(epoch: int, ramp_epochs: int) -> float:
    """exp(-5 (1 - t)^2), the ramp-up of Laine & Aila and Tarvainen & Valpola."""
    if ramp_epochs <= 0:
        return 1.0
    t = min(max(epoch / ramp_epochs, 0.0), 1.0)
    return math.exp(-5.0 * (1.0 - t) ** 2)


@dataclass
class PseudoLabelOptions:
    bootstrap_run: str = ""
    bootstrap_rounds: int = 1  # as AIDE's: 2 = train on the masks of a pseudo_label model (self-training)
    bootstrap_adapt_bn: bool = False  # as AIDE's: AdaBN on the unlabelled images before they get masks


@register_method("pseudo_label")
class PseudoLabel(Supervised):
    Options = PseudoLabelOptions
    needs_bootstrap = True
    bootstrap = None

    def setup(self) -> None:
        super().setup()
        missing = self.data.indices(~self.data.has_label)
        if len(missing):
            probs = predict_probs(self.bootstrap.networks, self.data.images[missing], device=self.device)
            self.data.masks = self.data.masks.clone()
            self.data.masks[missing] = probs.argmax(1)

    def epoch_pool(self) -> torch.Tensor:
        return torch.arange(len(self.data))


class _LabelledPlusUnlabelled(Method):
    """Each step: a labelled batch from the epoch's order, plus an unlabelled batch drawn at random."""

    def unlabelled_batch(self, size: int, ctx: StepContext) -> torch.Tensor:
        pool = self.data.indices(~self.data.has_label)
        if len(pool) == 0:
            pool = torch.arange(len(self.data))
        return pool[torch.randint(len(pool), (size,), generator=ctx.generator)]


@dataclass
class MeanTeacherOptions:
    ema_decay: float = 0.99
    consistency_weight: float = 1.0
    ramp_epochs: int = 20
    teacher_noise: float = 0.1  # extra input noise for the teacher's view


@register_method("mean_teacher")
class MeanTeacher(_LabelledPlusUnlabelled):
    Options = MeanTeacherOptions

    def setup(self) -> None:
        self.new_network("student")
        self.teacher = copy.deepcopy(self.networks["student"])
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.loss = PerSampleDiceCE()

    def training_step(self, index: torch.Tensor, ctx: StepContext) -> dict[str, float]:
        o = self.options
        image, labels = ctx.batch(index, {"label": self.data.masks[index]})
        unlabelled, _ = ctx.batch(self.unlabelled_batch(len(index), ctx), {})
        student = self.networks["student"]
        student.train()
        with ctx.autocast():
            logits = student(torch.cat([image, unlabelled]))
        supervised = self.loss(logits[: len(index)], labels["label"]).mean()
        with torch.no_grad():
            self.teacher.train()  # BN in train mode as in the reference implementation; no gradients
            noisy = unlabelled + o.teacher_noise * torch.randn(unlabelled.shape, generator=ctx.generator).to(unlabelled)
            with ctx.autocast():
                teacher_logits = self.teacher(noisy)
            teacher_probs = torch.softmax(teacher_logits.float(), dim=1)
        consistency = F.mse_loss(torch.softmax(logits[len(index):].float(), dim=1), teacher_probs)
        weight = o.consistency_weight * sigmoid_rampup(ctx.epoch, o.ramp_epochs)
        loss = supervised + weight * consistency
        self.step_optimizer("student", loss)
        self.update_teacher()
        return {"loss": loss.item(), "supervised": supervised.item(), "consistency": consistency.item()}

    @torch.no_grad()
    def update_teacher(self) -> None:
        ema_update(self.teacher, self.networks["student"], self.options.ema_decay)

    def candidates(self) -> dict[str, list[torch.nn.Module]]:
        return {"student": [self.networks["student"]], "teacher": [self.teacher]}

    def extra_state(self) -> dict:
        return {"teacher": self.teacher.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        self.teacher.load_state_dict(state["teacher"])


@dataclass
class CPSOptions:
    cps_weight: float = 1.5
    ramp_epochs: int = 20


@register_method("cps")
class CrossPseudoSupervision(_LabelledPlusUnlabelled):
    Options = CPSOptions

    def setup(self) -> None:
        self.new_network("A", seed_offset=1)
        self.new_network("B", seed_offset=2)
        self.loss = PerSampleDiceCE()

    def training_step(self, index: torch.Tensor, ctx: StepContext) -> dict[str, float]:
        image, labels = ctx.batch(index, {"label": self.data.masks[index]})
        unlabelled, _ = ctx.batch(self.unlabelled_batch(len(index), ctx), {})
        both = torch.cat([image, unlabelled])
        for net in self.networks.values():
            net.train()
        with ctx.autocast():
            logits = {k: self.networks[k](both) for k in ("A", "B")}
        hard = {k: logits[k].detach().argmax(1) for k in ("A", "B")}
        weight = self.options.cps_weight * sigmoid_rampup(ctx.epoch, self.options.ramp_epochs)
        logs = {}
        for k, peer in (("A", "B"), ("B", "A")):
            supervised = self.loss(logits[k][: len(index)], labels["label"]).mean()
            cross = F.cross_entropy(logits[k].float(), hard[peer])
            loss = supervised + weight * cross
            logs[f"loss_{k}"] = loss.item()
            # Both losses share no graph (the peer's target is detached), so each net steps alone.
            self.step_optimizer(k, loss)
        logs["loss"] = (logs["loss_A"] + logs["loss_B"]) / 2
        return logs

