"""The SCS-Co training loop: data, negatives, losses, optimisation, validation, checkpoints.

Determinism: the data order is a function of (seed, epoch), every sample's synthesis of
(seed, epoch, index), and each step's negatives of (seed, step, rank). With the weights and the
optimizer restored from ``last.safetensors``, a resumed run therefore repeats exactly what the
uninterrupted run would have done.
"""
from __future__ import annotations

import logging
import math
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Subset

from engine.checkpoint import CheckpointError, load_generator, save_checkpoint
from engine.model.generator import SCSCoGenerator, prior_settings, with_gate, with_mixer, with_prior
from engine.training_protocol import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    LOSS_TERMS,
    PREVIEWS,
    PROGRESS_LOG,
    CheckpointEvent,
    DoneEvent,
    StartEvent,
    StepEvent,
    ValidationEvent,
    preview_name,
)
from trainer import distributed
from trainer.config import TrainConfig
from trainer.dataset import HarmonizationDataset
from trainer.losses import SCSCoLoss
from trainer.negatives import generate_negatives
from trainer.progress import Reporter
from trainer.sampling import epoch_batches, steps_per_epoch
from trainer.sources import DataSource, discover
from trainer.state import RunState, load_run, save_run
from trainer.style import load_style_features
from trainer.validation import validate

log = logging.getLogger("trainer")


class RunError(RuntimeError):
    """A training run cannot start or go on; the message says why and what survives."""


@contextmanager
def stop_requests() -> Iterator[list[bool]]:
    """A flag set by SIGINT/SIGTERM, so a run can stop between steps and keep its checkpoint."""
    flag = [False]

    def request(signum: int, frame: Any) -> None:
        flag[0] = True

    previous = {s: signal.signal(s, request) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 5% of the base rate."""
    warm = min(1.0, (step + 1) / max(warmup, 1))
    progress = min(step, total) / max(total, 1)
    return warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def build_model(config: TrainConfig, device: torch.device) -> tuple[SCSCoGenerator, TrainConfig]:
    """The model a run starts from (``--init``'s, grown a gate or a prior as asked, or a new one)
    and the run's configuration with that model's architecture."""
    if config.init:
        try:
            model, _ = load_generator(config.init, "cpu")
        except CheckpointError as error:
            raise RunError(str(error)) from error
        kinds = config.generator.gate_kinds
        new_kinds = config.gate_by_kind and model.config.gate_kinds != kinds
        if config.generator.gate and (not model.config.gate or new_kinds):
            model = with_gate(model, kinds)
            log.info("--init: growing a gate%s on the architecture stored in %s", f" by {kinds} kinds" if kinds else "", config.init)
        elif model.config != config.generator:
            log.info("--init: using the architecture stored in %s", config.init)
        if config.prior_only:
            model = with_prior(model, **prior_settings(config.generator))
            log.info("--prior-only: fitting a new statistics prior on the model stored in %s", config.init)
        if config.mixer_only:
            try:
                model = with_mixer(model)
            except ValueError as error:
                raise RunError(f"--mixer-only: {error}") from error
            log.info("--mixer-only: fitting a new prior mixer on the model stored in %s", config.init)
        config = config.with_generator(model.config)
    else:
        torch.manual_seed(config.seed)
        model = SCSCoGenerator(config.generator)
    return model.to(device), config


def run_datasets(config: TrainConfig) -> tuple[list[DataSource], HarmonizationDataset, Subset]:
    """A run's data sources, its training set and its validation set (at most ``val_limit`` images)."""
    sources = [discover(path, config.data_config.val_fraction, config.data_config.seed) for path in config.data]
    train_set = HarmonizationDataset(sources, "train", config.data_config)
    val_set = HarmonizationDataset(sources, "val", config.data_config)
    return sources, train_set, Subset(val_set, range(min(len(val_set), config.val_limit)))


def run_metadata(config: TrainConfig, context: distributed.Context, sources: list[DataSource], style_source: str,
                 pretrained: bool, run: RunState, metrics: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint's metadata says of the run that wrote it."""
    return {
        "training": {
            "data": [s.description for s in sources],
            "data_paths": list(config.data),
            "steps": run.step,
            "seed": config.seed,
            "batch_size": config.batch_size,
            "world_size": context.world_size,
            "device": str(context.device),
            "wall_time_s": round(run.wall_time_s, 1),
            "command": sys.argv,
            "torch": torch.__version__,
        },
        "loss": asdict(config.loss),
        "negatives": asdict(config.negatives),
        "synthesis": asdict(config.data_config.synthesis),
        "style_features": {"source": style_source, "pretrained": pretrained},
        "metrics": metrics,
        "train_config": config.to_dict(),
    }


class Trainer:
    """One training run, in one process of possibly several."""

    def __init__(self, config: TrainConfig, resume: bool = False, progress: str = "auto") -> None:
        self.context = distributed.setup(config.device)
        self.out = Path(config.out)
        self.resume = resume
        writer = self.context.is_writer
        if writer:
            self.out.mkdir(parents=True, exist_ok=True)
        self.reporter = Reporter(self.out / PROGRESS_LOG, progress, enabled=writer)
        self.model, self.config = build_model(config, self.context.device)
        self.sources, self.train_set, self.val_set = run_datasets(self.config)
        self.steps_per_epoch = steps_per_epoch(len(self.train_set), self.config.batch_size, self.context.world_size)
        if self.steps_per_epoch == 0:
            raise RunError(f"{len(self.train_set)} training images cannot fill one batch of {self.config.batch_size} "
                           f"per process; lower --batch-size")
        self.total_steps = self.config.steps or self.config.epochs * self.steps_per_epoch
        try:
            self.style = load_style_features(self.config.vgg_weights, self.context.device)
        except (OSError, ValueError, RuntimeError) as error:
            raise RunError(f"cannot use --vgg-weights {self.config.vgg_weights}: {error}") from error
        self.loss = SCSCoLoss(self.style, self.config.loss).to(self.context.device)
        if self.config.gate_only:
            self.model.requires_grad_(False)
            for parameter in self.model.gate_parameters():
                parameter.requires_grad_(True)
        if self.config.generator.prior:  # fitted on its own (trainer.prior); a fine-tune keeps it
            self.model.prior.requires_grad_(False)
            if self.config.generator.prior_encoder:  # and the encoder it reads
                self.model.encoder.requires_grad_(False)
        if self.config.generator.prior_mixer:
            self.model.prior_mixer.requires_grad_(False)
        if self.config.generator.gate_kinds and not self.config.gate_by_kind:
            # These folders are not the kinds the model learnt to tell apart: that stays as it is.
            self.model.kind_head.requires_grad_(False)
        trained = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trained, lr=self.config.lr, weight_decay=self.config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, self.config.warmup_steps, self.total_steps)
        )
        self.amp = self.config.amp and self.context.device.type == "cuda"
        self.scaler = torch.amp.GradScaler(self.context.device.type, enabled=self.amp)
        self.run = RunState()
        self.metrics: dict[str, Any] = {}
        self._restore_or_start_fresh()
        self.network = self.model
        if self.context.distributed:
            ids = [self.context.device.index] if self.context.device.type == "cuda" else None
            self.network = DistributedDataParallel(self.model, device_ids=ids)

    def _restore_or_start_fresh(self) -> None:
        last = self.out / LAST_CHECKPOINT
        if not last.exists():
            if self.resume:
                log.info("nothing to resume in %s; starting a new run", self.out)
            return
        if not self.resume:
            raise RunError(f"{self.out} already holds a training run; pass --resume to continue it or choose another --out")
        self.run, meta = load_run(last, self.model, self.optimizer, self.scheduler, self.scaler)
        stored = TrainConfig.from_dict(meta["train_config"])
        differences = self.config.differences(stored)
        if differences:
            raise RunError(f"cannot resume {last} with different settings: " + "; ".join(differences))
        self.metrics = meta.get("metrics", {})
        log.info("resuming %s at step %d", last, self.run.step)

    def _metadata(self) -> dict[str, Any]:
        return run_metadata(self.config, self.context, self.sources, self.style.source, self.style.is_pretrained,
                            self.run, self.metrics)

    def _save_last(self) -> None:
        if self.context.is_writer:
            path = self.out / LAST_CHECKPOINT
            save_run(path, self.model, self.optimizer, self.scheduler, self.scaler, self.run, self._metadata())
            self.reporter.emit(CheckpointEvent(step=self.run.step, kind="last", path=str(path)))

    def _validate(self, epoch: int) -> None:
        if self.context.is_writer and len(self.val_set):
            loader = DataLoader(self.val_set, batch_size=self.config.batch_size, num_workers=self.config.workers)
            preview = self.out / PREVIEWS / preview_name(self.run.step)
            scores, baseline = validate(self.model, loader, self.context.device, preview)
            best = self.run.best_fmse is None or scores["fmse"] < self.run.best_fmse
            if best:
                self.run.best_fmse, self.run.best_step = scores["fmse"], self.run.step
                self.metrics = {"step": self.run.step, "validation": scores, "validation_composite": baseline,
                                "validation_images": len(self.val_set)}
                save_checkpoint(self.out / BEST_CHECKPOINT, self.model, self._metadata())
                self.reporter.emit(CheckpointEvent(step=self.run.step, kind="best", path=str(self.out / BEST_CHECKPOINT)))
            self.reporter.emit(ValidationEvent(step=self.run.step, epoch=epoch, metrics=scores, composite=baseline,
                                               preview=str(preview), best=best))
        distributed.barrier(self.context)

    def _train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        device = self.context.device
        composite, mask, real = (batch[k].to(device, non_blocking=True) for k in ("composite", "mask", "real"))
        generator = torch.Generator(device=device).manual_seed(
            (self.config.seed * 1_000_003 + self.run.step * 1_009 + self.context.rank) % (2**63)
        )
        # Negatives only feed the style network, so they are made at its (smaller) input size.
        size = self.config.loss.style_shape(*real.shape[-2:])
        small = [F.interpolate(t, size=size, mode="area") if size != tuple(t.shape[-2:]) else t
                 for t in (real, mask, composite)]
        negatives = generate_negatives(*small, self.config.negatives, generator)
        with torch.autocast(device.type, dtype=torch.float16, enabled=self.amp):
            labels = batch["kind"].to(device) if self.config.gate_by_kind else None
            outputs = self.network(composite, mask, labels)
            kinds = (outputs["kind_logits"], labels) if labels is not None else None
            losses = self.loss(outputs["harmonized"].float(), real, mask, negatives, composite, kinds)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["total"]).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return {k: float(losses[k].detach()) for k in LOSS_TERMS}

    def _validation_due(self, epoch_end: bool) -> bool:
        if self.run.step == self.total_steps:
            return True
        if self.config.val_every:
            return self.run.step % self.config.val_every == 0
        return epoch_end

    def fit(self) -> DoneEvent:
        """Train to the end or until a stop request; the run's end, as reported."""
        self.reporter.emit(StartEvent(
            step=self.run.step, total_steps=self.total_steps, out=str(self.out), device=str(self.context.device),
            world_size=self.context.world_size, train_images=len(self.train_set), val_images=len(self.val_set),
            data=tuple(s.description for s in self.sources), style_features=self.style.source,
        ))
        if not self.style.is_pretrained:
            log.warning("style features: %s", self.style.source)
        stopped = False
        started, window_start, window_steps = time.monotonic(), time.monotonic(), 0
        wall_at_start = self.run.wall_time_s
        self.model.train()
        # One loader for the whole run, fed (epoch, index) pairs: its workers live as long as the
        # run, so the photos they keep in memory (trainer.photo_cache) are decoded once.
        loader = DataLoader(self.train_set, batch_sampler=self._remaining_batches(), num_workers=self.config.workers,
                            pin_memory=self.context.device.type == "cuda")
        with stop_requests() as stop:
            for batch in loader:
                epoch = self.run.step // self.steps_per_epoch
                losses = self._train_step(batch)
                self.run.step += 1
                window_steps += 1
                self.run.wall_time_s = wall_at_start + time.monotonic() - started
                epoch_end = self.run.step % self.steps_per_epoch == 0
                if self.run.step % self.config.log_every == 0 or self.run.step == self.total_steps:
                    elapsed = time.monotonic() - window_start
                    rate = window_steps * self.config.batch_size * self.context.world_size / max(elapsed, 1e-9)
                    step_time = elapsed / max(window_steps, 1)
                    self.reporter.emit(StepEvent(
                        step=self.run.step, total_steps=self.total_steps, epoch=epoch, losses=losses,
                        lr=self.scheduler.get_last_lr()[0], images_per_s=round(rate, 2),
                        eta_s=round(step_time * (self.total_steps - self.run.step), 1),
                    ))
                    window_start, window_steps = time.monotonic(), 0
                if self._validation_due(epoch_end):
                    self._validate(epoch)
                stopped = distributed.any_rank(stop[0], self.context)
                if stopped or self.run.step % self.config.checkpoint_every == 0 or self.run.step == self.total_steps:
                    self._save_last()
                if stopped:
                    break
        identical = distributed.replicas_identical(self.model, self.context)
        best = self.out / BEST_CHECKPOINT
        done = DoneEvent(step=self.run.step, stopped=stopped, best=str(best) if best.exists() else None,
                         last=str(self.out / LAST_CHECKPOINT), metrics=self.metrics.get("validation", {}),
                         replicas_identical=identical)
        self.reporter.emit(done)
        return done

    def _remaining_batches(self) -> list[list[tuple[int, int]]]:
        """This rank's batches of ``(epoch, index)`` from the current step to the run's end."""
        batches: list[list[tuple[int, int]]] = []
        epoch, position = divmod(self.run.step, self.steps_per_epoch)
        while len(batches) < self.total_steps - self.run.step:
            indices = epoch_batches(len(self.train_set), self.config.batch_size, self.config.seed, epoch,
                                    self.context.rank, self.context.world_size)[position:]
            batches += [[(epoch, i) for i in batch] for batch in indices]
            epoch, position = epoch + 1, 0
        return batches[: self.total_steps - self.run.step]

    def close(self, finished: bool = False) -> None:
        distributed.teardown(self.context, finished)


def train(config: TrainConfig, resume: bool = False, progress: str = "auto") -> DoneEvent:
    """Run (or resume) a training run to its end or until SIGINT/SIGTERM; its end, as reported."""
    trainer = Trainer(config, resume=resume, progress=progress)
    finished = False
    try:
        done = trainer.fit()
        finished = True
        return done
    finally:
        trainer.close(finished)
