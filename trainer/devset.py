"""The fixed development set: composites that no training run sees, in four parts.

iHarmony4-layout folders, regenerated identically from a seed (never committed), all from the
data folder (:mod:`engine.data_location`):

- ``labelme/``: the held-out photos of ``labelme_regions`` (the split a training run with the same
  seed holds out), each with its labelled region recoloured the way training composites are made;
- ``highres/``: the high-resolution ``backgrounds`` photos (no training run uses them), their long
  side brought to ``--long-side`` pixels, with a cut-out's silhouette as the mask, recoloured;
- ``objects/``: the held-out photos of every ``objects/<source>`` folder, each object recoloured
  retouch-like or, half the time, transfer-like from another held-out photo of its category;
- ``identity/``: the held-out photos of every source, **unedited**, each with its own mask. A
  harmonizer should hand them back unchanged: this part measures the harm done where nothing
  is wrong.

``python main.py evaluate DEVSET/<part>`` then measures any model on a part, and
``benchmarks/devset.py`` on all of them.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

from engine.data_location import MissingDataError, data_root, require
from engine.exit_codes import EXIT_INPUT, EXIT_OK, Failure
from engine.imageio import from_float, read_image, read_mask, to_float, write_png
from trainer.dataset import DataConfig, HarmonizationDataset
from trainer.masks import ShapeBank
from trainer.sources import Sample, discover
from trainer.synthesis import SynthesisConfig, synthesize

PARTS = ("labelme", "highres", "objects", "identity")
HIGHRES_AREA = (0.05, 0.3)
HIGHRES_LONG_SIDE = 2400
VAL_FRACTION = DataConfig().val_fraction  # the trainer's hold-out, so a run with the same seed never sees these
_REFERENCE_SIDE = 128
_TRANSFER_SHARE = 0.5


def _write_triplet(root: Path, name: str, composite: np.ndarray, mask: np.ndarray, real: np.ndarray) -> None:
    write_png(root / "composite_images" / f"{name}_1_1.png", from_float(composite, np.uint8))
    write_png(root / "masks" / f"{name}_1.png", from_float(mask, np.uint8))
    write_png(root / "real_images" / f"{name}.png", from_float(real, np.uint8))


def _prepare(root: Path) -> None:
    for sub in ("composite_images", "masks", "real_images"):
        (root / sub).mkdir(parents=True, exist_ok=True)


def object_sources(objects: Path) -> list[Path]:
    """The ``objects/<source>`` folders, sorted by name."""
    return sorted(p for p in objects.iterdir() if p.is_dir() and not p.name.startswith("."))


def make_labelme(labelme: Path, out: Path, seed: int) -> int:
    """Write the held-out labelme composites; returns how many."""
    _prepare(out)
    dataset = HarmonizationDataset([discover(labelme, VAL_FRACTION, seed)], "val", DataConfig(seed=seed, val_fraction=VAL_FRACTION))
    for index in range(len(dataset)):
        item = dataset[index]
        images = [item[k].permute(1, 2, 0).numpy() for k in ("composite", "real")]
        _write_triplet(out, f"lm{index:04d}", images[0], item["mask"][0].numpy(), images[1])
    return len(dataset)


def make_highres(backgrounds: Path, cutouts: Path, out: Path, seed: int, long_side: int) -> int:
    """Write the high-resolution composites; returns how many."""
    _prepare(out)
    shapes = ShapeBank.from_folder(cutouts)
    photos = sorted(p for p in backgrounds.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for index, photo in enumerate(photos):
        rng = np.random.default_rng((seed, index))
        rgb = read_image(photo).rgb
        scale = long_side / max(rgb.shape[:2])
        if scale < 1:
            rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        real = torch.from_numpy(to_float(rgb)).permute(2, 0, 1)
        mask = shapes.random_mask(rgb.shape[0], rgb.shape[1], rng, area=HIGHRES_AREA)
        composite = synthesize(real, torch.from_numpy(mask)[None], rng)
        _write_triplet(out, f"hr{index:04d}", composite.permute(1, 2, 0).numpy(), mask, real.permute(1, 2, 0).numpy())
    return len(photos)


def _photo_and_mask(sample: Sample) -> tuple[np.ndarray, np.ndarray]:
    real = to_float(read_image(sample.real).rgb)
    return real, read_mask(sample.mask, expected_shape=real.shape[:2], resize=True)


def held_out(folders: list[Path], seed: int) -> Iterator[tuple[int, str, list[Sample]]]:
    """``(source index, source name, held-out samples with a mask file)`` per folder."""
    for s, folder in enumerate(folders):
        samples = [x for x in discover(folder, VAL_FRACTION, seed).val if x.mask is not None]
        yield s, folder.name, samples


def _reference(sample: Sample, samples: list[Sample], rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor] | None:
    others = [x for x in samples if x.region == sample.region and x is not sample]
    if not others or rng.random() >= _TRANSFER_SHARE:
        return None
    real, mask = _photo_and_mask(others[int(rng.integers(len(others)))])
    real = cv2.resize(real, (_REFERENCE_SIDE, _REFERENCE_SIDE), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, (_REFERENCE_SIDE, _REFERENCE_SIDE), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(real).permute(2, 0, 1), torch.from_numpy(mask)[None]


def make_objects(objects: Path, out: Path, seed: int) -> int:
    """Write the held-out object photos with their object recoloured; returns how many."""
    _prepare(out)
    count = 0
    for s, name, samples in held_out(object_sources(objects), seed):
        for i, sample in enumerate(samples):
            rng = np.random.default_rng((seed, s, i))
            real, mask = _photo_and_mask(sample)
            reference = _reference(sample, samples, rng)
            config = SynthesisConfig(retouch_probability=0.0 if reference is not None else 1.0)
            real_t = torch.from_numpy(real).permute(2, 0, 1)
            composite = synthesize(real_t, torch.from_numpy(mask)[None], rng, config, reference)
            _write_triplet(out, f"{name}-{sample.real.stem}", composite.permute(1, 2, 0).numpy(), mask, real)
            count += 1
    return count


def make_identity(labelme: Path, objects: Path, out: Path, seed: int) -> int:
    """Write the held-out photos of every source unedited (composite = real); returns how many."""
    _prepare(out)
    count = 0
    for _, name, samples in held_out([labelme, *object_sources(objects)], seed):
        for sample in samples:
            real, mask = _photo_and_mask(sample)
            _write_triplet(out, f"{name}-{sample.real.stem}", real, mask, real)
            count += 1
    return count


def make_part(part: str, data: Path, out: Path, seed: int, long_side: int = HIGHRES_LONG_SIDE) -> int:
    """Write one part of the development set from the data folder ``data``; returns its size.

    Raises:
        MissingDataError: a folder the part is made from is absent.
    """
    labelme, objects = data / "labelme_regions", data / "objects"
    if part == "labelme":
        return make_labelme(require(labelme, "labelme_regions"), out, seed)
    if part == "highres":
        return make_highres(require(data / "backgrounds", "backgrounds"), require(data / "cutouts", "cutouts"), out, seed, long_side)
    if part == "objects":
        return make_objects(require(objects, "objects"), out, seed)
    if part == "identity":
        return make_identity(require(labelme, "labelme_regions"), require(objects, "objects"), out, seed)
    raise ValueError(f"unknown development-set part {part!r}; parts: {', '.join(PARTS)}")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("devset", help="regenerate the fixed development set for evaluation",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder to write the parts into")
    parser.add_argument("--data", type=Path, default=None,
                        help="data folder (default: $HARMONIZER_DATA, else the repository's data/)")
    parser.add_argument("--part", action="append", choices=PARTS, help="only this part (repeatable; default: all)")
    parser.add_argument("--seed", type=int, default=DataConfig().seed,
                        help="the training runs' seed, so the held-out split matches")
    parser.add_argument("--long-side", type=int, default=HIGHRES_LONG_SIDE, help="long side of the high-resolution composites")
    parser.set_defaults(run=run_devset, failures=(Failure((MissingDataError,), EXIT_INPUT),))


def run_devset(args: argparse.Namespace) -> int:
    data = args.data or data_root()
    for part in args.part or PARTS:
        count = make_part(part, data, args.out / part, args.seed, args.long_side)
        print(f"{count} {part} composites in {args.out / part}")
    return EXIT_OK
