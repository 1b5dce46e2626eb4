"""Finding (composite, mask, real) triplets in an iHarmony4-layout folder.

An iHarmony4 sub-dataset (HAdobe5k, HCOCO, HFlickr, Hday2night) looks like::

    ROOT/composite_images/a0002_1_4.jpg
    ROOT/masks/a0002_1.png
    ROOT/real_images/a0002.jpg
    ROOT/HAdobe5k_train.txt      (optional: one composite file name per line)
    ROOT/HAdobe5k_test.txt

A composite stem ``<real>_<mask>_<n>`` names its mask ``<real>_<mask>`` and its
real image ``<real>``. Files are matched by stem, so each of the three may use
any extension in :data:`IMAGE_EXTENSIONS`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")

COMPOSITE_DIR = "composite_images"
MASK_DIR = "masks"
REAL_DIR = "real_images"
_SUBFOLDERS = (COMPOSITE_DIR, MASK_DIR, REAL_DIR)
_MAX_EXAMPLES = 5
_NAME_PATTERN = "<real>_<mask>_<n>"


class LayoutError(ValueError):
    """The folder does not follow the iHarmony4 layout (missing folder, file or bad name)."""


@dataclass(frozen=True)
class Triplet:
    """One training/evaluation sample.

    Attributes:
        name: The composite stem, e.g. ``a0002_1_4``.
        composite: Path of the composite image.
        mask: Path of the foreground mask.
        real: Path of the real (ground-truth) image.
    """

    name: str
    composite: Path
    mask: Path
    real: Path


def mask_stem(composite_stem: str) -> str:
    """Stem of the mask that belongs to a composite: ``a0002_1_4`` -> ``a0002_1``.

    Raises:
        LayoutError: If the stem does not follow the ``<real>_<mask>_<n>`` pattern.
    """
    _check_pattern(composite_stem)
    return composite_stem.rsplit("_", 1)[0]


def real_stem(composite_stem: str) -> str:
    """Stem of the real image that belongs to a composite: ``a0002_1_4`` -> ``a0002``.

    Raises:
        LayoutError: If the stem does not follow the ``<real>_<mask>_<n>`` pattern.
    """
    return mask_stem(composite_stem).rsplit("_", 1)[0]


def is_iharmony_root(root: str | Path) -> bool:
    """Whether ``root`` has the ``composite_images``, ``masks`` and ``real_images`` folders."""
    root = Path(root)
    return all((root / sub).is_dir() for sub in _SUBFOLDERS)


def find_triplets(root: str | Path, list_file: str | Path | None = None) -> list[Triplet]:
    """Pair every composite with its mask and real image.

    Args:
        root: An iHarmony4-layout folder (see the module docstring).
        list_file: Optional list of composites, one file name per line. A
            directory prefix is ignored and names are matched by stem, so the
            extension in the list may differ from the file on disk. Blank lines
            are skipped. A relative path that does not exist is also looked up
            inside ``root``.

    Returns:
        Without ``list_file``: every composite, sorted by name. With it: the
        listed composites in file order.

    Raises:
        LayoutError: If a sub-folder, the list file, a listed composite, a mask
            or a real image is missing, if a name does not follow the
            ``<real>_<mask>_<n>`` pattern, or if there is no composite at all.
    """
    root = Path(root)
    _check_folders(root)
    composites = _index_images(root / COMPOSITE_DIR)
    if list_file is None:
        names = sorted(composites)
        if not names:
            raise LayoutError(f"no images found in {root / COMPOSITE_DIR}")
    else:
        list_path = _resolve_list_file(root, list_file)
        names = _read_list(list_path)
        _check_listed_exist(names, composites, list_path, root / COMPOSITE_DIR)
    _check_patterns(names, root / COMPOSITE_DIR)
    masks = _index_images(root / MASK_DIR)
    reals = _index_images(root / REAL_DIR)
    _check_partners(names, masks, reals, root)
    return [
        Triplet(
            name=name,
            composite=_single(composites, name, root / COMPOSITE_DIR),
            mask=_single(masks, mask_stem(name), root / MASK_DIR),
            real=_single(reals, real_stem(name), root / REAL_DIR),
        )
        for name in names
    ]


def subset_lists(root: str | Path, split: str) -> list[Path]:
    """List files for one split, e.g. ``split="train"`` -> ``[root/"HAdobe5k_train.txt"]``.

    Args:
        root: Folder to look in (not searched recursively).
        split: Split name; files named ``*_{split}.txt`` match.

    Returns:
        The matching files, sorted by name (empty when there are none).
    """
    return sorted(path for path in Path(root).glob(f"*_{split}.txt") if path.is_file())


def _check_pattern(stem: str) -> None:
    parts = stem.rsplit("_", 2)
    if len(parts) < 3 or not all(parts):
        raise LayoutError(
            f"composite name {stem!r} doesn't follow the {_NAME_PATTERN} pattern "
            "(e.g. a0002_1_4)"
        )


def _check_patterns(names: list[str], folder: Path) -> None:
    bad = [name for name in names if not _follows_pattern(name)]
    if bad:
        raise LayoutError(
            f"{_count(bad, 'composite')} in {folder} don't follow the {_NAME_PATTERN} "
            f"pattern (e.g. a0002_1_4): {_examples(bad)}"
        )


def _follows_pattern(stem: str) -> bool:
    try:
        _check_pattern(stem)
    except LayoutError:
        return False
    return True


def _check_folders(root: Path) -> None:
    if not root.is_dir():
        raise LayoutError(f"iHarmony4 folder {root} does not exist or is not a folder")
    missing = [sub for sub in _SUBFOLDERS if not (root / sub).is_dir()]
    if missing:
        raise LayoutError(
            f"{root} is missing the sub-folder(s) {', '.join(missing)} "
            f"(an iHarmony4 folder holds {', '.join(_SUBFOLDERS)})"
        )


def _index_images(folder: Path) -> dict[str, list[Path]]:
    """Map each image stem in ``folder`` to its file(s)."""
    index: dict[str, list[Path]] = {}
    for path in folder.iterdir():
        # Skip hidden files such as macOS "._name.jpg" resource forks.
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            index.setdefault(path.stem, []).append(path)
    return index


def _single(index: dict[str, list[Path]], stem: str, folder: Path) -> Path:
    paths = index[stem]
    if len(paths) > 1:
        names = ", ".join(sorted(path.name for path in paths))
        raise LayoutError(f"ambiguous image {stem!r} in {folder}: {names}")
    return paths[0]


def _resolve_list_file(root: Path, list_file: str | Path) -> Path:
    path = Path(list_file)
    if not path.is_absolute() and not path.exists() and (root / path).is_file():
        return root / path
    if not path.is_file():
        raise LayoutError(f"list file {path} does not exist")
    return path


def _read_list(list_path: Path) -> list[str]:
    names = [_list_entry_stem(line) for line in list_path.read_text().splitlines() if line.strip()]
    if not names:
        raise LayoutError(f"list file {list_path} names no composite")
    return names


def _list_entry_stem(line: str) -> str:
    base = line.strip().replace("\\", "/").rsplit("/", 1)[-1]
    # Only strip a known image extension: stems such as "d0001-1.5_1_1" may contain dots.
    stem, dot, suffix = base.rpartition(".")
    if dot and stem and f".{suffix.lower()}" in IMAGE_EXTENSIONS:
        return stem
    return base


def _check_listed_exist(
    names: list[str], composites: dict[str, list[Path]], list_path: Path, folder: Path
) -> None:
    missing = [name for name in names if name not in composites]
    if missing:
        raise LayoutError(
            f"{_count(missing, 'composite')} listed in {list_path} not found in {folder}: "
            f"{_examples(missing)}"
        )


def _check_partners(
    names: list[str], masks: dict[str, list[Path]], reals: dict[str, list[Path]], root: Path
) -> None:
    problems = []
    no_mask = [name for name in names if mask_stem(name) not in masks]
    if no_mask:
        problems.append(
            f"{_count(no_mask, 'composite')} without a mask in {root / MASK_DIR}: "
            f"{_examples(no_mask, mask_stem)}"
        )
    no_real = [name for name in names if real_stem(name) not in reals]
    if no_real:
        problems.append(
            f"{_count(no_real, 'composite')} without a real image in {root / REAL_DIR}: "
            f"{_examples(no_real, real_stem)}"
        )
    if problems:
        raise LayoutError("; ".join(problems))


def _count(names: list[str], noun: str) -> str:
    return f"{len(names)} {noun}{'' if len(names) == 1 else 's'}"


def _examples(names: Iterable[str], expected: Callable[[str], str] | None = None) -> str:
    """Up to five names (with the stem they expected, if given), plus how many more."""
    names = list(names)
    shown = [
        name if expected is None else f"{name} (expects {expected(name)}.*)"
        for name in names[:_MAX_EXAMPLES]
    ]
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f" and {rest} more" if rest else "")
