"""Exporting: choose a file, never overwrite without asking, render and write on the worker.

The full-resolution render and the atomic write run on the worker thread while the window stays
responsive; the outcome (or a clear error, with nothing overwritten) comes back as a signal.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from harmonizer_gui.document.document import Document
from harmonizer_gui.workers.harmonize import ExportJob, ExportOutcome, HarmonizeWorker
from harmonizer_gui.services.settings import Settings

_TITLES = {"harmonized": "Export Harmonized PNG", "composite": "Export Composite PNG", "mask": "Export Mask PNG"}
_SUFFIXES = {"harmonized": "harmonized", "composite": "composite", "mask": "mask"}


class Exporter(QObject):
    """Signals: started(ExportJob); finished(ExportOutcome) after the user has been told."""

    started = Signal(object)
    finished = Signal(object)

    def __init__(self, parent: QWidget, document: Document, worker: HarmonizeWorker, settings: Settings) -> None:
        super().__init__(parent)
        self._parent, self._document, self._worker, self._settings = parent, document, worker, settings
        self.running = 0
        worker.exportFinished.connect(self._on_finished)

    def suggested_path(self, kind: str) -> str:
        background = self._document.background
        stem = "untitled"
        if background is not None and not background.source.startswith("<"):
            stem = os.path.splitext(os.path.basename(background.source))[0]
        return os.path.join(self._settings.folder("export"), f"{stem}-{_SUFFIXES[kind]}.png")

    def ask_and_export(self, kind: str) -> bool:
        """Ask where to write, confirm replacing an existing file, and start. False: not started."""
        if not self._document.is_complete():
            QMessageBox.information(self._parent, _TITLES[kind], "Add a background and a foreground first.")
            return False
        path, _ = QFileDialog.getSaveFileName(
            self._parent,
            _TITLES[kind],
            self.suggested_path(kind),
            "PNG image (*.png)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if not path:
            return False
        return self.export_to(path, kind)

    def export_to(self, path: str, kind: str) -> bool:
        """Export to ``path`` (``.png`` added when missing), asking before replacing a file."""
        if not path.lower().endswith(".png"):
            path += ".png"
        overwrite = False
        if os.path.exists(path):
            answer = QMessageBox.question(
                self._parent,
                "Replace File?",
                f'"{os.path.basename(path)}" already exists in {os.path.dirname(path) or "."}.\nReplace it?',
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
            overwrite = True
        scene = self._document.snapshot()
        if scene is None:
            return False
        self._settings.remember_folder("export", path)
        job = ExportJob(scene, path, kind, overwrite)
        self.running += 1
        self._worker.export(job)
        self.started.emit(job)
        return True

    def _on_finished(self, outcome: ExportOutcome) -> None:
        self.running -= 1
        if outcome.error is not None:
            QMessageBox.warning(self._parent, "Export Failed", outcome.error)
        self.finished.emit(outcome)
