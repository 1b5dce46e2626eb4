"""Where training and evaluation data live: one answer for the dev set, benchmarks and tests.

The folder is ``$HARMONIZER_DATA`` when that is set, else ``data/`` inside the repository
(git-ignored). Its layout, and where each part comes from publicly, is in ``docs/DATA.md``;
``scripts/fetch-data.sh`` assembles what can be fetched.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_VARIABLE = "HARMONIZER_DATA"
DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "data"
DOCUMENTATION = "docs/DATA.md"


class MissingDataError(FileNotFoundError):
    """A data folder that a command needs is absent; the message says where it was looked for."""


def data_root() -> Path:
    """The data folder: ``$HARMONIZER_DATA`` or the repository's ``data/``."""
    value = os.environ.get(ENV_VARIABLE)
    return Path(value).expanduser() if value else DEFAULT_ROOT


def data_path(*parts: str) -> Path:
    """A part of the data folder, e.g. ``data_path("labelme_regions")``."""
    return data_root().joinpath(*parts)


def require(path: Path, what: str) -> Path:
    """``path`` if it exists; otherwise a :class:`MissingDataError` that tells the user what to do."""
    if path.exists():
        return path
    raise MissingDataError(
        f"{what} not found at {path}. Put the data there, or set {ENV_VARIABLE} to the folder that "
        f"holds it (see {DOCUMENTATION})."
    )
