"""Whole-mask edits (feather, invert, clear, fill, reset) and GrabCut, as undoable commands.

GrabCut runs on the thread pool; only the newest run's answer is applied, and only to the layer
it was computed for. Brush strokes live in ``harmonizer_gui.canvas.painting``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QMessageBox, QWidget

from engine.box import Box
from harmonizer_gui.document.commands import PatchCommand, replace_mask_command
from harmonizer_gui.document.document import Document, Layer, initial_mask
from harmonizer_gui.masking.tools import feather, grabcut, invert
from harmonizer_gui.services.status import StatusPanel
from harmonizer_gui.workers.tasks import TaskRunner


class MaskEditor(QObject):
    """Signals: grabcutDone() once a GrabCut answer was applied (or its failure reported)."""

    grabcutDone = Signal()

    def __init__(self, parent: QWidget, document: Document, undo_stack: QUndoStack, status: StatusPanel) -> None:
        super().__init__(parent)
        self._parent, self._document, self._stack, self._status = parent, document, undo_stack, status
        self.tasks = TaskRunner(self)
        self._ticket = 0

    def apply(self, operation: Callable[[np.ndarray], np.ndarray], text: str) -> None:
        """Replace the mask by ``operation(mask)``; one undo step that stores the changed box only."""
        layer = self._document.layer
        if layer is None:
            return
        command = replace_mask_command(self._document, operation(layer.mask).astype(np.float32), text)
        if command is not None:
            self._stack.push(command)

    def feather(self, radius: float) -> None:
        self.apply(lambda mask: feather(mask, radius), "Feather Mask")

    def invert(self) -> None:
        self.apply(invert, "Invert Mask")

    def clear(self) -> None:
        self.apply(np.zeros_like, "Clear Mask")

    def fill(self) -> None:
        self.apply(np.ones_like, "Fill Mask")

    def reset(self) -> None:
        """Back to the mask the layer started with (its alpha channel, or all of it)."""
        layer = self._document.layer
        if layer is not None:
            self.apply(lambda _mask: initial_mask(layer.image), "Reset Mask")

    def clear_marks(self) -> None:
        layer = self._document.layer
        if layer is not None and layer.hints is not None and layer.hints.any():
            box = Box(0, 0, *layer.hints.shape)
            self._stack.push(PatchCommand(self._document, box, np.zeros_like(layer.hints), "hints", "Clear Marks"))

    def run_grabcut(self) -> None:
        """Find the object with GrabCut off the UI thread, seeded by the layer and its marks."""
        layer = self._document.layer
        if layer is None:
            return
        hints = None if layer.hints is None else layer.hints.copy()
        self._status.set_busy("grabcut", "Finding the object…")
        work = partial(grabcut, layer.image.rgb, hints)
        self._ticket = self.tasks.submit(work, partial(self._on_done, layer), self._on_failed)

    def _on_done(self, layer: Layer, ticket: int, mask: np.ndarray) -> None:
        if ticket != self._ticket:
            return  # a newer run (after another mark) will answer
        self._status.set_busy("grabcut", None)
        if self._document.layer is layer:
            command = replace_mask_command(self._document, mask, "GrabCut")
            if command is not None:
                self._stack.push(command)
        self.grabcutDone.emit()

    def _on_failed(self, ticket: int, message: str) -> None:
        if ticket == self._ticket:
            self._status.set_busy("grabcut", None)
            QMessageBox.warning(self._parent, "GrabCut", message)
            self.grabcutDone.emit()
