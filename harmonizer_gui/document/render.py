"""Rendering a scene snapshot: the live preview and the full-resolution export. No Qt.

A :class:`Scene` is an immutable snapshot of the document taken on the UI thread; the functions
here run on the worker thread. Besides the harmonized preview, the preview also produces a
*harmonized texture* for the layer: the colour change the harmonizer made, carried back into the
layer's own pixel grid. The canvas paints the layer with it, so a layer that is being dragged keeps
its harmonized colours until the next preview arrives.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from engine.box import Box
from engine.cpu_work import worker_threads
from engine.harmonizer import Harmonizer
from engine.pipeline import Prediction, apply_prediction, harmonize_array, predict
from harmonizer_gui.document.compose import (
    LayerTransform,
    compose,
    convert_depth,
    covered_box,
    fitted_size,
    layer_matrix,
    resize_to,
)

PREVIEW_MAX_PIXELS = 1_500_000  # interactive on a 2-core CPU
DISPLAY_MAX_SIDE = 2048  # the canvas paints layers at most this large
_MIN_ALPHA = 0.02  # below this mask weight the colour change is extrapolated from the neighbours
_SPREAD_SIGMA = 4.0  # preview pixels over which the colour change is extrapolated


@dataclass(frozen=True, eq=False)
class Scene:
    """Everything a render needs, never mutated after it is taken.

    Attributes:
        background: ``(H, W, 3)`` uint8/uint16 full-resolution background.
        layer_rgb: ``(h, w, 3)`` uint8/uint16 foreground.
        layer_mask: ``(h, w)`` float32 mask (a copy owned by the snapshot).
        layer_display: ``(dh, dw, 3)`` uint8 foreground as the canvas paints it.
        transform: the layer's placement.
        strength: blend between composite (0) and harmonized foreground (1); up to
            ``MAX_STRENGTH``, more of a gated model's correction.
        request_id: increases with every request; results carry it back.
    """

    background: np.ndarray
    layer_rgb: np.ndarray
    layer_mask: np.ndarray
    layer_display: np.ndarray
    transform: LayerTransform
    strength: float
    request_id: int = 0

    @property
    def full_size(self) -> tuple[int, int]:
        return self.background.shape[1], self.background.shape[0]

    @property
    def layer_size(self) -> tuple[int, int]:
        return self.layer_mask.shape[1], self.layer_mask.shape[0]


@dataclass(frozen=True, eq=False)
class PreviewResult:
    """A harmonized preview.

    Attributes:
        request_id: the request it answers.
        composite / harmonized: ``(h, w, 3)`` at preview size, the background's dtype.
        mask: ``(h, w)`` float32 pasted-foreground mask at preview size.
        texture: ``(dh, dw, 3)`` uint8, the layer's display pixels with the harmonizer's colours.
        seconds: time the harmonizer took, composing included.
        share: the share of its whole correction the model chose for this composite (its gate;
            1 for a model without one, or with nothing to harmonize).
    """

    request_id: int
    composite: np.ndarray
    harmonized: np.ndarray
    mask: np.ndarray
    texture: np.ndarray
    seconds: float
    share: float


def to_display8(rgb: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """An 8-bit copy at most ``max_side`` pixels on its longer side, for painting."""
    height, width = rgb.shape[:2]
    factor = min(1.0, max_side / max(width, height))
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.ascontiguousarray(resize_to(convert_depth(rgb, np.uint8), size))


@dataclass(frozen=True, eq=False)
class _Prepared:
    """A scene composed at preview size and the harmonizer's answer for it."""

    harmonizer: Harmonizer
    scene: Scene
    composite: np.ndarray
    mask: np.ndarray
    prediction: Prediction | None

    def serves(self, harmonizer: Harmonizer, scene: Scene) -> bool:
        """Whether ``scene`` differs from this one at most in strength (so its answer holds)."""
        old = self.scene
        return (
            self.harmonizer is harmonizer
            and old.background is scene.background
            and old.layer_rgb is scene.layer_rgb
            and old.layer_mask is scene.layer_mask
            and old.transform == scene.transform
        )


class PreviewRenderer:
    """Renders previews, keeping the shrunk background between requests, and the last composite
    and prediction, so that a strength change costs no composing and no network."""

    def __init__(self, max_pixels: int = PREVIEW_MAX_PIXELS) -> None:
        self.max_pixels = max_pixels
        self._cached_source: np.ndarray | None = None
        self._cached_small: np.ndarray | None = None
        self._prepared: _Prepared | None = None

    def small_background(self, background: np.ndarray) -> np.ndarray:
        if self._cached_source is not background:
            size = fitted_size(background.shape[1], background.shape[0], self.max_pixels)
            self._cached_small = resize_to(background, size)
            self._cached_source = background
        assert self._cached_small is not None
        return self._cached_small

    def _prepare(self, harmonizer: Harmonizer, scene: Scene) -> _Prepared:
        if self._prepared is None or not self._prepared.serves(harmonizer, scene):
            small = self.small_background(scene.background)
            composite, mask = compose(small, scene.layer_rgb, scene.layer_mask, scene.transform, scene.full_size)
            self._prepared = _Prepared(harmonizer, scene, composite, mask, predict(harmonizer, composite, mask))
        return self._prepared

    def render(self, harmonizer: Harmonizer, scene: Scene) -> PreviewResult:
        start = time.perf_counter()
        prepared = self._prepare(harmonizer, scene)
        composite, mask = prepared.composite, prepared.mask
        harmonized = apply_prediction(prepared.prediction, composite, mask, harmonizer.device, scene.strength)
        texture = layer_texture(scene, composite, harmonized, mask)
        share = 1.0 if prepared.prediction is None else prepared.prediction.mapping.blend()[1]
        return PreviewResult(scene.request_id, composite, harmonized, mask, texture, time.perf_counter() - start, share)


def layer_texture(scene: Scene, composite: np.ndarray, harmonized: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The layer's display pixels recoloured as the harmonizer recoloured them in the preview.

    The per-pixel change ``(harmonized - composite) / mask`` is extrapolated a little beyond the
    mask (so freshly painted areas look right before the next preview) and carried into the
    layer's display grid. The work is done on the coarser of the two grids: the part of the preview
    the layer covers, warped back afterwards, or, for a layer shown larger than its display
    pixels, the display grid itself, sampling the preview there first.
    """
    display = scene.layer_display
    d_h, d_w = display.shape[:2]
    prev_h, prev_w = mask.shape
    full_w, full_h = scene.full_size
    layer_w, layer_h = scene.layer_size
    matrix = layer_matrix(scene.transform, scene.layer_size, (prev_w / full_w, prev_h / full_h))
    matrix = np.hstack([matrix[:, :2] @ np.diag([layer_w / d_w, layer_h / d_h]), matrix[:, 2:]])
    box = covered_box(matrix, (d_w, d_h), (prev_w, prev_h))
    if box is None:
        return display.copy()
    zoom = math.sqrt(abs(np.linalg.det(matrix[:, :2])))  # preview pixels per display pixel, along a side
    pad = int(3 * _SPREAD_SIGMA) + 2
    box = Box(max(box.top - pad, 0), max(box.left - pad, 0), min(box.bottom + pad, prev_h), min(box.right + pad, prev_w))
    region = (slice(box.top, box.bottom), slice(box.left, box.right))
    # Display-pixel centres -> preview-pixel centres inside the box, for WARP_INVERSE_MAP.
    offset = matrix[:, 2] + matrix[:, :2] @ np.array([0.5, 0.5]) - 0.5 - np.array([box.left, box.top])
    cv_matrix = np.hstack([matrix[:, :2], offset[:, None]])

    def to_display(picture: np.ndarray, border: int) -> np.ndarray:
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        return cv2.warpAffine(picture, cv_matrix, (d_w, d_h), flags=flags, borderMode=border, borderValue=0)

    if box.height * box.width > d_h * d_w:
        after, before = (to_display(p[region], cv2.BORDER_REPLICATE) for p in (harmonized, composite))
        spreads = _extrapolated_change(after, before, to_display(mask[region], cv2.BORDER_CONSTANT), _SPREAD_SIGMA / zoom)
        back = cv2.merge(spreads)
    else:
        back = to_display(cv2.merge(_extrapolated_change(harmonized[region], composite[region], mask[region])), cv2.BORDER_REPLICATE)
    back *= 255.0
    back += display
    return np.clip(np.rint(back, out=back), 0, 255, out=back).astype(np.uint8)


def _extrapolated_change(after: np.ndarray, before: np.ndarray, alpha: np.ndarray, sigma: float = _SPREAD_SIGMA) -> list[np.ndarray]:
    """Per channel, ``(after - before) / alpha`` in ``[0, 1]`` units where ``alpha`` reaches
    ``_MIN_ALPHA``; elsewhere that change Gaussian-blurred (``sigma`` pixels) over the blurred mask.

    The channels are worked as planes (numpy and OpenCV work on single-channel pictures fastest,
    and OpenCV splits a contiguous copy faster than a region in place), on the worker threads
    while this one blurs the mask.
    """
    top = float(np.iinfo(after.dtype).max)
    is_inside = alpha >= _MIN_ALPHA
    inside = is_inside.astype(np.float32)
    denominator = np.maximum(alpha, _MIN_ALPHA)

    def change(planes: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        plane = cv2.subtract(*planes, dtype=cv2.CV_32F)
        plane /= top
        plane /= denominator
        plane *= inside
        return plane, cv2.GaussianBlur(plane, (0, 0), sigma)

    workers = worker_threads()
    pairs = zip(cv2.split(np.ascontiguousarray(after)), cv2.split(np.ascontiguousarray(before)))
    changes = workers.map(change, list(pairs))
    weight = np.maximum(cv2.GaussianBlur(inside, (0, 0), sigma), 1e-4)

    def extrapolated(change_and_spread: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        plane, spread = change_and_spread
        spread /= weight
        np.copyto(spread, plane, where=is_inside)
        return spread

    return list(workers.map(extrapolated, list(changes)))


EXPORT_KINDS = ("harmonized", "composite", "mask")


def render_full(harmonizer: Harmonizer | None, scene: Scene, kind: str) -> np.ndarray:
    """The full-resolution picture to export: ``harmonized``, ``composite`` (both ``(H, W, 3)``) or
    ``mask`` (``(H, W)``), in the background's bit depth."""
    if kind not in EXPORT_KINDS:
        raise ValueError(f"unknown export kind {kind!r}; choose one of {', '.join(EXPORT_KINDS)}")
    composite, mask = compose(scene.background, scene.layer_rgb, scene.layer_mask, scene.transform)
    if kind == "composite":
        return composite
    if kind == "mask":
        top = np.iinfo(scene.background.dtype).max
        return np.rint(mask * top).astype(scene.background.dtype)
    if harmonizer is None:
        raise RuntimeError("no harmonization model is loaded yet")
    return harmonize_array(harmonizer, composite, mask, strength=scene.strength)
