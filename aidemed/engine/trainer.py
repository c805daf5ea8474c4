"""The training loop: epochs, device and precision, seeding, progress, validation, model selection,
metrics logs and atomic, resumable checkpoints. Model logic lives in `aidemed.methods`."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from aidemed.data.cache import ArraySet
from aidemed.engine.history import write_history
from aidemed.engine.checkpoint import load_checkpoint, save_checkpoint
from aidemed.engine.config import TrainConfig
from aidemed.engine.inference import per_case_dice, predict_probs
from aidemed.engine.seed import epoch_generator, mixed_precision, warn_if_bf16_is_emulated
from aidemed.methods.base import Method, StepContext


def require_compiler(device: torch.device) -> None:
    """torch.compile on the CPU generates C++; without a compiler it fails only at the first step, deep in
    inductor, so say so before training starts."""
    import os
    import shutil

    compiler = os.environ.get("CXX", "g++")
    if device.type == "cpu" and shutil.which(compiler) is None:
        raise RuntimeError(f"--compile on the CPU needs a C++ compiler ({compiler!r} not found on PATH; "
                           "install g++ or set CXX), or train without --compile")


class Interrupted(RuntimeError):
    """Raised by the `stop_after_steps` test hook to simulate a process killed mid-epoch."""


class ValidationSet:
    def __init__(self, arrays: ArraySet, num_classes: int):
        self.images = torch.from_numpy(arrays.images)
        self.masks = torch.from_numpy(arrays.masks.astype(np.int64))
        cases, self.case_index = np.unique(arrays.case_ids, return_inverse=True)
        self.case_index = torch.from_numpy(self.case_index.astype(np.int64))
        self.num_cases, self.num_classes = len(cases), num_classes

    def score(self, networks, device) -> float:
        probs = predict_probs(networks, self.images, device=device)
        dice = per_case_dice(probs.argmax(1), self.masks, self.case_index, self.num_cases, self.num_classes)
        return float(dice.mean())


def check_loop_options(cfg: TrainConfig) -> None:
    """Refuse loop options the Trainer cannot honour, before anything is written for the run."""
    if cfg.keep_every < 0:
        raise ValueError(f"keep_every must be 0 (off) or a number of epochs, got {cfg.keep_every}")
    if not 0.0 <= cfg.weight_ema < 1.0:
        raise ValueError(f"weight_ema must be a decay in [0, 1) (0: off), got {cfg.weight_ema}")


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: str | Path, device: torch.device, stop_after_steps: int | None = None):
        check_loop_options(cfg)
        self.cfg, self.run_dir, self.device = cfg, Path(run_dir), device
        self.checkpoint_dir = self.run_dir / "checkpoints"
        self.stop_after_steps = stop_after_steps  # test hook: simulate a kill after this many steps
        self.history: list[dict] = []
        self.best = {"score": -math.inf, "epoch": -1, "candidate": ""}

    # ----- precision
    def autocast(self):
        return mixed_precision(self.device, self.cfg.amp, self.cfg.cpu_bf16)

    # ----- checkpoints
    @property
    def last_path(self) -> Path:
        return self.checkpoint_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.checkpoint_dir / "best.pt"

    def epoch_path(self, epoch: int) -> Path:
        return self.checkpoint_dir / f"epoch-{epoch:03d}.pt"

    def _save_last(self, method: Method, epoch: int) -> None:
        state = {
            "epoch": epoch,
            "method": method.state_dict(),
            "history": self.history,
            "best": self.best,
            "config": self.cfg.to_dict(),
        }
        save_checkpoint(self.last_path, state)
        if self.cfg.keep_every and (epoch + 1) % self.cfg.keep_every == 0:
            save_checkpoint(self.epoch_path(epoch), state)

    def _save_best(self, method: Method, candidate: str, networks, epoch: int, score: float, meta: dict) -> None:
        save_checkpoint(self.best_path, {
            "networks": [net.state_dict() for net in networks],
            "meta": {**meta, "candidate": candidate, "epoch": epoch, "val_dice": score},
            "config": self.cfg.to_dict(),
        })

    def _resume(self, method: Method) -> int:
        state = load_checkpoint(self.last_path, map_location=self.device)
        method.load_state_dict(state["method"])
        self.history, self.best = list(state["history"]), dict(state["best"])
        return int(state["epoch"]) + 1

    # ----- logs
    def _write_logs(self) -> None:
        write_history(self.run_dir, self.history)

    # ----- the loop
    def iterations_per_epoch(self, method: Method) -> int:
        if self.cfg.iterations_per_epoch:
            return self.cfg.iterations_per_epoch
        return max(1, math.ceil(len(method.data) / self.cfg.batch_size))

    def _epoch_order(self, pool: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
        if len(pool) == 0:
            raise ValueError("no training samples with a mask in this run (check the label budget and split)")
        repeats = math.ceil(length / len(pool))
        return torch.cat([pool[torch.randperm(len(pool), generator=generator)] for _ in range(repeats)])[:length]

    def fit(self, method: Method, val: ValidationSet, meta: dict, resume: bool = False) -> dict:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        method.setup()
        warn_if_bf16_is_emulated(self.device, self.cfg.cpu_bf16)
        if self.cfg.compile:
            require_compiler(self.device)
            method.compile_networks()
        start_epoch = self._resume(method) if resume and self.last_path.is_file() else 0
        steps_done = 0
        bar = _progress(self.cfg.epochs, start_epoch, self.cfg.progress)
        for epoch in range(start_epoch, self.cfg.epochs):
            began = time.perf_counter()
            generator = epoch_generator(self.cfg.seed, epoch)
            ctx = StepContext(epoch, 0, generator, self.device, self.cfg.augment, self.autocast, method.data)
            row = {"epoch": epoch, **method.on_epoch_start(epoch, ctx)}
            n_steps = self.iterations_per_epoch(method)
            order = self._epoch_order(method.epoch_pool(), n_steps * self.cfg.batch_size, generator)
            sums: dict[str, float] = {}
            for step in range(n_steps):
                ctx.step = step
                logs = method.training_step(order[step * self.cfg.batch_size:(step + 1) * self.cfg.batch_size], ctx)
                for key, value in logs.items():
                    sums[key] = sums.get(key, 0.0) + value
                steps_done += 1
                if self.stop_after_steps is not None and steps_done >= self.stop_after_steps:
                    raise Interrupted(f"stopped after {steps_done} steps (test hook)")
                bar.set_postfix_str(f"epoch {epoch} step {step + 1}/{n_steps} loss {logs.get('loss', 0):.3f}"
                                    f" | best val Dice {max(self.best['score'], 0):.3f}", refresh=True)
            row.update({f"train_{k}": v / n_steps for k, v in sums.items()})
            lr = next(iter(method.optimizers.values())).param_groups[0]["lr"]
            row.update(method.on_epoch_end(epoch, ctx))
            train_seconds = time.perf_counter() - began
            if (epoch + 1) % self.cfg.val_every == 0 or epoch + 1 == self.cfg.epochs:
                row.update(self._validate(method, val, epoch, meta))
            row.update({"lr": lr,
                        "train_seconds": train_seconds, "epoch_seconds": time.perf_counter() - began,
                        "images_per_second": n_steps * self.cfg.batch_size / train_seconds})
            self.history.append(row)
            self._write_logs()
            self._save_last(method, epoch)
            bar.update(1)
        bar.close()
        return {"best": self.best, "history": self.history}

    def _validate(self, method: Method, val: ValidationSet, epoch: int, meta: dict) -> dict:
        row = {}
        for name, networks in method.validation_candidates().items():
            score = val.score(networks, self.device)
            row[f"val_dice_{name}"] = score
            if score > self.best["score"]:
                self.best = {"score": score, "epoch": epoch, "candidate": name}
                self._save_best(method, name, networks, epoch, score, meta)
        row["val_dice"] = max(row.values())
        return row


class _NoBar:
    def set_postfix_str(self, *args, **kwargs):
        pass

    def update(self, n=1):
        pass

    def close(self):
        pass


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="epoch", dynamic_ncols=True, mininterval=1.0)
