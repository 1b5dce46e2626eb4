"""Remembered settings (QSettings): folders, recent files, model, device, training, strength, brush.

Typed accessors over a QSettings object, so the rest of the app never spells a key or converts a
QVariant. Tests pass a QSettings backed by a temporary INI file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from engine.pipeline import DEFAULT_STRENGTH, MAX_STRENGTH
from harmonizer_gui.services.editor_state import DEFAULT_BRUSH, DEFAULT_HARDNESS
from harmonizer_gui.training.runs import default_runs_folder

ORGANIZATION = "SCS-Co Harmonizer"
APPLICATION = "Harmonizer"
MAX_RECENT = 10


@dataclass(frozen=True)
class RecentFile:
    path: str
    role: str  # "background" or "foreground"


class Settings:
    def __init__(self, store: QSettings | None = None) -> None:
        self._store = store if store is not None else QSettings(ORGANIZATION, APPLICATION)

    # -- generic ---------------------------------------------------------------------------
    def _str(self, key: str, default: str = "") -> str:
        value = self._store.value(key, default)
        return default if value is None else str(value)

    def _float(self, key: str, default: float) -> float:
        try:
            return float(self._store.value(key, default))
        except (TypeError, ValueError):
            return default

    def _list(self, key: str) -> list[str]:
        value = self._store.value(key, [])
        if value is None or value == "":
            return []
        return [str(item) for item in (value if isinstance(value, list) else [value])]

    def sync(self) -> None:
        self._store.sync()

    # -- folders ---------------------------------------------------------------------------
    def folder(self, purpose: str) -> str:
        """The folder last used to ``open`` or ``export``; the home folder at first."""
        folder = self._str(f"folders/{purpose}")
        return folder if folder and os.path.isdir(folder) else os.path.expanduser("~")

    def remember_folder(self, purpose: str, path: str) -> None:
        self._store.setValue(f"folders/{purpose}", os.path.dirname(os.path.abspath(path)))

    # -- recent files ----------------------------------------------------------------------
    def recent_files(self) -> list[RecentFile]:
        entries = []
        for item in self._list("recent/files"):
            role, _, path = item.partition("|")
            if role in ("background", "foreground") and path:
                entries.append(RecentFile(path, role))
        return entries

    def add_recent(self, path: str, role: str) -> None:
        path = os.path.abspath(path)
        entries = [e for e in self.recent_files() if e.path != path]
        entries.insert(0, RecentFile(path, role))
        self._store.setValue("recent/files", [f"{e.role}|{e.path}" for e in entries[:MAX_RECENT]])

    def clear_recent(self) -> None:
        self._store.setValue("recent/files", [])

    # -- model -----------------------------------------------------------------------------
    @property
    def model(self) -> str:
        return self._str("model/spec", "default")

    @model.setter
    def model(self, spec: str) -> None:
        self._store.setValue("model/spec", spec)

    @property
    def device(self) -> str:
        return self._str("model/device", "auto")

    @device.setter
    def device(self, name: str) -> None:
        self._store.setValue("model/device", name)

    def checkpoints(self) -> list[str]:
        """Checkpoint files the user added to the Model menu."""
        return self._list("model/checkpoints")

    def add_checkpoint(self, path: str) -> None:
        paths = self.checkpoints()
        if path not in paths:
            self._store.setValue("model/checkpoints", [*paths, path])

    # -- training --------------------------------------------------------------------------
    def runs_folder(self) -> Path:
        """Where training runs are saved: the application's data folder unless set otherwise."""
        folder = self._str("training/runs_folder")
        return Path(folder) if folder else default_runs_folder()

    def set_runs_folder(self, folder: str | os.PathLike) -> None:
        self._store.setValue("training/runs_folder", os.fspath(folder))

    @property
    def training_data(self) -> str:
        """The photo folder the last training run used."""
        return self._str("training/data")

    @training_data.setter
    def training_data(self, folder: str) -> None:
        self._store.setValue("training/data", folder)

    # -- editing ---------------------------------------------------------------------------
    @property
    def strength(self) -> float:
        return min(max(self._float("edit/strength", DEFAULT_STRENGTH), 0.0), MAX_STRENGTH)

    @strength.setter
    def strength(self, value: float) -> None:
        self._store.setValue("edit/strength", float(value))

    @property
    def brush_size(self) -> int:
        return int(self._float("edit/brush_size", DEFAULT_BRUSH))

    @brush_size.setter
    def brush_size(self, value: int) -> None:
        self._store.setValue("edit/brush_size", int(value))

    @property
    def hardness(self) -> float:
        return self._float("edit/hardness", DEFAULT_HARDNESS)

    @hardness.setter
    def hardness(self, value: float) -> None:
        self._store.setValue("edit/hardness", float(value))

    # -- window ----------------------------------------------------------------------------
    def geometry(self) -> QByteArray | None:
        value = self._store.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def set_geometry(self, geometry: QByteArray) -> None:
        self._store.setValue("window/geometry", geometry)
