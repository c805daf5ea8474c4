"""Plain supervised training on the given masks: Dice + cross-entropy."""

from __future__ import annotations

import torch

from aidemed.losses.segmentation import PerSampleDiceCE
from aidemed.methods.base import Method, StepContext
from aidemed.methods.registry import register_method


@register_method("supervised")
class Supervised(Method):
    def setup(self) -> None:
        self.new_network("model")
        self.loss = PerSampleDiceCE()

    def training_step(self, index: torch.Tensor, ctx: StepContext) -> dict[str, float]:
        image, labels = ctx.batch(index, {"label": self.data.masks[index]})
        net = self.networks["model"]
        net.train()
        with ctx.autocast():
            logits = net(image)
        losses = self.loss(logits, labels["label"])
        self.record_sample_losses(index, losses)
        loss = losses.mean()
        self.step_optimizer("model", loss)
        return {"loss": loss.item()}
