"""``python main.py prepare``: a compact cache of training photos at the scale training reads them.

Training crops 60-100% of a photo's shorter side and resizes the crop to the training size, so a
camera-size photo is decoded in full for a few hundred pixels. ``prepare`` reads every photo once
and writes, per data folder, a sub-folder of the cache holding:

- the photos scaled down (never up) so that their shorter side is ``MARGIN`` times the training
  size, as JPEG (``DEFAULT_QUALITY``);
- the masks at the same size as greyscale PNG (an RGBA cut-out's alpha becomes its mask file);
- ``manifest.csv`` (``name,image,mask,region``): region labels and file-name categories survive;
  an empty mask means "generated during training", as for plain photos.

Relative file names (and so their sorted order) are kept, so every folder splits into the same
training and validation photos as the original. ``prepared.json`` (:mod:`trainer.prepared`) is
written last; ``main.py train --data CACHE`` reads the cache's sub-folders as separate sources.
iHarmony4 folders are refused: their composites are ready-made and already small.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from engine.atomic import write_bytes_atomic
from engine.exit_codes import EXIT_FAILED, EXIT_INPUT, EXIT_OK, Failure
from engine.imageio import (
    ImageReadError,
    LoadedImage,
    from_float,
    read_image,
    to_float,
    write_png,
)
from trainer.dataset import DataConfig
from trainer.photo_cache import MARGIN, scaled_size
from trainer.prepared import PreparedIndex, PreparedSource, is_prepared, write_index
from trainer.sources import DataError, DataSource, Sample, discover, own_mask

# JPEG quality: at the training scale, 85 keeps colours and edges visually intact and makes the
# files about a fifth smaller than 90 would.
DEFAULT_QUALITY = 85
_JPEG_SUFFIXES = (".jpg", ".jpeg")
_PROGRESS_EVERY = 250

Progress = Callable[[str], None]


@dataclass(frozen=True)
class _Row:
    """One manifest row: a sample and where its files go, relative to the source's sub-folder."""

    sample: Sample
    image: str
    mask: str  # empty: the mask is generated during training
    region: str


def prepare(
    sources: list[Path], out: Path, size: int, quality: int = DEFAULT_QUALITY, progress: Progress | None = None
) -> PreparedIndex:
    """Write a prepared cache of ``sources`` into the new or empty folder ``out``.

    Every source is checked before anything is written.

    Args:
        sources: Data folders (manifest, images+masks, RGBA cut-outs or photos).
        out: The cache folder; missing or empty.
        size: The training size the cache serves.
        quality: JPEG quality of the photos, 1-100.
        progress: Called with a line of progress now and then.

    Returns:
        The cache's index, as written to ``out/prepared.json``.

    Raises:
        DataError: Bad settings, a source that is missing, unusable or an iHarmony4 folder, or
            an ``out`` that is not empty.
        ImageReadError: A photo or mask cannot be read.
        OSError: A file or folder cannot be written (``AtomicWriteError`` among them).
    """
    if size < 8 or not 1 <= quality <= 100:
        raise DataError(f"size must be at least 8 and quality within 1-100, got size {size}, quality {quality}")
    _check_empty(out)
    found = [_discover(path) for path in sources]
    folders = [out / name for name in _folder_names(sources)]
    plans = [_plan(source, folder) for source, folder in zip(found, folders)]
    short_side = round(size * MARGIN)
    written = [
        _write_source(source, rows, folder, short_side, quality, progress or (lambda line: None))
        for source, rows, folder in zip(found, plans, folders)
    ]
    index = PreparedIndex(size, short_side, quality, tuple(written))
    write_index(out, index)
    return index


def _check_empty(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(f"cache path {out} is a file; give a new or empty folder")
    if out.is_dir() and any(out.iterdir()):
        raise DataError(f"cache folder {out} is not empty; give a new folder or delete it first")


def _discover(path: Path) -> DataSource:
    if is_prepared(path):
        raise DataError(f"{path} is a prepared cache already; prepare from its original folders")
    source = discover(path)
    if source.kind == "iharmony4":
        raise DataError(
            f"{path} is an iHarmony4 folder; its ready-made composites are not prepared: train on it "
            "directly (prepare takes manifest, images+masks, RGBA cut-out and photo folders)"
        )
    return source


def _folder_names(sources: list[Path]) -> list[str]:
    """Each source's sub-folder: its own folder name, numbered when two sources share one."""
    names: list[str] = []
    for path in sources:
        base = Path(os.path.abspath(path.expanduser())).name or "data"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


# --- planning ------------------------------------------------------------------------------


def _plan(source: DataSource, folder: Path) -> list[_Row]:
    """The manifest rows of ``source`` in its cache ``folder``, checked to keep names apart and in order."""
    samples = sorted(source.train + source.val, key=lambda s: (str(s.real), str(s.mask)))
    rows = [_row(source.root, sample) for sample in samples]
    _check_distinct(source.root, rows)
    _check_order(source.root, folder, rows)
    return rows


def _row(root: Path, sample: Sample) -> _Row:
    image = _relative(root, sample.real, ".jpg")
    if sample.mask_source == "alpha":
        mask = str(PurePosixPath("alpha", image).with_suffix(".png"))
    else:
        mask = _relative(root, sample.mask, ".png") if sample.mask is not None else ""
    return _Row(sample, image, mask, sample.region or "")


def _relative(root: Path, path: Path, suffix: str) -> str:
    """``path`` relative to ``root`` with a new suffix; files outside ``root`` go under ``external/``."""
    try:
        relative = PurePosixPath(path.relative_to(root).as_posix())
    except ValueError:
        relative = PurePosixPath("..")
    if ".." in relative.parts:
        relative = PurePosixPath("external", *Path(os.path.abspath(path)).parts[1:])
    return str(relative.with_suffix(suffix))


def _check_distinct(root: Path, rows: list[_Row]) -> None:
    """Two different original files must not land on one cache file (``a.jpg`` and ``a.png``)."""
    origins: dict[str, Path] = {}
    for row in rows:
        for target, origin in ((row.image, row.sample.real), (row.mask, row.sample.mask or row.sample.real)):
            if target and origins.setdefault(target, origin) != origin:
                raise DataError(
                    f"{root}: {origins[target]} and {origin} would both become {target} in the cache; rename one"
                )


def _check_order(root: Path, folder: Path, rows: list[_Row]) -> None:
    """The cache must sort its samples like the original, so that the split stays the same."""
    cached = sorted(rows, key=lambda r: (str(folder / r.image), str(folder / r.mask) if r.mask else "None"))
    for original, renamed in zip(rows, cached):
        if original is not renamed:
            raise DataError(
                f"{root}: {original.sample.real.name} and {renamed.sample.real.name} sort differently once "
                "renamed to .jpg/.png, which would change the train/validation split; rename one"
            )


# --- writing -------------------------------------------------------------------------------


def _write_source(
    source: DataSource, rows: list[_Row], folder: Path, short_side: int, quality: int, progress: Progress
) -> PreparedSource:
    by_photo: dict[Path, list[_Row]] = {}
    for row in rows:
        by_photo.setdefault(row.sample.real, []).append(row)
    for done, photo_rows in enumerate(by_photo.values(), start=1):
        _write_photo(photo_rows, folder, short_side, quality)
        if done % _PROGRESS_EVERY == 0 or done == len(by_photo):
            progress(f"{folder.name}: {done:,}/{len(by_photo):,} photos")
    _write_manifest(folder, rows)
    return PreparedSource(folder.name, os.path.abspath(source.root), source.kind, len(by_photo), len(rows))


def _write_photo(rows: list[_Row], folder: Path, short_side: int, quality: int) -> None:
    """One photo and the masks of its rows, all at the photo's scaled size."""
    real = rows[0].sample.real
    image = read_image(real)
    size = scaled_size(image.width, image.height, short_side)
    target = folder / rows[0].image
    target.parent.mkdir(parents=True, exist_ok=True)
    if size == (image.width, image.height) and real.suffix.lower() in _JPEG_SUFFIXES:
        write_bytes_atomic(target, real.read_bytes())  # already a JPEG of the right size: not compressed twice
    else:
        write_bytes_atomic(target, _encode_jpeg(image, size, quality))
    for row in rows:
        if row.mask:
            mask = cv2.resize(own_mask(row.sample, image), size, interpolation=cv2.INTER_AREA)
            (folder / row.mask).parent.mkdir(parents=True, exist_ok=True)
            write_png(folder / row.mask, from_float(mask, np.uint8))


def _encode_jpeg(image: LoadedImage, size: tuple[int, int], quality: int) -> bytes:
    rgb = image.rgb if image.rgb.dtype == np.uint8 else from_float(to_float(image.rgb), np.uint8)
    if size != (image.width, image.height):
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    ok, buffer = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageReadError(f'cannot encode "{image.source}" as JPEG')
    return buffer.tobytes()


def _write_manifest(folder: Path, rows: list[_Row]) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["name", "image", "mask", "region"])
    for row in rows:
        writer.writerow([PurePosixPath(row.mask or row.image).stem, row.image, row.mask, row.region])
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(folder / "manifest.csv", text.getvalue().encode("utf-8"))


# --- command line --------------------------------------------------------------------------


def _incomplete(error: BaseException, args: argparse.Namespace) -> str:
    return f"{error}; the cache in {args.out} is incomplete"


FAILURES = (
    Failure((DataError, ImageReadError), EXIT_INPUT),
    Failure((OSError,), EXIT_FAILED, _incomplete),  # AtomicWriteError included: full disk, no permission
)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``prepare`` on the program's sub-command parser."""
    parser = subparsers.add_parser(
        "prepare", help="write a compact cache of training photos at the scale training reads them",
        description="Scale the photos and masks of data folders down once for training at --size, into a "
        "cache folder that `main.py train --data CACHE` reads (each folder keeps its own train/validation "
        "split). Takes manifest, images+masks, RGBA cut-out and photo folders; not iHarmony4.",
    )
    parser.add_argument("sources", nargs="+", type=Path, metavar="SRC", help="data folder")
    parser.add_argument("--out", required=True, type=Path, help="cache folder to create (new or empty)")
    parser.add_argument("--size", type=int, default=DataConfig().size,
                        help=f"training size the cache serves (default {DataConfig().size})")
    parser.add_argument("--quality", type=int, default=DEFAULT_QUALITY, help=f"JPEG quality (default {DEFAULT_QUALITY})")
    parser.set_defaults(run=run_prepare, failures=FAILURES)


def run_prepare(args: argparse.Namespace) -> int:
    def report(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    index = prepare(args.sources, args.out, args.size, args.quality, progress=report)
    photos = sum(source.photos for source in index.sources)
    print(f"{photos:,} photos from {len(index.sources)} folder(s) in {args.out} (shorter side {index.short_side} px, "
          f"JPEG quality {index.quality}); train with --data {args.out} --size {index.size}")
    return EXIT_OK
