"""Recognising what a ``--data`` folder holds and listing its training samples.

Five layouts are accepted, tried in this order:

- ``iharmony4``: an iHarmony4 subset (``composite_images/``, ``masks/``, ``real_images/``, optional
  ``*_train.txt`` / ``*_test.txt``), or a folder holding several such subsets;
- ``manifest``: a ``manifest.csv`` with columns ``name,image,mask,region[,region_fraction]`` whose
  paths are relative to the folder (like ``labelme_regions``);
- ``images+masks``: ``images/`` and ``masks/`` with matching file stems;
- ``rgba``: images whose alpha channel marks the region (RGBA cut-outs, photos with a painted alpha);
- ``photos``: plain photos; their masks are generated during training.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.iharmony import (
    IMAGE_EXTENSIONS,
    LayoutError,
    Triplet,
    find_triplets,
    is_iharmony_root,
    real_stem,
    subset_lists,
)
from engine.imageio import ImageReadError, LoadedImage, conform_mask, mask_from_alpha, read_mask
from engine.training_protocol import VALIDATION_SHARE, held_out_count

MANIFEST = "manifest.csv"
LAYOUTS = (
    "accepted layouts: an iHarmony4 subset (composite_images/, masks/, real_images/) or a folder of "
    "such subsets; a folder with manifest.csv (name,image,mask,region); images/ + masks/ with "
    "matching names; a folder of RGBA images whose alpha marks the region; a folder of photos"
)
_MAX_EXAMPLES = 5
_ALPHA_PROBES = 8  # files whose alpha is decoded to confirm it is not fully opaque
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_VIEW_WORDS = {"left", "right", "rear", "front", "frontal", "side", "back", "whole", "standing", "sitting", "walking"}
_AZIMUTH = re.compile(r"^az\d+(deg)?$")


class DataError(ValueError):
    """A data folder cannot be used; the message names the folder, the problem and the accepted layouts."""


@dataclass(frozen=True)
class Sample:
    """One photo (or iHarmony4 composite) to train on.

    Attributes:
        real: The real photo.
        mask: The mask file; None when the mask comes from ``real``'s alpha or is generated.
        composite: The ready composite (iHarmony4 only).
        region: Normalised category of the masked region ("tree", "car", ...) when known.
        mask_source: ``"file"``, ``"alpha"``, ``"generated"`` or ``"iharmony4"``.
    """

    real: Path
    mask: Path | None
    composite: Path | None
    region: str | None
    mask_source: str


def own_mask(sample: Sample, image: LoadedImage) -> np.ndarray | None:
    """The sample's own mask at the size of ``image`` (its photo), as float32 in [0, 1].

    None when the sample's mask is to be generated. A mask file of another size is resized to fit.

    Raises:
        ImageReadError: The mask file is unreadable, or the photo has no alpha channel to use.
    """
    if sample.mask_source == "alpha":
        if image.alpha is None:
            raise ImageReadError(f'"{sample.real}" has no alpha channel to use as its mask')
        return mask_from_alpha(image)
    if sample.mask is None:
        return None
    return conform_mask(read_mask(sample.mask), image.rgb.shape[:2], resize=True)


@dataclass(frozen=True)
class DataSource:
    """A recognised data folder split into training and validation samples."""

    root: Path
    kind: str
    train: list[Sample]
    val: list[Sample]
    description: str


def discover(path: str | Path, val_fraction: float = VALIDATION_SHARE, seed: int = 0) -> DataSource:
    """Recognise the layout of a data folder and list its samples.

    Args:
        path: The folder given as ``--data``.
        val_fraction: Share of samples held out for validation where the folder has no split of
            its own (at least one sample when there are two or more).
        seed: Seed of that split; the same seed always gives the same split.

    Raises:
        DataError: The folder is missing, empty or holds no usable layout.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"data folder {root} does not exist; {LAYOUTS}")
    if not root.is_dir():
        raise DataError(f"data path {root} is not a folder; {LAYOUTS}")
    if is_iharmony_root(root):
        return _iharmony_source(root, [root], val_fraction, seed)
    subsets = sorted(sub for sub in _visible(root) if sub.is_dir() and is_iharmony_root(sub))
    if subsets:
        return _iharmony_source(root, subsets, val_fraction, seed)
    if (root / MANIFEST).is_file():
        return _manifest_source(root, val_fraction, seed)
    if (root / "images").is_dir() and (root / "masks").is_dir():
        return _images_masks_source(root, val_fraction, seed)
    return _image_folder_source(root, val_fraction, seed)


def normalize_region(label: str) -> str | None:
    """Fold a free-text region label to a category: ``"trees"`` -> ``"tree"``, ``"carLeft"`` -> ``"car"``.

    Lower-cases, keeps the text before a comma or parenthesis, splits camelCase, drops viewpoint
    words and azimuths (``"car side az180deg"`` -> ``"car"``) and folds plural endings.
    """
    head = re.split(r"[,(]", label.strip().strip('"'), maxsplit=1)[0]
    words = re.sub(r"([a-z])([A-Z])", r"\1 \2", head).lower().split()
    kept: list[str] = []
    for word in words:
        if word in _VIEW_WORDS and kept:
            break
        if _AZIMUTH.match(word) or word.isdigit():
            continue
        kept.append(_singular(word))
    return " ".join(kept) or None


def category_from_name(stem: str) -> str:
    """The object category a file name announces: its last word when that is a plain word
    (``"camvid_0001TP_006720_car"`` -> ``"car"``), else its first word without digits
    (``"bear_00006"`` -> ``"bear"``, ``"horse_horse328"`` -> ``"horse"``).

    Transfer-like composites borrow colours from another photo of the same category.
    """
    words = [w for w in re.split(r"[_\-\s.]+", stem) if w]
    if not words:
        return stem
    if len(words) > 1 and words[-1].isalpha():
        return _singular(words[-1].lower())
    return _singular(re.sub(r"\d+", "", words[0]).lower() or words[0].lower())


def split_indices(count: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A fixed-seed split of ``range(count)`` into sorted (train, val) index lists."""
    n_val = held_out_count(count, val_fraction)
    order = np.random.default_rng(seed).permutation(count)
    val = sorted(int(i) for i in order[:n_val])
    held = set(val)
    return [i for i in range(count) if i not in held], val


def _singular(word: str) -> str:
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith(("shes", "ches", "xes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    return [p for p in _visible(folder) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]


def _examples(names: list[str]) -> str:
    rest = len(names) - _MAX_EXAMPLES
    return ", ".join(names[:_MAX_EXAMPLES]) + (f" and {rest} more" if rest > 0 else "")


def _counts(train: list[Sample], val: list[Sample]) -> str:
    return f"({len(train):,} train / {len(val):,} val)"


# --- iHarmony4 -----------------------------------------------------------------------------


def _iharmony_source(root: Path, subsets: list[Path], val_fraction: float, seed: int) -> DataSource:
    train: list[Sample] = []
    val: list[Sample] = []
    for subset in subsets:
        sub_train, sub_val = _iharmony_split(subset, val_fraction, seed)
        train += [_iharmony_sample(t) for t in sub_train]
        val += [_iharmony_sample(t) for t in sub_val]
    names = ", ".join(s.name for s in subsets)
    what = f"subset {names}" if len(subsets) == 1 else f"{len(subsets)} subsets ({names})"
    description = f"iharmony4: {what}, {len(train) + len(val):,} composites {_counts(train, val)}"
    return DataSource(root, "iharmony4", train, val, description)


def _iharmony_split(subset: Path, val_fraction: float, seed: int) -> tuple[list[Triplet], list[Triplet]]:
    """Train and test triplets from the subset's lists; a fixed-seed split by real photo otherwise."""
    try:
        train = [t for lst in subset_lists(subset, "train") for t in find_triplets(subset, lst)]
        val = [t for lst in subset_lists(subset, "test") for t in find_triplets(subset, lst)]
        if train and val:
            return train, val
        everything = find_triplets(subset)
    except LayoutError as err:
        raise DataError(f"iHarmony4 folder {subset}: {err}") from err
    listed = {t.name for t in train + val}
    rest = [t for t in everything if t.name not in listed]
    if train and rest:
        return train, rest
    if val and rest:
        return rest, val
    return _split_by_real(train or val or everything, val_fraction, seed)


def _split_by_real(triplets: list[Triplet], val_fraction: float, seed: int) -> tuple[list[Triplet], list[Triplet]]:
    # Composites of one real photo stay on one side, so validation never sees a training photo.
    reals = sorted({real_stem(t.name) for t in triplets})
    _, val_idx = split_indices(len(reals), val_fraction, seed)
    held = {reals[i] for i in val_idx}
    return [t for t in triplets if real_stem(t.name) not in held], [t for t in triplets if real_stem(t.name) in held]


def _iharmony_sample(triplet: Triplet) -> Sample:
    return Sample(real=triplet.real, mask=triplet.mask, composite=triplet.composite, region=None, mask_source="iharmony4")


# --- manifest.csv --------------------------------------------------------------------------


def _manifest_source(root: Path, val_fraction: float, seed: int) -> DataSource:
    manifest = root / MANIFEST
    rows = _read_manifest(manifest)
    samples, missing = [], []
    for row in rows:
        real = _manifest_path(root, row.get("image"))
        mask = _manifest_path(root, row.get("mask"))
        missing += [str(p) for p in (real, mask) if p is not None and not p.is_file()]
        if real is None:
            raise DataError(f"{manifest}: a row has no image ({dict(row)}); {LAYOUTS}")
        region = normalize_region(row.get("region") or "")
        samples.append(Sample(real, mask, None, region, "file" if mask is not None else "generated"))
    if missing:
        raise DataError(f"{manifest} names {len(missing)} missing file(s): {_examples(missing)}")
    if not samples:
        raise DataError(f"{manifest} lists no sample; {LAYOUTS}")
    train, val = _split(samples, val_fraction, seed)
    labelled = "with labelled regions" if any(s.region for s in samples) else "with masks"
    description = f"manifest: {len(samples):,} photos {labelled} {_counts(train, val)}"
    return DataSource(root, "manifest", train, val, description)


def _read_manifest(manifest: Path) -> list[dict[str, str]]:
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = {c.strip() for c in reader.fieldnames or []}
            # Values beyond the header land under the key None (as a list): they are ignored.
            rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"cannot read {manifest}: {err}") from err
    if not {"image", "mask"} <= columns:
        raise DataError(
            f"{manifest} has columns {sorted(columns)}; it needs at least image and mask "
            "(name,image,mask,region[,region_fraction], paths relative to its folder)"
        )
    return rows


def _manifest_path(root: Path, value: str | None) -> Path | None:
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else root / path


# --- images/ + masks/ ----------------------------------------------------------------------


def _images_masks_source(root: Path, val_fraction: float, seed: int) -> DataSource:
    images = _by_stem(_image_files(root / "images"), root / "images")
    masks = _by_stem(_image_files(root / "masks"), root / "masks")
    if not images:
        raise DataError(f"{root / 'images'} holds no image ({', '.join(IMAGE_EXTENSIONS)}); {LAYOUTS}")
    orphans = sorted(images[stem].name for stem in images if stem not in masks)
    if orphans:
        raise DataError(
            f"{len(orphans)} image(s) in {root / 'images'} have no mask of the same name in "
            f"{root / 'masks'}: {_examples(orphans)}"
        )
    samples = [Sample(images[stem], masks[stem], None, category_from_name(stem), "file") for stem in sorted(images)]
    train, val = _split(samples, val_fraction, seed)
    categories = len({s.region for s in samples})
    description = f"images+masks: {len(samples):,} photos with masks in {categories} categories {_counts(train, val)}"
    return DataSource(root, "images+masks", train, val, description)


def _by_stem(files: list[Path], folder: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in files:
        if path.stem in index:
            raise DataError(f"ambiguous name in {folder}: {index[path.stem].name} and {path.name}")
        index[path.stem] = path
    return index


# --- a folder of images --------------------------------------------------------------------


def _image_folder_source(root: Path, val_fraction: float, seed: int) -> DataSource:
    files = _image_files(root)
    if not files:
        raise DataError(f"data folder {root} holds no image ({', '.join(IMAGE_EXTENSIONS)}); {LAYOUTS}")
    if _all_have_alpha(files):
        kind, source, what = "rgba", "alpha", "images whose alpha marks the region"
    else:
        kind, source, what = "photos", "generated", "photos, masks generated"
    samples = [Sample(path, None, None, None, source) for path in files]
    train, val = _split(samples, val_fraction, seed)
    return DataSource(root, kind, train, val, f"{kind}: {len(samples):,} {what} {_counts(train, val)}")


def _all_have_alpha(files: list[Path]) -> bool:
    """Whether every header declares alpha and a few sampled alphas are not fully opaque."""
    if not all(_header_has_alpha(path) for path in files):
        return False
    step = max(1, len(files) // _ALPHA_PROBES)
    return all(_alpha_is_used(path) for path in files[::step][:_ALPHA_PROBES])


def _header_has_alpha(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            return image.mode in _ALPHA_MODES or "transparency" in image.info
    except Exception:  # unreadable files are reported when loaded, not here
        return False


def _alpha_is_used(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            low, _ = image.convert("RGBA").getchannel("A").getextrema()
            return low < 255
    except Exception:
        return False


def _split(samples: list[Sample], val_fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    # Split by photo, so that two regions of one photo never end up on both sides.
    reals = sorted({str(s.real) for s in samples})
    _, val_idx = split_indices(len(reals), val_fraction, seed)
    held = {reals[i] for i in val_idx}
    ordered = sorted(samples, key=lambda s: (str(s.real), str(s.mask)))
    return [s for s in ordered if str(s.real) not in held], [s for s in ordered if str(s.real) in held]
