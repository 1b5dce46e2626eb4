"""The index of a prepared cache (``prepared.json``) and turning a cache into training data folders.

A prepared cache (written by :mod:`trainer.prepare`) holds one sub-folder per original data
folder, each a ``manifest.csv`` folder that ``trainer.sources.discover`` reads like any other.
``prepared.json`` at its top records the format, the training size it was made for and its
sources; a ``--data`` folder holding it stands for its sub-folders, each a separate source, so
that every source keeps its own train/validation split.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.atomic import write_bytes_atomic
from trainer.sources import DataError

log = logging.getLogger("trainer.prepared")

INDEX = "prepared.json"
FORMAT = "scs-co prepared cache"
VERSION = 1


@dataclass(frozen=True)
class PreparedSource:
    """One original data folder as stored in the cache.

    Attributes:
        name: Its sub-folder in the cache.
        origin: The original folder, absolute.
        layout: The original layout (``manifest``, ``images+masks``, ``rgba`` or ``photos``).
        photos: Photos written.
        samples: Manifest rows (a photo with several regions has several).
    """

    name: str
    origin: str
    layout: str
    photos: int
    samples: int


@dataclass(frozen=True)
class PreparedIndex:
    """What a cache holds.

    Attributes:
        size: The training size it was prepared for.
        short_side: Shorter side the photos were scaled down to (smaller photos kept their size).
        quality: JPEG quality of the photos.
        sources: The cached data folders, in the order they were given.
    """

    size: int
    short_side: int
    quality: int
    sources: tuple[PreparedSource, ...]


def write_index(folder: Path, index: PreparedIndex) -> None:
    """Write ``folder/prepared.json`` atomically (last, once every file it lists is in place)."""
    values = {"format": FORMAT, "version": VERSION, **asdict(index)}
    write_bytes_atomic(folder / INDEX, (json.dumps(values, indent=2) + "\n").encode("utf-8"))


def read_index(folder: Path) -> PreparedIndex:
    """Read ``folder/prepared.json``.

    Raises:
        DataError: The index is unreadable, of another format or version, or incomplete.
    """
    path = folder / INDEX
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read the prepared-cache index {path}: {err}") from err
    if not isinstance(values, dict) or values.get("format") != FORMAT or values.get("version") != VERSION:
        raise DataError(f"{path} is not a version-{VERSION} prepared-cache index; prepare the cache again")
    try:
        sources = tuple(PreparedSource(**source) for source in values["sources"])
        return PreparedIndex(int(values["size"]), int(values["short_side"]), int(values["quality"]), sources)
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"{path} is incomplete ({err}); prepare the cache again") from err


def is_prepared(folder: Path) -> bool:
    """Whether ``folder`` is a prepared cache."""
    return (folder / INDEX).is_file()


def expand_data(folders: Sequence[Path], size: int) -> list[Path]:
    """The data folders a training run reads: a prepared cache stands for its sub-folders.

    Logs a warning when the training ``size`` exceeds the size a cache was prepared for.

    Args:
        folders: The ``--data`` folders, in order.
        size: The training size.

    Returns:
        The folders with every cache replaced by its source sub-folders, in order.

    Raises:
        DataError: A cache's index is unusable or names a missing sub-folder.
    """
    expanded: list[Path] = []
    for folder in folders:
        if not is_prepared(folder):
            expanded.append(folder)
            continue
        index = read_index(folder)
        if size > index.size:
            log.warning(
                "training size %d exceeds the size %d the cache %s was prepared for: small photos "
                "are enlarged; prepare it again with --size %d", size, index.size, folder, size,
            )
        for source in index.sources:
            sub = folder / source.name
            if not sub.is_dir():
                raise DataError(f"prepared cache {folder} lacks its sub-folder {source.name}; prepare it again")
            expanded.append(sub)
    return expanded
