"""The document: a background and one foreground layer (image, mask, placement). No widgets.

Widgets observe the document through its signals and change it only through the commands in
``commands.py``, which call the setters here. The layer's mask is edited in place (brush strokes
touch a few pixels of a possibly large array); everything else is replaced, never mutated, so a
snapshot can share the images with the worker thread without copying them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.box import Box
from engine.imageio import LoadedImage, mask_from_alpha
from engine.pipeline import DEFAULT_STRENGTH, MAX_STRENGTH
from harmonizer_gui.document.compose import LayerTransform, default_placement
from harmonizer_gui.document.render import Scene, to_display8

HINT_FOREGROUND, HINT_BACKGROUND = 1, 2  # GrabCut marks; 0 is unmarked


def initial_mask(image: LoadedImage) -> np.ndarray:
    """The mask a new layer starts with: its alpha channel, or the whole layer."""
    if image.alpha is not None:
        return np.ascontiguousarray(mask_from_alpha(image))
    return np.ones((image.height, image.width), np.float32)


@dataclass(eq=False)
class Layer:
    """The pasted foreground.

    Attributes:
        image: the foreground as read (never modified).
        mask: ``(h, w)`` float32 weights in ``[0, 1]`` at the foreground's full resolution.
        transform: its placement on the background.
        hints: ``(h, w)`` uint8 GrabCut marks (``HINT_*``), created on first use.
    """

    image: LoadedImage
    mask: np.ndarray
    transform: LayerTransform
    hints: np.ndarray | None = None
    _display: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_image(cls, image: LoadedImage, transform: LayerTransform) -> Layer:
        return cls(image=image, mask=initial_mask(image), transform=transform)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.image.width, self.image.height

    @property
    def display_rgb(self) -> np.ndarray:
        """8-bit copy of the foreground at the size the canvas paints it (cached).

        Fully transparent pixels of a cut-out are mid-grey here: their stored colours are whatever
        the editor that made the file left there, and the mask overlay would show them.
        """
        if self._display is None:
            rgb, alpha = self.image.rgb, self.image.alpha
            if alpha is not None:
                rgb = np.where((alpha == 0)[..., None], rgb.dtype.type(self.image.max_value // 2), rgb)
            self._display = to_display8(rgb)
        return self._display

    def ensure_hints(self) -> np.ndarray:
        if self.hints is None:
            self.hints = np.zeros(self.mask.shape, np.uint8)
        return self.hints


class Document(QObject):
    """Background, layer and strength, with a signal for every kind of change.

    Signals:
        backgroundChanged: the background image was replaced or removed.
        layerChanged: the layer was replaced or removed.
        transformChanged: the layer moved, scaled, rotated or flipped.
        maskChanged(Box | None): mask pixels changed in the box (None: anywhere).
        hintsChanged(Box | None): GrabCut marks changed in the box.
        strengthChanged(float)
        edited: anything that changes the harmonized picture.
    """

    backgroundChanged = Signal()
    layerChanged = Signal()
    transformChanged = Signal()
    maskChanged = Signal(object)
    hintsChanged = Signal(object)
    strengthChanged = Signal(float)
    edited = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.background: LoadedImage | None = None
        self.layer: Layer | None = None
        self.strength = DEFAULT_STRENGTH
        self._mask_revision = 0
        self._mask_copy: tuple[Layer, int, np.ndarray] | None = None  # reused while the mask is unchanged

    # -- queries ---------------------------------------------------------------------------
    @property
    def background_size(self) -> tuple[int, int] | None:
        if self.background is None:
            return None
        return self.background.width, self.background.height

    def is_complete(self) -> bool:
        """Both a background and a layer: there is something to harmonize."""
        return self.background is not None and self.layer is not None

    def placement_for(self, image: LoadedImage) -> LayerTransform:
        """Where a new foreground goes: where the current layer is, at the same displayed size,
        or centred on the background."""
        size = (image.width, image.height)
        if self.layer is not None and self.background is not None:
            old = self.layer.transform
            old_w, old_h = self.layer.size
            factor = max(old_w, old_h) / max(size)
            return LayerTransform(old.x, old.y, old.scale * factor, old.angle, old.flip)
        if self.background is not None:
            return default_placement(size, self.background_size or size)
        return LayerTransform(x=size[0] / 2.0, y=size[1] / 2.0)

    def snapshot(self, request_id: int = 0) -> Scene | None:
        """An immutable copy for the worker thread, or None when the document is incomplete.

        The images are shared (never mutated); the mask, which strokes edit in place, is copied,
        once per mask change, so moving the layer costs no copy.
        """
        if self.background is None or self.layer is None:
            return None
        layer = self.layer
        cached = self._mask_copy
        if cached is None or cached[0] is not layer or cached[1] != self._mask_revision:
            self._mask_copy = cached = (layer, self._mask_revision, layer.mask.copy())
        return Scene(
            background=self.background.rgb,
            layer_rgb=layer.image.rgb,
            layer_mask=cached[2],
            layer_display=layer.display_rgb,
            transform=layer.transform,
            strength=self.strength,
            request_id=request_id,
        )

    # -- setters (called by commands) -------------------------------------------------------
    def set_background(self, image: LoadedImage | None) -> None:
        self.background = image
        self.backgroundChanged.emit()
        self.edited.emit()

    def set_layer(self, layer: Layer | None) -> None:
        self.layer = layer
        self.layerChanged.emit()
        self.edited.emit()

    def set_transform(self, transform: LayerTransform) -> None:
        if self.layer is None or self.layer.transform == transform:
            return
        self.layer.transform = transform
        self.transformChanged.emit()
        self.edited.emit()

    def swap_patch(self, target: str, box: Box, patch: np.ndarray) -> np.ndarray:
        """Put ``patch`` into the layer's ``mask`` or ``hints`` at ``box``; return what was there."""
        if self.layer is None:
            raise RuntimeError("there is no layer to edit")
        array = self.layer.mask if target == "mask" else self.layer.ensure_hints()
        region = (slice(box.top, box.bottom), slice(box.left, box.right))
        old = array[region].copy()
        array[region] = patch
        if target == "mask":
            self._mask_revision += 1
            self.maskChanged.emit(box)
            self.edited.emit()
        else:
            self.hintsChanged.emit(box)
        return old

    def set_strength(self, strength: float) -> None:
        strength = float(np.clip(strength, 0.0, MAX_STRENGTH))
        if strength == self.strength:
            return
        self.strength = strength
        self.strengthChanged.emit(strength)
        self.edited.emit()
