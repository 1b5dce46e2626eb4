"""``python main.py train``: the trainer's command line (the GUI starts training through it too).

Exit codes: 0 finished; 130 stopped early by SIGINT/SIGTERM (the last checkpoint is kept);
2 unusable data or settings; 3 unusable checkpoint or device; 1 the run failed while training
(e.g. a full disk; the message says which checkpoint survives).
"""
from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from pathlib import Path

from engine.atomic import AtomicWriteError
from engine.checkpoint import CheckpointError
from engine.devices import DEVICE_CHOICES, DeviceError
from engine.model.generator import BASES, HEADS, GeneratorConfig
from trainer.config import TrainConfig
from trainer.dataset import DataConfig
from trainer.loop import RunError, train
from trainer.losses import LossConfig
from trainer.negatives import NegativeConfig
from trainer.prepared import expand_data
from trainer.progress import PROGRESS_MODES
from trainer.sources import DataError
from trainer.synthesis import SynthesisConfig
from trainer.state import LAST

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_MODEL, EXIT_STOPPED = 0, 1, 2, 3, 130


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
    length.add_argument("--steps", type=int, help="optimisation steps")
    length.add_argument("--epochs", type=int, help="passes over the training images (default 10)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per step and process")
    parser.add_argument("--size", type=int, default=256, help="working size (default 256)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    parser.add_argument("--init", type=Path, help="start from this checkpoint (fine-tuning, a personal model)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="data-loading worker processes")
    parser.add_argument("--val-every", type=int, help="steps between validations (default: each epoch)")
    parser.add_argument("--val-limit", type=int, default=200, help="validation images used at most")
    parser.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints")
    parser.add_argument("--log-every", type=int, default=10, help="steps between progress reports")
    parser.add_argument("--mask-shapes", type=Path, help="folder of RGBA cut-outs whose alphas serve as extra masks")
    parser.add_argument("--shape-probability", type=float, default=DataConfig().shape_probability,
                        help="with --mask-shapes: chance that a photo uses a silhouette instead of its own mask")
    parser.add_argument("--identity-fraction", type=float, default=SynthesisConfig().identity_fraction,
                        help="share of training inputs left unedited, to teach the model to leave a fitting foreground alone")
    parser.add_argument("--negatives", type=int, default=NegativeConfig().count, help="K dynamic negatives per sample")
    parser.add_argument("--style-weight", type=float, default=LossConfig().style_weight, help="lambda of the style terms")
    parser.add_argument("--vgg-weights", default="auto",
                        help="auto (cached ImageNet weights, else a fixed random VGG), imagenet (may download), random, or a file")
    parser.add_argument("--style-size", type=int, default=LossConfig().style_size,
                        help="shorter side of the images the style network sees (smaller is faster)")
    parser.add_argument("--head", choices=HEADS, default=GeneratorConfig().head, help="generator output head")
    parser.add_argument("--base", choices=BASES, default=GeneratorConfig().base,
                        help="what the mapping starts from: a learned Lab transfer (adaptive), classical, or the composite")
    parser.add_argument("--width", type=int, default=GeneratorConfig().width, help="generator base width")
    parser.add_argument("--progress", choices=PROGRESS_MODES, default="auto",
                        help="bar (terminal), json (JSON lines on stdout), none; auto: bar on a terminal")
    parser.set_defaults(run=run_train)


def _generator_config(args: argparse.Namespace) -> GeneratorConfig:
    """The default architecture, scaled so its bottleneck and grid suit the working size."""
    default = GeneratorConfig()
    bottleneck = default.working_size // 2**default.depth
    depth = max(1, round(math.log2(max(args.size // bottleneck, 2))))
    grid = min(default.grid, args.size // 2)
    return GeneratorConfig(head=args.head, base=args.base, width=args.width, working_size=args.size, depth=depth, grid=grid)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    generator = _generator_config(args)
    return TrainConfig(
        # Absolute paths, so a run resumes the same from any working directory; a prepared cache
        # stands for its sub-folders.
        data=tuple(str(p.resolve()) for p in expand_data(args.data, args.size)),
        out=str(args.out),
        steps=args.steps,
        epochs=args.epochs if args.epochs is not None or args.steps is not None else 10,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        workers=args.workers,
        device=args.device,
        init=str(args.init.resolve()) if args.init else None,
        vgg_weights=args.vgg_weights,
        val_every=args.val_every,
        val_limit=args.val_limit,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        generator=generator,
        loss=LossConfig(style_weight=args.style_weight, style_size=args.style_size),
        negatives=NegativeConfig(count=args.negatives),
        data_config=DataConfig(
            size=args.size, seed=args.seed, shapes=str(args.mask_shapes.resolve()) if args.mask_shapes else None,
            shape_probability=args.shape_probability,
            synthesis=SynthesisConfig(identity_fraction=args.identity_fraction),
        ),
    )


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if getattr(args, "progress", None) == "json":
        print(json.dumps({"event": "error", "message": message}), flush=True)
    print(f"error: {message}", file=sys.stderr)
    return code


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_train(args: argparse.Namespace) -> int:
    # Until the loop installs its own handler (which stops between steps), SIGTERM acts like Ctrl+C.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        config = config_from_args(args)
    except ValueError as error:
        return _fail(args, str(error), EXIT_INPUT)
    try:
        result = train(config, resume=args.resume, progress=args.progress)
    except KeyboardInterrupt:
        if args.progress == "json":
            print(json.dumps({"event": "done", "step": 0, "stopped": True, "best": None, "last": None}), flush=True)
        print("stopped before training began; nothing was written", file=sys.stderr)
        return EXIT_STOPPED
    except (DataError, RunError) as error:
        return _fail(args, str(error), EXIT_INPUT)
    except (CheckpointError, DeviceError) as error:
        return _fail(args, str(error), EXIT_MODEL)
    except AtomicWriteError as error:
        last = args.out / LAST
        survivor = f"the last good checkpoint {last} is intact" if last.exists() else "no checkpoint was written"
        return _fail(args, f"{error}; {survivor}", EXIT_FAILED)
    return EXIT_STOPPED if result.stopped else EXIT_OK
