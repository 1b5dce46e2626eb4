"""``python main.py train``: the trainer's command line (the GUI starts training through it too).

Exit codes (:mod:`engine.exit_codes`): 0 finished; 130 stopped early by SIGINT/SIGTERM (the last
checkpoint is kept); 2 unusable data or settings; 3 unusable checkpoint or device; 1 the run
failed while training (e.g. a full disk; the message says which checkpoint survives).

Every option but ``--data``, ``--out``, ``--paste-from``, ``--resume`` and ``--progress`` sets one
field of a configuration dataclass (a row of ``LENGTH`` or ``SETTINGS``): its type and default
come from that field, so a new setting is a field and a row with its help.
"""
from __future__ import annotations

import argparse
import math
import signal
import sys
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, get_args, get_type_hints

from engine.atomic import AtomicWriteError
from engine.cli import MODEL_FAILURE
from engine.devices import DEVICE_CHOICES
from engine.dict_config import DictConfig
from engine.exit_codes import EXIT_FAILED, EXIT_INPUT, EXIT_OK, EXIT_STOPPED, Failure
from engine.model.generator import BASES, HEADS, GeneratorConfig, prior_settings
from engine.training_protocol import JSON_PROGRESS, LAST_CHECKPOINT, DoneEvent, event_line
from trainer import distributed
from trainer.config import TrainConfig
from trainer.dataset import DataConfig
from trainer.loop import RunError, train
from trainer.losses import LossConfig
from trainer.negatives import NegativeConfig
from trainer.prepared import expand_data
from trainer.prior import fit_prior
from trainer.progress import PROGRESS_MODES
from trainer.sources import DataError
from trainer.synthesis import SynthesisConfig


def _absolute(path: str) -> str:
    """A path as the configuration keeps it: absolute, so a run resumes the same from anywhere."""
    return str(Path(path).resolve())


@dataclass(frozen=True)
class Setting:
    """An option that sets the field ``name`` of ``config``; the field gives its type and default.

    ``parse`` replaces the field's type for reading the option (e.g. paths made absolute).
    """

    flag: str
    config: type[DictConfig]
    name: str
    help: str
    choices: tuple[str, ...] | None = None
    parse: Callable[[str], Any] | None = None

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def add_to(self, parser: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup) -> None:
        field = next(f for f in fields(self.config) if f.name == self.name)
        default = None if field.default is MISSING else field.default
        hint = get_type_hints(self.config)[self.name]
        value_type = next((t for t in get_args(hint) if t is not type(None)), hint)  # int | None -> int
        if value_type is bool:  # a switch that turns an off-by-default field on
            parser.add_argument(self.flag, action="store_true", help=self.help)
            return
        parser.add_argument(self.flag, type=self.parse or value_type, default=default, choices=self.choices,
                            help=self.help if default is None else f"{self.help} (default: {default})")


LENGTH = (  # mutually exclusive
    Setting("--steps", TrainConfig, "steps", "optimisation steps"),
    Setting("--epochs", TrainConfig, "epochs",
            f"passes over the training images (default: {TrainConfig.DEFAULT_EPOCHS} without --steps)"),
)
SETTINGS = (
    Setting("--batch-size", TrainConfig, "batch_size", "images per step and process"),
    Setting("--size", DataConfig, "size", "working size: the side of the training images and the model's input"),
    Setting("--device", TrainConfig, "device", "where to compute", choices=DEVICE_CHOICES),
    Setting("--init", TrainConfig, "init", "start from this checkpoint (fine-tuning, a personal model)", parse=_absolute),
    Setting("--lr", TrainConfig, "lr", "learning rate"),
    Setting("--weight-decay", TrainConfig, "weight_decay", "AdamW's weight decay"),
    Setting("--seed", DataConfig, "seed", "seed of the split, the data order, the initialisation and every random choice"),
    Setting("--workers", TrainConfig, "workers", "data-loading worker processes"),
    Setting("--val-every", TrainConfig, "val_every", "steps between validations (default: each epoch)"),
    Setting("--val-limit", TrainConfig, "val_limit", "validation images used at most"),
    Setting("--checkpoint-every", TrainConfig, "checkpoint_every", "steps between checkpoints"),
    Setting("--log-every", TrainConfig, "log_every", "steps between progress reports"),
    Setting("--mask-shapes", DataConfig, "shapes", "folder of RGBA cut-outs whose alphas serve as extra masks",
            parse=_absolute),
    Setting("--shape-probability", DataConfig, "shape_probability",
            "with --mask-shapes: chance that a photo uses a silhouette instead of its own mask"),
    Setting("--identity-fraction", SynthesisConfig, "identity_fraction",
            "share of training inputs left unedited, to teach the model to leave a fitting foreground alone"),
    Setting("--retouch-probability", SynthesisConfig, "retouch_probability",
            "chance that an edited training input is retouch-like (exposure, white balance, contrast, gamma, "
            "saturation) rather than transfer-like (another photo's region of the same category)"),
    Setting("--negatives", NegativeConfig, "count", "K dynamic negatives per sample"),
    Setting("--style-weight", LossConfig, "style_weight", "lambda of the style terms"),
    Setting("--harm-weight", LossConfig, "harm_weight",
            "weight of the harm term: how much worse than the composite a foreground is made"),
    Setting("--vgg-weights", TrainConfig, "vgg_weights",
            "auto (cached ImageNet weights, else a fixed random VGG), imagenet (may download), random, or a file"),
    Setting("--style-size", LossConfig, "style_size",
            "shorter side of the images the style network sees (smaller is faster)"),
    Setting("--head", GeneratorConfig, "head", "generator output head", choices=HEADS),
    Setting("--base", GeneratorConfig, "base",
            "what the mapping starts from: a learned Lab transfer (adaptive), classical, or the composite", choices=BASES),
    Setting("--width", GeneratorConfig, "width", "generator base width"),
    Setting("--gate", GeneratorConfig, "gate",
            "let the model choose how much of its correction to apply (with --init, grows the started model a gate)"),
    Setting("--gate-by-kind", TrainConfig, "gate_by_kind",
            "with --gate: choose the share per kind of picture, each --data folder (or prepared source) one kind"),
    Setting("--gate-only", TrainConfig, "gate_only",
            "with --init and --gate: train the gate alone, every other weight stays as the started model has it"),
    Setting("--prior-only", TrainConfig, "prior_only",
            "with --init: fit a statistics prior on the model alone (describes --prior-samples composites, then "
            "--steps of --batch-size; every other weight stays)"),
    Setting("--prior-samples", TrainConfig, "prior_samples",
            "with --prior-only or --mixer-only: training composites described"),
    Setting("--pastes", TrainConfig, "pastes",
            "with --prior-only or --mixer-only: also describe this many objects pasted onto other photos whose "
            "light matches, each as a composite to leave alone (from the folders --paste-from names)"),
    Setting("--mixer-only", TrainConfig, "mixer_only",
            "with --init of a model with a statistics prior: fit a mixer that chooses, per composite, how much of "
            "the network's and of the prior's corrections to apply (--harm-weight makes a worse foreground cost "
            "more; every other weight stays)"),
    Setting("--prior-strength", GeneratorConfig, "prior_strength",
            "with --prior-only: how much of the change it predicts the prior makes"),
    Setting("--prior-weight", GeneratorConfig, "prior_weight",
            "with --prior-only: the prior's part of the answer (the network's is the rest)"),
    Setting("--prior-dead-zone", GeneratorConfig, "prior_dead_zone",
            "with --prior-only: how far each change the prior predicts is moved toward none before it is made"),
    Setting("--prior-extremes", GeneratorConfig, "prior_extremes",
            "with --prior-only: the prior also reads each region's white and black points, saturation and clipping"),
    Setting("--prior-encoder", GeneratorConfig, "prior_encoder",
            "with --prior-only: the prior also reads the network encoder's features over the foreground and the "
            "background (a fine-tune of the model then keeps the encoder as it is)"),
)


def _survivor(error: BaseException, args: argparse.Namespace) -> str:
    last = args.out / LAST_CHECKPOINT
    return f"{error}; " + (f"the last good checkpoint {last} is intact" if last.exists() else "no checkpoint was written")


FAILURES = (
    Failure((DataError, RunError), EXIT_INPUT),
    MODEL_FAILURE,
    Failure((AtomicWriteError,), EXIT_FAILED, _survivor),
)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train`` on the program's sub-command parser."""
    parser = subparsers.add_parser(
        "train",
        help="train an SCS-Co model on iHarmony4 or on your own photos",
        description="Train (or fine-tune with --init) an SCS-Co harmonization model. --data takes an "
        "iHarmony4 folder, a folder with manifest.csv, images/ + masks/, RGBA cut-outs, plain photos "
        "(masks are generated), or a cache written by `main.py prepare`; composites are synthesised on "
        "the fly. Multi-GPU: torchrun --nproc_per_node=N main.py train ...",
    )
    parser.add_argument("--data", action="append", required=True, type=Path, help="training data folder (repeatable)")
    parser.add_argument("--out", required=True, type=Path, help="run folder: checkpoints, progress.jsonl, previews")
    length = parser.add_mutually_exclusive_group()
    for setting in LENGTH:
        setting.add_to(length)
    for setting in SETTINGS:
        setting.add_to(parser)
    parser.add_argument("--paste-from", action="append", default=[], metavar="NAME",
                        help="with --pastes: a data folder (or prepared source) whose objects are pasted, by its "
                        "name (repeatable; default: every one)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--progress", choices=PROGRESS_MODES, default="auto",
                        help="bar (terminal), json (JSON lines on stdout), none; auto: bar on a terminal")
    parser.set_defaults(run=run_train, failures=FAILURES)


def _settings(args: argparse.Namespace, config: type[DictConfig]) -> dict[str, Any]:
    """The values the command line gives the fields of ``config``."""
    return {s.name: getattr(args, s.dest) for s in (*LENGTH, *SETTINGS) if s.config is config}


def _generator_config(size: int, **settings: Any) -> GeneratorConfig:
    """The default architecture with ``settings``, scaled so its bottleneck and grid suit the working ``size``."""
    default = GeneratorConfig()
    bottleneck = default.working_size // 2**default.depth
    depth = max(1, round(math.log2(max(size // bottleneck, 2))))
    grid = min(default.grid, size // 2)
    return GeneratorConfig(**settings, working_size=size, depth=depth, grid=grid)


def _gate_kinds(args: argparse.Namespace, data: tuple[str, ...]) -> int:
    """One kind per data folder with --gate-by-kind and --gate (TrainConfig says what a run needs)."""
    return len(data) if args.gate_by_kind and args.gate else 0


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run the command line describes.

    Raises:
        DataError: a prepared cache among the ``--data`` folders is unusable.
        RunError: the settings cannot make a run; the message says which.
    """
    # Absolute paths, so a run resumes the same from any working directory; a prepared cache
    # stands for its sub-folders.
    data = tuple(str(p.resolve()) for p in expand_data(args.data, args.size))
    _check_prior_settings(args)
    try:
        data_config = DataConfig(**_settings(args, DataConfig), synthesis=SynthesisConfig(**_settings(args, SynthesisConfig)))
        return TrainConfig(
            data=data,
            out=str(args.out),
            paste_from=tuple(args.paste_from),
            **_settings(args, TrainConfig),
            generator=_generator_config(
                data_config.size, **_settings(args, GeneratorConfig), gate_kinds=_gate_kinds(args, data)
            ),
            loss=LossConfig(**_settings(args, LossConfig)),
            negatives=NegativeConfig(**_settings(args, NegativeConfig)),
            data_config=data_config,
        )
    except ValueError as error:
        raise RunError(str(error)) from error


def _check_prior_settings(args: argparse.Namespace) -> None:
    """A statistics prior's settings take effect when it is fitted; any other run would drop them
    without a word (a ``--mixer-only`` fit keeps the started model's).

    Raises:
        RunError: a prior setting differs from its default without ``--prior-only``.
    """
    if args.prior_only:
        return
    default = GeneratorConfig()
    given = [s.flag for s in SETTINGS if s.config is GeneratorConfig and s.name in prior_settings(default)
             and getattr(args, s.dest) != getattr(default, s.name)]
    if given:
        raise RunError(f"{', '.join(given)}: the statistics prior's settings are made when it is fitted; give "
                       "--prior-only (with --init), or leave them out (a --mixer-only fit keeps the started model's)")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_train(args: argparse.Namespace) -> int:
    # Until the loop installs its own handler (which stops between steps), SIGTERM acts like Ctrl+C.
    signal.signal(signal.SIGTERM, _interrupt)
    config = config_from_args(args)
    try:
        run = fit_prior if config.prior_only or config.mixer_only else train
        result = run(config, resume=args.resume, progress=args.progress)
    except KeyboardInterrupt:
        if args.progress == JSON_PROGRESS:
            stopped = DoneEvent(step=0, stopped=True, best=None, last=None, metrics={}, replicas_identical=True)
            print(event_line(stopped), flush=True)
        print("stopped before training began; nothing was written", file=sys.stderr)
        return EXIT_STOPPED
    code = EXIT_STOPPED if result.stopped else EXIT_OK
    if distributed.launched_as_replica():
        distributed.leave(code)
    return code
