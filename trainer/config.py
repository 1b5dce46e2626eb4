"""Everything a training run is configured by, in one typed, serialisable place."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from engine.dict_config import DictConfig
from engine.model.generator import GeneratorConfig
from engine.training_protocol import DEFAULT_VAL_LIMIT, DEFAULT_WORKERS
from trainer.dataset import DataConfig
from trainer.losses import LossConfig
from trainer.negatives import NegativeConfig


@dataclass(frozen=True)
class TrainConfig(DictConfig):
    """A training run.

    ``steps`` or ``epochs`` decides the run's length, never both; without either it lasts
    ``DEFAULT_EPOCHS`` epochs. Fields that change the result (data, seed, batch size,
    architecture, losses) must stay the same when a run resumes; ``steps``/``epochs`` may grow to
    train longer. The seed lives in ``data_config``; ``seed`` reads it.
    """

    DEFAULT_EPOCHS: ClassVar[int] = 10

    data: tuple[str, ...]
    out: str
    steps: int | None = None
    epochs: int | None = None
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    grad_clip: float = 1.0
    workers: int = DEFAULT_WORKERS
    device: str = "auto"
    init: str | None = None
    vgg_weights: str = "auto"
    val_every: int | None = None  # steps between validations; None: once per epoch (and at the end)
    val_limit: int = DEFAULT_VAL_LIMIT  # validation images used at most
    checkpoint_every: int = 100
    log_every: int = 10
    amp: bool = True  # mixed precision on CUDA
    gate_only: bool = False  # fit the gate head alone; every other weight stays as --init has it
    gate_by_kind: bool = False  # the gate chooses its share per data folder's kind of picture
    prior_only: bool = False  # fit a statistics prior on --init's model alone (trainer.prior)
    prior_samples: int = 16000  # with prior_only or mixer_only: training composites described for the fit
    mixer_only: bool = False  # fit a mixer for the statistics prior of --init's model alone (trainer.prior)
    pastes: int = 0  # with prior_only or mixer_only: pastes to leave alone described besides (trainer.pastes)
    paste_from: tuple[str, ...] = ()  # names of the data folders whose objects are pasted; empty: every one
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    negatives: NegativeConfig = field(default_factory=NegativeConfig)
    data_config: DataConfig = field(default_factory=DataConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", tuple(self.data))  # a JSON list, from a checkpoint
        object.__setattr__(self, "paste_from", tuple(self.paste_from))
        if not self.data:
            raise ValueError("at least one --data folder is needed")
        if self.steps is not None and self.epochs is not None:
            raise ValueError("give steps or epochs, not both")
        if self.steps is None and self.epochs is None:
            object.__setattr__(self, "epochs", self.DEFAULT_EPOCHS)
        positive = {"steps": self.steps, "epochs": self.epochs, "batch_size": self.batch_size,
                    "checkpoint_every": self.checkpoint_every, "log_every": self.log_every, "val_every": self.val_every}
        bad = [f"{k}={v}" for k, v in positive.items() if v is not None and v < 1]
        if bad or self.lr <= 0 or self.workers < 0:
            raise ValueError(f"values must be positive: {', '.join(bad) or 'lr, workers'}")
        if self.gate_only and not (self.init and self.generator.gate):
            raise ValueError("--gate-only fits the gate of a trained model: it needs --init and --gate")
        if self.prior_only and not self.init:
            raise ValueError("--prior-only fits the statistics prior of a trained model: it needs --init")
        if self.mixer_only and (not self.init or self.prior_only):
            raise ValueError("--mixer-only fits the prior mixer of a model with a fitted statistics prior: "
                             "it needs --init, and a prior fitted before (--prior-only, in a run of its own)")
        if self.prior_samples < 1:
            raise ValueError(f"prior_samples must be positive, got {self.prior_samples}")
        if self.pastes < 0:
            raise ValueError(f"pastes must not be negative, got {self.pastes}")
        if self.pastes and not (self.prior_only or self.mixer_only):
            raise ValueError("--pastes are described for a fit of the statistics prior or its mixer: "
                             "give --prior-only or --mixer-only")
        if self.paste_from and not self.pastes:
            raise ValueError("--paste-from names the folders whose objects --pastes takes: give --pastes too")
        if self.gate_by_kind and (self.generator.gate_kinds != len(self.data) or len(self.data) < 2):
            raise ValueError("--gate-by-kind needs --gate, and a data folder per kind (at least two)")
        if self.data_config.size != self.generator.working_size:
            raise ValueError(
                f"training size {self.data_config.size} differs from the model's working size {self.generator.working_size}"
            )

    @property
    def seed(self) -> int:
        """The run's seed: of the model's initialisation, the data order, the negatives, the split."""
        return self.data_config.seed

    # Settings that shape the trained weights; a resumed run must agree on all of them.
    RESULT_FIELDS = ("data", "batch_size", "lr", "weight_decay", "warmup_steps", "grad_clip",
                     "generator", "loss", "negatives", "data_config", "gate_only", "gate_by_kind",
                     "prior_only", "prior_samples", "mixer_only", "pastes", "paste_from")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        # Runs saved before the seed had one home (data_config) kept a copy of it here.
        return super().from_dict({name: value for name, value in values.items() if name != "seed"})

    def differences(self, other: TrainConfig) -> list[str]:
        """Result-shaping settings in which ``other`` differs from this configuration."""
        # Through JSON, as stored in checkpoints: tuples and lists compare equal.
        mine, theirs = (json.loads(json.dumps(c.to_dict())) for c in (self, other))
        return [f"{k}: {theirs[k]!r} -> {mine[k]!r}" for k in self.RESULT_FIELDS if mine[k] != theirs[k]]

    def with_generator(self, generator: GeneratorConfig) -> TrainConfig:
        """This run with another architecture; the training size follows its working size."""
        return replace(self, generator=generator, data_config=replace(self.data_config, size=generator.working_size))
