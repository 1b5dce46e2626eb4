"""Opening images: file dialogs, the clipboard, drops and recent files, read off the UI thread.

Each image is decoded on the thread pool; when it arrives it becomes an undoable command
(background or foreground), unless a newer image was asked for in the same role meanwhile. An
unreadable image is explained and changes nothing.
"""

from __future__ import annotations

import os
from functools import partial

import numpy as np
from PySide6.QtCore import QMimeData, QObject, Signal
from PySide6.QtGui import QGuiApplication, QUndoStack
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from engine.imageio import LoadedImage
from harmonizer_gui.document.commands import SetBackgroundCommand, SetLayerCommand
from harmonizer_gui.document.document import Document, Layer
from harmonizer_gui.files.sources import IMAGE_FILTER, ImageSource, load, sources_from_mime
from harmonizer_gui.services.settings import Settings
from harmonizer_gui.services.status import StatusPanel
from harmonizer_gui.workers.tasks import TaskRunner

ROLES = ("background", "foreground")


class ImageOpener(QObject):
    """Signals: loaded(str) with the role once applied; failed(str) with the message shown."""

    loaded = Signal(str)
    failed = Signal(str)

    def __init__(
        self,
        parent: QWidget,
        document: Document,
        undo_stack: QUndoStack,
        settings: Settings,
        status: StatusPanel,
        recent_menu: QMenu,
    ) -> None:
        super().__init__(parent)
        self._parent, self._document, self._stack = parent, document, undo_stack
        self._settings, self._status, self._recent_menu = settings, status, recent_menu
        self.tasks = TaskRunner(self)
        self._tickets: dict[str, int] = {}
        self.rebuild_recent_menu()

    def ask_open(self, role: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self._parent, f"Open {role.title()}", self._settings.folder("open"), IMAGE_FILTER)
        if path:
            self._settings.remember_folder("open", path)
            self.open(ImageSource(path=path), role)

    def paste(self, role: str | None = None) -> None:
        """Paste the clipboard's image: as ``role``, or the background while there is none."""
        sources = sources_from_mime(QGuiApplication.clipboard().mimeData())
        if not sources:
            self._status.show_message("The clipboard holds no image to paste.")
            return
        self.open(sources[0], role or ("background" if self._document.background is None else "foreground"))

    def drop(self, mime: QMimeData, role: str) -> None:
        """Open what was dropped: the first image in ``role``, a second one as the foreground."""
        for index, source in enumerate(sources_from_mime(mime)[:2]):
            self.open(source, role if index == 0 else "foreground")

    def open(self, source: ImageSource, role: str) -> None:
        """Read an image off the UI thread and apply it when it arrives."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        self._status.set_busy(f"open-{role}", f"Opening {os.path.basename(source.name)}…")
        self._tickets[role] = self.tasks.submit(
            partial(load, source), partial(self._on_loaded, role), partial(self._on_failed, role)
        )

    def _on_loaded(self, role: str, ticket: int, image: LoadedImage) -> None:
        if self._tickets.get(role) != ticket:
            return  # a newer image for this role is on its way
        self._status.set_busy(f"open-{role}", None)
        if role == "background":
            self._stack.push(SetBackgroundCommand(self._document, image, "Set Background"))
        else:
            layer = Layer.from_image(image, self._document.placement_for(image))
            self._stack.push(SetLayerCommand(self._document, layer, "Set Foreground"))
        if not image.source.startswith("<"):
            self._settings.add_recent(image.source, role)
            self.rebuild_recent_menu()
        bits = 16 if image.rgb.dtype == np.uint16 else 8
        self._status.show_message(f"{role.title()}: {os.path.basename(image.source)}, {image.width}×{image.height}, {bits}-bit")
        self.loaded.emit(role)

    def _on_failed(self, role: str, ticket: int, message: str) -> None:
        if self._tickets.get(role) == ticket:
            self._status.set_busy(f"open-{role}", None)
        self._status.show_message(message)
        QMessageBox.warning(self._parent, "Cannot Open Image", f"{message}\n\nNothing was changed.")
        self.failed.emit(message)

    def rebuild_recent_menu(self) -> None:
        menu = self._recent_menu
        menu.clear()
        entries = self._settings.recent_files()
        for entry in entries:
            action = menu.addAction(f"{os.path.basename(entry.path)}  ({entry.role})")
            action.setToolTip(entry.path)
            action.triggered.connect(partial(self.open, ImageSource(path=entry.path), entry.role))
        menu.addSeparator()
        menu.addAction("Clear Recent Files").triggered.connect(self._clear_recent)
        menu.setEnabled(bool(entries))

    def _clear_recent(self) -> None:
        self._settings.clear_recent()
        self.rebuild_recent_menu()
