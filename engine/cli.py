"""The engine's command line: ``harmonize`` (one file or a folder) and ``evaluate``.

Exit codes (:mod:`engine.exit_codes`): 0 success; 1 some items of a batch failed; 2 bad usage or
unusable input (unreadable image, wrong mask size, refused overwrite); 3 the model or the device
cannot be used.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from engine.atomic import write_bytes_atomic
from engine.checkpoint import CheckpointError
from engine.devices import DEVICE_CHOICES, DeviceError
from engine.exit_codes import EXIT_INPUT, EXIT_MODEL, EXIT_OK, EXIT_PARTIAL, Failure
from engine.harmonizer import Harmonizer, load_harmonizer
from engine.iharmony import IMAGE_EXTENSIONS, LayoutError, find_triplets, mask_stem
from engine.imageio import (
    ImageReadError,
    LoadedImage,
    MaskSizeError,
    mask_from_alpha,
    read_image,
    read_mask,
    write_png,
)
from engine.pipeline import DEFAULT_STRENGTH, MAX_STRENGTH, harmonize_array, mask_coverage_note

log = logging.getLogger("harmonizer")


class InputError(ValueError):
    """Unusable input given on the command line."""


def _overwrite_hint(error: BaseException, args: argparse.Namespace | None = None) -> str:
    """A refused overwrite's message: the error's own words, and how to allow it."""
    return f"{getattr(error, 'strerror', None) or error} (pass --overwrite to replace it)"


MODEL_FAILURE = Failure((CheckpointError, DeviceError), EXIT_MODEL)
FAILURES = (
    MODEL_FAILURE,
    Failure((FileExistsError,), EXIT_INPUT, _overwrite_hint),
    Failure((ImageReadError, MaskSizeError, InputError, LayoutError, OSError, ValueError), EXIT_INPUT),
)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="default", help="default, classical, or a .safetensors checkpoint path")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="where to compute (default: auto)")
    parser.add_argument("--resize-mask", action="store_true", help="resize masks whose size differs from the image")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``harmonize`` and ``evaluate`` on the program's sub-command parser."""
    harmonize = subparsers.add_parser(
        "harmonize",
        help="harmonize a composite (or a folder of composites)",
        description="Re-colour the masked foreground of a composite so it matches its background. "
        "COMPOSITE and MASK may be files, or folders whose files pair by name "
        "(same name, or iHarmony4 names: composite a0002_1_4 -> mask a0002_1).",
    )
    harmonize.add_argument("composite", type=Path, help="composite image or folder")
    harmonize.add_argument("mask", type=Path, nargs="?", help="mask image or folder (default: the composite's alpha)")
    harmonize.add_argument("-o", "--output", type=Path, required=True, help="output PNG, or folder for a batch")
    harmonize.add_argument(
        "--strength", type=float, default=DEFAULT_STRENGTH,
        help=f"0 = composite, 1 = the model's correction, up to {MAX_STRENGTH:g} = more of it from a model that "
        "holds some back (one with a gate)",
    )
    harmonize.add_argument("--overwrite", action="store_true", help="replace existing output files")
    _add_model_options(harmonize)
    harmonize.set_defaults(run=run_harmonize, failures=FAILURES)

    evaluate = subparsers.add_parser(
        "evaluate",
        help="measure MSE, PSNR and fMSE on an iHarmony4-layout folder",
        description="Evaluate on ROOT/composite_images, ROOT/masks, ROOT/real_images; the composite "
        "itself is measured as the baseline beside the model.",
    )
    evaluate.add_argument("root", type=Path, help="iHarmony4-layout folder")
    evaluate.add_argument("--list", type=Path, help="file listing the composites to use (e.g. HAdobe5k_test.txt)")
    evaluate.add_argument("--json", type=Path, help="write per-image and mean metrics to this JSON file")
    _add_model_options(evaluate)
    evaluate.set_defaults(run=run_evaluate, failures=FAILURES)


def _load_pair(composite_path: Path, mask_path: Path | None, resize_mask: bool) -> tuple[LoadedImage, np.ndarray]:
    image = read_image(composite_path)
    if mask_path is None:
        if image.alpha is None:
            raise InputError(f"{composite_path} has no alpha channel; give a mask image")
        return image, mask_from_alpha(image)
    return image, read_mask(mask_path, expected_shape=(image.height, image.width), resize=resize_mask)


def _iharmony_mask_stem(composite_stem: str) -> str | None:
    try:
        return mask_stem(composite_stem)
    except LayoutError:
        return None


def _pair_folders(composites: Path, masks: Path | None) -> list[tuple[Path, Path | None]]:
    files = sorted(p for p in composites.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))
    if not files:
        raise InputError(f"{composites} holds no images")
    if masks is None:
        return [(f, None) for f in files]
    if not masks.is_dir():
        raise InputError(f"{composites} is a folder, so the mask must be a folder too; {masks} is not")
    by_stem = {p.stem: p for p in masks.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS}
    pairs, missing = [], []
    for file in files:
        found = by_stem.get(file.stem) or by_stem.get(_iharmony_mask_stem(file.stem) or "")
        (pairs if found else missing).append((file, found))
    if missing:
        names = ", ".join(f.name for f, _ in missing[:5])
        raise InputError(f"no mask in {masks} for {len(missing)} composite(s), e.g. {names}")
    return pairs


def _harmonize_file(harmonizer: Harmonizer, source: Path, mask: Path | None, target: Path, args: argparse.Namespace) -> None:
    image, mask_array = _load_pair(source, mask, args.resize_mask)
    note = mask_coverage_note(mask_array)
    if note:
        log.warning("%s: %s", source.name, note)
    result = harmonize_array(harmonizer, image.rgb, mask_array, strength=args.strength)
    write_png(target, result, overwrite=args.overwrite)


def run_harmonize(args: argparse.Namespace) -> int:
    if not 0.0 <= args.strength <= MAX_STRENGTH:
        raise InputError(f"--strength must be between 0 and {MAX_STRENGTH:g}, got {args.strength}")
    if not args.composite.exists():
        raise InputError(f"{args.composite} does not exist")
    harmonizer = load_harmonizer(args.model, args.device)
    log.info("model: %s on %s", harmonizer.description, harmonizer.device)
    if not args.composite.is_dir():
        if args.output.suffix.lower() != ".png":
            raise InputError(f"output must be a .png file, got {args.output}")
        _harmonize_file(harmonizer, args.composite, args.mask, args.output, args)
        print(args.output)
        return EXIT_OK

    from tqdm import tqdm  # only batches show progress

    pairs = _pair_folders(args.composite, args.mask)
    args.output.mkdir(parents=True, exist_ok=True)
    failures = 0
    for source, mask in tqdm(pairs, desc="harmonizing", unit="image", disable=None):
        try:
            _harmonize_file(harmonizer, source, mask, args.output / f"{source.stem}.png", args)
        except FileExistsError as error:
            failures += 1
            tqdm.write(f"error: {_overwrite_hint(error)}", file=sys.stderr)
        except (ImageReadError, MaskSizeError, InputError, OSError, ValueError) as error:
            failures += 1
            tqdm.write(f"error: {source.name}: {error}", file=sys.stderr)
    print(f"{len(pairs) - failures} of {len(pairs)} harmonized into {args.output}")
    return EXIT_PARTIAL if failures else EXIT_OK


def _format_table(means: dict[str, dict[str, float]]) -> str:
    lines = [f"{'':<22}{'MSE':>10}{'PSNR':>9}{'fMSE':>10}"]
    for label, values in means.items():
        lines.append(f"{label:<22}{values['mse']:>10.2f}{values['psnr']:>9.2f}{values['fmse']:>10.2f}")
    return "\n".join(lines)


def run_evaluate(args: argparse.Namespace) -> int:
    from engine.evaluation import evaluate_triplets  # metrics are not needed to harmonize

    triplets = find_triplets(args.root, args.list)
    harmonizer = load_harmonizer(args.model, args.device)
    log.info("model: %s on %s", harmonizer.description, harmonizer.device)
    scores = evaluate_triplets(harmonizer, triplets, args.resize_mask)
    means = {key: acc.means() for key, acc in scores.items()}
    print(f"{len(triplets)} images, model: {harmonizer.description}")
    print(_format_table(means))
    if args.json:
        report = {
            "model": args.model,
            "description": harmonizer.description,
            "count": len(triplets),
            "mean": means,
            "images": [
                {"name": name, **{key: dict(scores[key].per_image[i][1]) for key in scores}}
                for i, (name, _) in enumerate(scores["model@256"].per_image)
            ],
        }
        write_bytes_atomic(args.json, json.dumps(report, indent=2).encode("utf-8"))
    return EXIT_OK

