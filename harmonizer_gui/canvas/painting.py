"""A brush stroke in progress: scene points in, undoable mask (or GrabCut hint) patches out.

The canvas feeds mouse positions; each segment becomes a ``PatchCommand`` of the stroke's gesture,
so the stroke shows as it is drawn and the whole drag is one undo step.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QUndoStack

from harmonizer_gui.document.commands import Gesture, PatchCommand
from harmonizer_gui.document.compose import invert_matrix, layer_matrix, map_points
from harmonizer_gui.document.document import HINT_BACKGROUND, HINT_FOREGROUND, Document
from harmonizer_gui.services.editor_state import EditorState, Tool
from harmonizer_gui.masking.tools import brush_coverage, mark_patch, paint_patch, segment_box

_TEXT = {
    Tool.BRUSH: "Paint Mask",
    Tool.ERASER: "Erase Mask",
    Tool.MARK_FOREGROUND: "Mark Foreground",
    Tool.MARK_BACKGROUND: "Mark Background",
}


class Stroke:
    """One drag of a painting tool over the layer."""

    def __init__(self, document: Document, state: EditorState, undo_stack: QUndoStack, scene_point: tuple[float, float]) -> None:
        if document.layer is None or not state.tool.paints:
            raise RuntimeError("a stroke needs a layer and a painting tool")
        self._document = document
        self._stack = undo_stack
        self._tool = state.tool
        self._hardness = state.hardness
        layer = document.layer
        self._to_layer = invert_matrix(layer_matrix(layer.transform, layer.size))
        # The brush size is what the user sees on the background; the layer may be scaled.
        self._radius = max(state.brush_size / 2.0 / layer.transform.scale, 0.5)
        self._gesture = Gesture()
        self._last = self._layer_point(scene_point)
        self.changed = False
        self._paint(self._last, self._last)

    @property
    def radius(self) -> float:
        """Brush radius in layer pixels."""
        return self._radius

    def _layer_point(self, scene_point: tuple[float, float]) -> tuple[float, float]:
        x, y = map_points(self._to_layer, np.array(scene_point))[0]
        return float(x), float(y)

    def extend(self, scene_point: tuple[float, float]) -> None:
        point = self._layer_point(scene_point)
        self._paint(self._last, point)
        self._last = point

    def _paint(self, p0: tuple[float, float], p1: tuple[float, float]) -> None:
        layer = self._document.layer
        if layer is None:
            return
        box = segment_box(p0, p1, self._radius + 1, layer.mask.shape)
        if box is None:
            return
        coverage = brush_coverage(box, p0, p1, self._radius, self._hardness)
        region = (slice(box.top, box.bottom), slice(box.left, box.right))
        if self._tool.marks:
            target, old = "hints", layer.ensure_hints()[region]
            value = HINT_FOREGROUND if self._tool is Tool.MARK_FOREGROUND else HINT_BACKGROUND
            new = mark_patch(old, coverage, value)
        else:
            target, old = "mask", layer.mask[region]
            new = paint_patch(old, coverage, erase=self._tool is Tool.ERASER)
        if np.array_equal(new, old):
            return
        self._stack.push(PatchCommand(self._document, box, new, target, _TEXT[self._tool], self._gesture))
        self.changed = True
