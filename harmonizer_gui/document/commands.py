"""Every document edit is a QUndoCommand; widgets push these and never touch the document directly.

A mouse gesture (one drag of the layer, one brush stroke) pushes a command per mouse move, all
carrying the same *gesture* token; consecutive commands of one gesture merge, so one drag is one
undo step. Mask commands keep only the edited box and the pixels that were there before: undo and
redo swap that patch with the document's pixels.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QUndoCommand

from engine.box import Box
from engine.imageio import LoadedImage
from harmonizer_gui.document.compose import LayerTransform, default_placement
from harmonizer_gui.document.document import Document, Layer

_TRANSFORM_ID = 1001
_PATCH_ID = 1002


class Gesture:
    """A token shared by the commands of one mouse drag; commands of one gesture merge."""

    __slots__ = ()


class SetBackgroundCommand(QUndoCommand):
    """Replace (or set the first) background; the layer, its mask and its placement stay.

    A layer added before any background is placed on it the first time; a layer whose centre
    would fall outside a new background of another size is re-centred.
    """

    def __init__(self, document: Document, image: LoadedImage, text: str = "Replace Background") -> None:
        super().__init__(text)
        self._document = document
        self._image = image
        self._old_image = document.background
        self._old_transform = document.layer.transform if document.layer else None
        self._new_transform = self._placement(document, image)

    @staticmethod
    def _placement(document: Document, image: LoadedImage) -> LayerTransform | None:
        layer = document.layer
        if layer is None:
            return None
        size = (image.width, image.height)
        centre_inside = 0 <= layer.transform.x <= image.width and 0 <= layer.transform.y <= image.height
        if document.background is None or not centre_inside:
            return default_placement(layer.size, size)
        return layer.transform

    def redo(self) -> None:
        self._document.set_background(self._image)
        if self._new_transform is not None:
            self._document.set_transform(self._new_transform)

    def undo(self) -> None:
        self._document.set_background(self._old_image)
        if self._old_transform is not None:
            self._document.set_transform(self._old_transform)


class SetLayerCommand(QUndoCommand):
    """Replace the foreground layer (a new image, mask and placement), or remove it."""

    def __init__(self, document: Document, layer: Layer | None, text: str = "Replace Foreground") -> None:
        super().__init__(text)
        self._document = document
        self._layer = layer
        self._old_layer = document.layer

    def redo(self) -> None:
        self._document.set_layer(self._layer)

    def undo(self) -> None:
        self._document.set_layer(self._old_layer)


class TransformCommand(QUndoCommand):
    """Move, scale, rotate or flip the layer."""

    def __init__(
        self,
        document: Document,
        new: LayerTransform,
        text: str = "Move Layer",
        gesture: Gesture | None = None,
    ) -> None:
        super().__init__(text)
        if document.layer is None:
            raise RuntimeError("there is no layer to transform")
        self._document = document
        self._old = document.layer.transform
        self._new = new
        self.gesture = gesture

    def id(self) -> int:
        return _TRANSFORM_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, TransformCommand) or self.gesture is None or other.gesture is not self.gesture:
            return False
        self._new = other._new
        return True

    def redo(self) -> None:
        self._document.set_transform(self._new)

    def undo(self) -> None:
        self._document.set_transform(self._old)


class PatchCommand(QUndoCommand):
    """Replace a box of the layer's mask (``target="mask"``) or GrabCut hints (``"hints"``).

    Holds one patch: the new pixels until the first redo, then always the pixels that the next
    undo or redo swaps back in.
    """

    def __init__(
        self,
        document: Document,
        box: Box,
        pixels: np.ndarray,
        target: str = "mask",
        text: str = "Paint Mask",
        gesture: Gesture | None = None,
    ) -> None:
        super().__init__(text)
        if target not in ("mask", "hints"):
            raise ValueError(f"target must be 'mask' or 'hints', not {target!r}")
        self._document = document
        self.box = box
        self.target = target
        self.gesture = gesture
        self._patch = pixels

    def id(self) -> int:
        return _PATCH_ID

    @property
    def stored_pixels(self) -> int:
        """How many pixels the command keeps (the size of its box)."""
        return int(self._patch.size)

    def mergeWith(self, other: QUndoCommand) -> bool:
        if (
            not isinstance(other, PatchCommand)
            or self.gesture is None
            or other.gesture is not self.gesture
            or other.target != self.target
        ):
            return False
        # Both are applied; keep the oldest pixels of the union of the two boxes.
        union = Box(
            min(self.box.top, other.box.top),
            min(self.box.left, other.box.left),
            max(self.box.bottom, other.box.bottom),
            max(self.box.right, other.box.right),
        )
        assert self._document.layer is not None
        array = self._document.layer.mask if self.target == "mask" else self._document.layer.ensure_hints()
        merged = array[union.top : union.bottom, union.left : union.right].copy()
        for box, patch in ((other.box, other._patch), (self.box, self._patch)):
            merged[box.top - union.top : box.bottom - union.top, box.left - union.left : box.right - union.left] = patch
        self.box, self._patch = union, merged
        return True

    def redo(self) -> None:
        self._patch = self._document.swap_patch(self.target, self.box, self._patch)

    def undo(self) -> None:
        self._patch = self._document.swap_patch(self.target, self.box, self._patch)


def changed_box(old: np.ndarray, new: np.ndarray) -> Box | None:
    """Bounding box of the pixels that differ, or None when the arrays are equal."""
    rows = np.flatnonzero((old != new).any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero((old[rows[0] : rows[-1] + 1] != new[rows[0] : rows[-1] + 1]).any(axis=0))
    return Box(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def replace_mask_command(document: Document, new_mask: np.ndarray, text: str) -> PatchCommand | None:
    """A command that turns the whole layer mask into ``new_mask``, storing only the changed box;
    None when nothing would change."""
    if document.layer is None:
        return None
    box = changed_box(document.layer.mask, new_mask)
    if box is None:
        return None
    patch = np.ascontiguousarray(new_mask[box.top : box.bottom, box.left : box.right], dtype=np.float32)
    return PatchCommand(document, box, patch, "mask", text)
