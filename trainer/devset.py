"""The fixed development set: synthetic composites that no training run sees.

Two iHarmony4-layout subsets, regenerated identically from a seed (never committed):

- ``labelme/``: the validation photos of ``labelme_regions`` (the split a training run with the
  same seed holds out), each with its own labelled region recoloured the way training composites
  are made, at the photos' 256x256 size;
- ``highres/``: the high-resolution ``backgrounds`` photos (no training run uses them), their long
  side brought to ``--long-side`` pixels, with a cut-out's silhouette placed at random as the mask
  and the masked region recoloured.

``python main.py evaluate DEVSET/labelme`` (and ``DEVSET/highres``) then measures any model on them.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from engine.imageio import from_float, read_image, to_float, write_png
from trainer.dataset import DataConfig, HarmonizationDataset
from trainer.masks import ShapeBank
from trainer.sources import discover
from trainer.synthesis import synthesize

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
HIGHRES_AREA = (0.05, 0.3)
HIGHRES_LONG_SIDE = 2400


def _write_triplet(root: Path, name: str, composite: np.ndarray, mask: np.ndarray, real: np.ndarray) -> None:
    write_png(root / "composite_images" / f"{name}_1_1.png", from_float(composite, np.uint8))
    write_png(root / "masks" / f"{name}_1.png", from_float(mask, np.uint8))
    write_png(root / "real_images" / f"{name}.png", from_float(real, np.uint8))


def _prepare(root: Path) -> None:
    for sub in ("composite_images", "masks", "real_images"):
        (root / sub).mkdir(parents=True, exist_ok=True)


def make_labelme(labelme: Path, out: Path, seed: int, val_fraction: float = 0.05) -> int:
    """Write the held-out labelme composites; returns how many."""
    _prepare(out)
    dataset = HarmonizationDataset([discover(labelme, val_fraction, seed)], "val", DataConfig(seed=seed, val_fraction=val_fraction))
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


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("devset", help="regenerate the fixed development set for evaluation",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder to write labelme/ and highres/ into")
    parser.add_argument("--labelme", type=Path, default=SHARED_DATA / "labelme_regions")
    parser.add_argument("--backgrounds", type=Path, default=SHARED_DATA / "backgrounds")
    parser.add_argument("--cutouts", type=Path, default=SHARED_DATA / "cutouts")
    parser.add_argument("--seed", type=int, default=0, help="the training runs' seed, so the held-out split matches")
    parser.add_argument("--long-side", type=int, default=HIGHRES_LONG_SIDE, help="long side of the high-resolution composites")
    parser.set_defaults(run=run_devset)


def run_devset(args: argparse.Namespace) -> int:
    count = make_labelme(args.labelme, args.out / "labelme", args.seed)
    print(f"{count} labelme composites in {args.out / 'labelme'}")
    count = make_highres(args.backgrounds, args.cutouts, args.out / "highres", args.seed, args.long_side)
    print(f"{count} high-resolution composites in {args.out / 'highres'}")
    return 0
