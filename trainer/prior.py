"""Fitting a trained model's statistics prior, or its prior mixer (``engine/model/prior.py``,
docs/DESIGN.md section 4).

Both read fixed numbers about a composite, so a fit describes ``prior_samples`` training
composites once (the network runs once per composite) and then trains the small MLP on those
descriptions for many passes in large batches: minutes, where the training loop would take hours
on a CPU. Every other weight stays as the started model has it. With ``pastes``, objects pasted
onto other training photos lit alike are described besides, each a composite to leave alone
(:mod:`trainer.pastes`).

The prior learns the change of the foreground's Lab statistics its real photo needs. The mixer
learns from the foreground error each mix of the two answers leaves: that error is a quadratic in
the two answers' shares, so six products of the pictures per composite (:func:`mix_products`)
give it exactly, at the working size.

A fit keeps no resumable state: stopped, it writes nothing, and it is run again from the start.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from engine.checkpoint import save_checkpoint
from engine.classical import lab_statistics
from engine.metrics import PEAK
from engine.model.generator import SCSCoGenerator
from engine.model.prior import PRIOR_OUTPUTS, change_of_statistics
from engine.training_protocol import (
    BEST_CHECKPOINT, PREVIEWS, PROGRESS_LOG, CheckpointEvent, DoneEvent, StartEvent, StepEvent, ValidationEvent,
    preview_name,
)
from trainer import distributed
from trainer.config import TrainConfig
from trainer.dataset import HarmonizationDataset
from trainer.loop import RunError, build_model, lr_factor, run_datasets, run_metadata, stop_requests
from trainer.pastes import light_matched_pastes
from trainer.progress import Reporter
from trainer.sampling import sample_keys
from trainer.sources import DataSource
from trainer.state import RunState
from trainer.validation import validate

log = logging.getLogger("trainer")

STYLE_SOURCE = "none: the prior is fitted on statistics, without the style network"
_DESCRIBE_BATCH = 64


@dataclass(frozen=True)
class Descriptions:
    """Described composites: what the fitted MLP reads, and what its loss needs. For the prior,
    the change it should predict then the foreground's Lab spreads (which weigh the spread part of
    the error); for the mixer, :func:`mix_products`."""

    inputs: torch.Tensor
    truth: torch.Tensor

    def __len__(self) -> int:
        return len(self.inputs)


def prior_loss(change: torch.Tensor, target: torch.Tensor, spreads: torch.Tensor) -> torch.Tensor:
    """About the mean squared Lab error (/50) the predicted change leaves in the foreground: the
    mean's error, plus the log-spread's error scaled by the spread it multiplies."""
    error = change - target
    mean_error, spread_error = error.chunk(2, dim=1)
    return (mean_error.pow(2).sum(dim=1) + (spread_error * spreads / 50).pow(2).sum(dim=1)).mean()


def mix_products(composite: torch.Tensor, real: torch.Tensor, network: torch.Tensor, prior: torch.Tensor,
                 mask: torch.Tensor) -> torch.Tensor:
    """``(B, 6)``: with ``r = real - composite``, ``n = network - composite``, ``p = prior - composite``,
    the foreground means of ``r·r, r·n, r·p, n·n, n·p, p·p`` on the fMSE's scale (0-255, per pixel
    and channel), from which :func:`mix_fmse` gives the fMSE of any mix exactly."""
    r, n, p = ((image - composite).float() * PEAK for image in (real, network, prior))
    area = mask.sum(dim=(1, 2, 3)).clamp(min=1) * composite.shape[1]
    pairs = ((r, r), (r, n), (r, p), (n, n), (n, p), (p, p))
    return torch.stack([(mask * u * v).sum(dim=(1, 2, 3)) / area for u, v in pairs], dim=1)


def mix_fmse(network_share: torch.Tensor, prior_share: torch.Tensor, products: torch.Tensor) -> torch.Tensor:
    """``(B,)`` fMSE of ``composite + network_share * n + prior_share * p`` (:func:`mix_products`)."""
    rr, rn, rp, nn, np_, pp = products.unbind(dim=1)
    a, b = network_share, prior_share
    return rr - 2 * a * rn - 2 * b * rp + a * a * nn + 2 * a * b * np_ + b * b * pp


def mixer_loss(total: torch.Tensor, weight: torch.Tensor, products: torch.Tensor, harm_weight: float) -> torch.Tensor:
    """The mean fMSE the mixer's shares leave, plus ``harm_weight`` times how much worse than the
    composite each foreground is made (as the training loop's harm term)."""
    fmse = mix_fmse(total * (1 - weight), total * weight, products)
    return (fmse + harm_weight * (fmse - products[:, 0]).clamp(min=0)).mean()


def _describe_batch(model: SCSCoGenerator, composite: torch.Tensor, mask: torch.Tensor,
                    real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What the fitted MLP reads about a batch, and what its loss needs (:class:`Descriptions`)."""
    if model.config.prior_mixer:
        inputs, network, prior = model.mixer_inputs(composite, mask)
        return inputs, mix_products(composite, real, network, prior, mask)
    inputs, stats = model.prior_inputs(composite, mask)
    return inputs, torch.cat((change_of_statistics(stats, lab_statistics(real, mask)), stats.fg_std), dim=1)


def describe(model: SCSCoGenerator, dataset: HarmonizationDataset, keys: list[tuple[int, int]], workers: int,
             device: torch.device, stop: list[bool] | None = None) -> Descriptions | None:
    """What the prior (or, on a model with one, the prior mixer) reads about the composites
    ``dataset`` makes for ``keys`` ``(epoch, index)``, and what its loss needs (from their real
    photos); None when ``stop[0]`` was set on the way."""
    loader = DataLoader(Subset(dataset, keys), batch_size=_DESCRIBE_BATCH, num_workers=workers)
    inputs, truth = [], []
    model.eval()
    for number, batch in enumerate(loader, 1):
        if stop is not None and stop[0]:
            return None
        composite, mask, real = (batch[k].to(device) for k in ("composite", "mask", "real"))
        described, needed = _describe_batch(model, composite, mask, real)
        inputs.append(described.cpu())
        truth.append(needed.cpu())
        if number % 20 == 0:
            log.info("described %d of %d composites", min(number * _DESCRIBE_BATCH, len(keys)), len(keys))
    return Descriptions(torch.cat(inputs), torch.cat(truth))


class PriorFit:
    """One fit of a model's statistics prior (``prior_only``) or prior mixer (``mixer_only``),
    reported like a training run."""

    def __init__(self, config: TrainConfig, resume: bool = False, progress: str = "auto") -> None:
        self.context = distributed.setup(config.device)
        if self.context.world_size > 1:
            raise RunError("fitting the statistics prior runs in one process; start it without torchrun")
        self.out = Path(config.out)
        self.out.mkdir(parents=True, exist_ok=True)
        if (self.out / BEST_CHECKPOINT).exists() and not resume:
            raise RunError(
                f"{self.out} already holds a fitted model; pass --resume to fit it again or choose another --out"
            )
        self.reporter = Reporter(self.out / PROGRESS_LOG, progress)
        torch.manual_seed(config.seed)  # the prior's initial weights and its dropout
        self.model, self.config = build_model(config, self.context.device)
        self.model.requires_grad_(False)
        self.fitted.requires_grad_(True)
        self.sources, self.train_set, self.val_set = run_datasets(self.config)
        self.paste_kinds = paste_kinds(self.sources, self.config.paste_from)
        steps_per_pass = max(1, self.config.prior_samples // self.config.batch_size)
        self.total_steps = self.config.steps or self.config.epochs * steps_per_pass
        self.run = RunState()
        self.metrics: dict = {}

    @property
    def fitted(self) -> torch.nn.Module:
        """The part of the model this fit trains."""
        return self.model.prior_mixer if self.config.mixer_only else self.model.prior

    def _loss(self, inputs: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        if self.config.mixer_only:
            return mixer_loss(*self.model.prior_mixer(inputs), truth, self.config.loss.harm_weight)
        change, spreads = truth.split((PRIOR_OUTPUTS, truth.shape[1] - PRIOR_OUTPUTS), dim=1)
        return prior_loss(self.model.prior(inputs), change, spreads)

    def fit(self) -> DoneEvent:
        """Describe, fit, validate and write the fitted model; the fit's end, as reported."""
        device = self.context.device
        self.reporter.emit(StartEvent(
            step=0, total_steps=self.total_steps, out=str(self.out), device=str(device), world_size=1,
            train_images=len(self.train_set), val_images=len(self.val_set),
            data=tuple(s.description for s in self.sources), style_features=STYLE_SOURCE,
        ))
        started = time.monotonic()
        with stop_requests() as stop:
            keys = sample_keys(len(self.train_set), self.config.prior_samples, self.config.seed)
            described = describe(self.model, self.train_set, keys, self.config.workers, device, stop)
            if described is not None and self.config.pastes:
                described = self._with_pastes(described, stop)
            if described is not None:
                self._fit(described, stop)
            stopped = bool(stop[0])
        self.run.wall_time_s = time.monotonic() - started
        best = None
        if not stopped:
            self._validate()
            best = str(self.out / BEST_CHECKPOINT)
        done = DoneEvent(step=self.run.step, stopped=stopped, best=best, last=None,
                         metrics=self.metrics.get("validation", {}), replicas_identical=True)
        self.reporter.emit(done)
        return done

    def _with_pastes(self, described: Descriptions, stop: list[bool]) -> Descriptions | None:
        """``described`` and the descriptions of ``pastes`` light-matched pastes (:mod:`trainer.pastes`)."""
        # The pool's photos keep their own masks: a silhouette's region is no object to paste.
        pool = HarmonizationDataset(self.sources, "train",
                                    replace(self.config.data_config, shape_probability=0.0, photos_only=True))
        log.info("pasting %d objects onto photos lit alike", self.config.pastes)
        pastes = light_matched_pastes(pool, self.config.pastes, self.paste_kinds, self.config.seed + 1,
                                      self.config.workers, stop)
        if pastes is None:
            return None
        if len(pastes) < self.config.pastes:
            log.warning("only %d of %d pastes found: too few objects of the chosen size in the folders --paste-from "
                        "names", len(pastes), self.config.pastes)
        extra = describe(self.model, pastes, list(range(len(pastes))), self.config.workers, self.context.device, stop)
        if extra is None:
            return None
        return Descriptions(torch.cat((described.inputs, extra.inputs)), torch.cat((described.truth, extra.truth)))

    def _fit(self, described: Descriptions, stop: list[bool]) -> None:
        """Train the prior or the mixer on the descriptions until the last step or ``stop[0]``."""
        device = self.context.device
        fitted = self.fitted
        if self.config.mixer_only:
            fitted.fit_inputs(described.inputs)
        else:
            fitted.fit_ranges(described.inputs, described.truth[:, :PRIOR_OUTPUTS])
        optimizer = torch.optim.AdamW(fitted.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: lr_factor(s, self.config.warmup_steps, self.total_steps)
        )
        generator = torch.Generator().manual_seed(self.config.seed)
        inputs, truth = described.inputs.to(device), described.truth.to(device)
        fitted.train()
        window = time.monotonic()
        while self.run.step < self.total_steps and not stop[0]:
            rows = torch.randint(len(described), (self.config.batch_size,), generator=generator).to(device)
            loss = self._loss(inputs[rows], truth[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            self.run.step += 1
            if self.run.step % self.config.log_every == 0 or self.run.step == self.total_steps:
                elapsed = time.monotonic() - window
                self.reporter.emit(StepEvent(
                    step=self.run.step, total_steps=self.total_steps, epoch=0, losses={"total": loss.item()},
                    lr=scheduler.get_last_lr()[0],
                    images_per_s=round(self.config.log_every * self.config.batch_size / max(elapsed, 1e-9), 2),
                    eta_s=round(elapsed / self.config.log_every * (self.total_steps - self.run.step), 1),
                ))
                window = time.monotonic()
        fitted.eval()

    def _validate(self) -> None:
        """Score the whole model (network and fitted prior) on the validation images and write it."""
        loader = DataLoader(self.val_set, batch_size=_DESCRIBE_BATCH, num_workers=self.config.workers)
        preview = self.out / PREVIEWS / preview_name(self.run.step)
        scores, baseline = validate(self.model, loader, self.context.device, preview)
        self.metrics = {"step": self.run.step, "validation": scores, "validation_composite": baseline,
                        "validation_images": len(self.val_set)}
        path = self.out / BEST_CHECKPOINT
        save_checkpoint(path, self.model, run_metadata(
            self.config, self.context, self.sources, STYLE_SOURCE, False, self.run, self.metrics
        ))
        self.reporter.emit(ValidationEvent(step=self.run.step, epoch=0, metrics=scores, composite=baseline,
                                           preview=str(preview), best=True))
        self.reporter.emit(CheckpointEvent(step=self.run.step, kind="best", path=str(path)))


def paste_kinds(sources: Sequence[DataSource], names: Sequence[str]) -> set[int]:
    """The indices of the data folders ``names`` among ``sources`` (every one when ``names`` is empty).

    Raises:
        RunError: a name is none of the folders'.
    """
    folders = [Path(source.root).name for source in sources]
    unknown = sorted(set(names) - set(folders))
    if unknown:
        raise RunError(f"--paste-from {', '.join(unknown)}: no such data folder; the folders are {', '.join(folders)}")
    return {kind for kind, folder in enumerate(folders) if not names or folder in names}


def fit_prior(config: TrainConfig, resume: bool = False, progress: str = "auto") -> DoneEvent:
    """Fit the statistics prior (or prior mixer) of ``config.init``'s model until done or
    SIGINT/SIGTERM; its end, as reported."""
    fit = PriorFit(config, resume=resume, progress=progress)
    try:
        return fit.fit()
    finally:
        distributed.teardown(fit.context)
