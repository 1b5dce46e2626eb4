"""Where training runs live and what they are called; a quick look at a data folder.

Plain functions, no widgets. A run is a folder ``<runs>/<name>-<YYYYmmdd-HHMMSS>`` that the
trainer fills with ``best.safetensors``, ``last.safetensors``, ``progress.jsonl`` and previews.
The look at a data folder is deliberately shallow: the trainer decides what it accepts and says
why it does not (exit code 2); this only tells a person what the folder seems to be.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QStandardPaths

from engine.harmonizer import DEFAULT_CHECKPOINT
from engine.iharmony import IMAGE_EXTENSIONS, is_iharmony_root
from engine.training_protocol import BEST_CHECKPOINT, LAST_CHECKPOINT, held_out_count

DEFAULT_RUN_NAME = "personal"
BUILT_IN_MODELS = ("default", "classical")  # model names that are not checkpoint files
_STAMP = "%Y%m%d-%H%M%S"
_RUN_FOLDER = re.compile(r"^(?P<name>.+)-(?P<date>\d{8})-(?P<time>\d{6})$")
_UNSAFE = re.compile(r"[^\w .+-]+")
_MAX_LISTED = 2000  # folder entries looked at, so a huge folder never stalls the dialog
_SIZE_SAMPLE = 24  # photo headers read for their mean size


def default_runs_folder() -> Path:
    """``runs`` in the application's data folder (e.g. ``~/.local/share/<org>/<app>/runs``)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or os.path.expanduser("~/.harmonizer")) / "runs"


def safe_run_name(text: str) -> str:
    """A run name usable in a folder name: odd characters become ``-``, runs of spaces one space."""
    name = re.sub(r"\s+", " ", _UNSAFE.sub("-", text)).strip(" -.")
    return name[:60] or DEFAULT_RUN_NAME


def new_run_folder(root: Path, name: str, now: datetime | None = None) -> Path:
    """A folder path for a new run that does not exist yet (not created: the trainer creates it)."""
    stem = f"{safe_run_name(name)}-{(now or datetime.now()).strftime(_STAMP)}"
    folder, extra = root / stem, 2
    while folder.exists():
        folder, extra = root / f"{stem}-{extra}", extra + 1
    return folder


def run_label(checkpoint: str | os.PathLike) -> str:
    """How the Model menu names a checkpoint: a run's checkpoints by the run, others by file name.

    ``runs/portraits-20250102-153000/best.safetensors`` -> ``portraits (2025-01-02 15:30)``;
    a run's ``last.safetensors`` adds ``(last checkpoint)``.
    """
    path = Path(checkpoint)
    if path.name not in (BEST_CHECKPOINT, LAST_CHECKPOINT):
        return path.name
    match = _RUN_FOLDER.match(path.parent.name)
    if match:
        date, time = match["date"], match["time"]
        label = f"{match['name']} ({date[:4]}-{date[4:6]}-{date[6:]} {time[:2]}:{time[2:4]})"
    else:
        label = path.parent.name or path.name
    return label + (" (last checkpoint)" if path.name == LAST_CHECKPOINT else "")


def start_point(spec: str) -> tuple[str | None, str]:
    """What fine-tuning the model ``spec`` would start from: its checkpoint (None: not a network) and a name."""
    if spec == "classical":
        return None, "classical Lab transfer"
    if spec == "default":
        return (str(DEFAULT_CHECKPOINT), "default") if DEFAULT_CHECKPOINT.is_file() else (None, "default, missing")
    return spec, run_label(spec)


def run_checkpoint(run_folder: str | os.PathLike) -> str | None:
    """The checkpoint a finished or stopped run offers: ``best``, else ``last``, else None."""
    for name in (BEST_CHECKPOINT, LAST_CHECKPOINT):
        path = Path(run_folder) / name
        if path.is_file():
            return str(path)
    return None


@dataclass(frozen=True)
class FolderCheck:
    """What a data folder looks like. ``usable`` False: Start stays disabled, ``text`` says why.

    ``photos`` is the number of photos seen (None: not counted, e.g. iHarmony4 or a manifest) and
    ``megapixels`` their mean size, read from the headers of up to ``_SIZE_SAMPLE`` of them.
    """

    usable: bool
    text: str
    photos: int | None = None
    megapixels: float | None = None

    @property
    def training_photos(self) -> int | None:
        """The photos left for training once the trainer holds out its validation share."""
        return None if self.photos is None else self.photos - held_out_count(self.photos)


def _image_files(folder: Path) -> list[Path]:
    files = []
    try:
        with os.scandir(folder) as entries:
            for index, entry in enumerate(entries):
                if index >= _MAX_LISTED:
                    break
                if entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
                    files.append(Path(entry.path))
    except OSError:
        return []
    return sorted(files)


def _mean_megapixels(files: list[Path]) -> float | None:
    """Mean size of up to ``_SIZE_SAMPLE`` evenly spread files, from their headers only."""
    sizes = []
    for path in files[:: max(1, len(files) // _SIZE_SAMPLE)][:_SIZE_SAMPLE]:
        try:
            with Image.open(path) as image:
                sizes.append(image.width * image.height / 1e6)
        except (OSError, ValueError, Image.DecompressionBombError):
            continue
    return sum(sizes) / len(sizes) if sizes else None


def _photos_check(text: str, files: list[Path]) -> FolderCheck:
    return FolderCheck(True, text, len(files), _mean_megapixels(files))


def _subsets(folder: Path) -> list[str]:
    names = []
    try:
        with os.scandir(folder) as entries:
            for index, entry in enumerate(entries):
                if index >= _MAX_LISTED:
                    break
                if entry.is_dir() and is_iharmony_root(entry.path):
                    names.append(entry.name)
    except OSError:
        return []
    return sorted(names)


def check_data_folder(path: str) -> FolderCheck:
    """A shallow look at a training folder; the trainer has the final word."""
    if not path.strip():
        return FolderCheck(False, (
            "Choose a folder of plain photos (masks are generated), photos with masks (images/ + masks/), "
            "RGBA cut-outs, a manifest.csv, or an iHarmony4 folder."
        ))
    folder = Path(os.path.expanduser(path.strip()))
    if not folder.exists():
        return FolderCheck(False, "This folder does not exist.")
    if not folder.is_dir():
        return FolderCheck(False, "This is a file, not a folder.")
    if is_iharmony_root(folder):
        return FolderCheck(True, "Looks like an iHarmony4 subset (composite_images/, masks/, real_images/).")
    subsets = _subsets(folder)
    if subsets:
        return FolderCheck(True, f"Looks like iHarmony4 with {len(subsets)} subset(s): {', '.join(subsets[:4])}.")
    if (folder / "manifest.csv").is_file():
        return FolderCheck(True, "Has a manifest.csv listing images, masks and regions.")
    if (folder / "images").is_dir() and (folder / "masks").is_dir():
        files = _image_files(folder / "images")
        return _photos_check(f"Photos with masks: images/ ({len(files)} images) + masks/.", files)
    files = _image_files(folder)
    if files:
        return _photos_check(
            f"{len(files)} images. RGBA cut-outs train on their alpha; for plain photos masks are generated.", files
        )
    return FolderCheck(True, "No images seen at the top of this folder; the trainer will say whether it can use it.")
