"""Placing the foreground layer on the background: pure numpy and OpenCV, no Qt.

Coordinates are *continuous*: a ``W x H`` image spans ``[0, W] x [0, H]`` and the centre of pixel
``(row, col)`` sits at ``(col + 0.5, row + 0.5)``. The same 2x3 matrix therefore drives Qt's item
transform on the canvas, the preview at a reduced size and the full-resolution export.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from engine.box import Box
from engine.cpu_work import row_bands, worker_threads

MIN_SCALE = 0.01
MAX_SCALE = 100.0
_PRESHRINK_BELOW = 0.5  # warping shrinks by more than this: resize with INTER_AREA first (no aliasing)


@dataclass(frozen=True)
class LayerTransform:
    """Where the layer sits: its centre in background pixels, uniform scale, rotation and flip.

    ``angle`` is in degrees, clockwise as seen on screen (y points down). ``flip`` mirrors the
    layer left-right about its own vertical axis before it is rotated.
    """

    x: float
    y: float
    scale: float = 1.0
    angle: float = 0.0
    flip: bool = False

    def moved(self, dx: float, dy: float) -> LayerTransform:
        return replace(self, x=float(self.x + dx), y=float(self.y + dy))

    def scaled(self, factor: float) -> LayerTransform:
        return replace(self, scale=float(np.clip(self.scale * factor, MIN_SCALE, MAX_SCALE)))

    def rotated(self, degrees: float) -> LayerTransform:
        angle = (self.angle + degrees + 180.0) % 360.0 - 180.0
        return replace(self, angle=float(angle))

    def flipped(self) -> LayerTransform:
        return replace(self, flip=not self.flip)


def layer_matrix(
    transform: LayerTransform, layer_size: tuple[int, int], out_scale: tuple[float, float] = (1.0, 1.0)
) -> np.ndarray:
    """The 2x3 affine matrix from layer to output coordinates (both continuous).

    Args:
        transform: the layer's placement on the full-resolution background.
        layer_size: ``(width, height)`` of the layer image.
        out_scale: ``(sx, sy)`` of the output relative to the full-resolution background.

    Returns:
        ``(2, 3)`` float64 matrix ``M`` with ``out = M[:, :2] @ p + M[:, 2]``.
    """
    width, height = layer_size
    theta = math.radians(transform.angle)
    cos, sin = math.cos(theta), math.sin(theta)
    rotation = np.array([[cos, -sin], [sin, cos]])
    mirror = np.diag([-1.0 if transform.flip else 1.0, 1.0])
    linear = np.diag(out_scale) @ (transform.scale * rotation @ mirror)
    centre = np.array([transform.x * out_scale[0], transform.y * out_scale[1]])
    offset = centre - linear @ np.array([width / 2.0, height / 2.0])
    return np.hstack([linear, offset[:, None]])


def invert_matrix(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix."""
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))


def map_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 matrix to ``(N, 2)`` points."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return points @ matrix[:, :2].T + matrix[:, 2]


def layer_corners(matrix: np.ndarray, layer_size: tuple[int, int]) -> np.ndarray:
    """The layer's four corners in output coordinates, clockwise from its top-left, ``(4, 2)``."""
    width, height = layer_size
    return map_points(matrix, np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64))


def covered_box(matrix: np.ndarray, layer_size: tuple[int, int], out_size: tuple[int, int]) -> Box | None:
    """Pixels of a ``(width, height)`` output that the layer can touch; None if it lies outside."""
    corners = layer_corners(matrix, layer_size)
    left = max(int(math.floor(corners[:, 0].min())), 0)
    top = max(int(math.floor(corners[:, 1].min())), 0)
    right = min(int(math.ceil(corners[:, 0].max())), out_size[0])
    bottom = min(int(math.ceil(corners[:, 1].max())), out_size[1])
    if right <= left or bottom <= top:
        return None
    return Box(top, left, bottom, right)


def convert_depth(rgb: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """uint8 <-> uint16 pixels (x257 up, rounded division down); unchanged when already ``dtype``."""
    dtype = np.dtype(dtype)
    if rgb.dtype == dtype:
        return rgb
    if dtype == np.uint16:
        return rgb.astype(np.uint16) * np.uint16(257)
    return ((rgb.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _cv_matrix(matrix: np.ndarray, box: Box) -> np.ndarray:
    """Continuous matrix into ``box`` -> OpenCV's pixel-centre convention."""
    linear, offset = matrix[:, :2], matrix[:, 2]
    shifted = offset + linear @ np.array([0.5, 0.5]) - 0.5 - np.array([box.left, box.top])
    return np.hstack([linear, shifted[:, None]])


def _preshrink(rgb: np.ndarray, mask: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resize a layer that will be shrunk a lot with INTER_AREA, and fold the resize into the matrix."""
    factor = math.sqrt(abs(np.linalg.det(matrix[:, :2])))
    if factor >= _PRESHRINK_BELOW:
        return rgb, mask, matrix
    height, width = mask.shape
    new_w, new_h = max(1, round(width * factor)), max(1, round(height * factor))
    rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, (new_w, new_h), interpolation=cv2.INTER_AREA)
    matrix = np.hstack([matrix[:, :2] @ np.diag([width / new_w, height / new_h]), matrix[:, 2:]])
    return rgb, mask, matrix


def warp_layer(
    rgb: np.ndarray, mask: np.ndarray, matrix: np.ndarray, out_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, Box] | None:
    """Warp the layer and its mask into the part of a ``(width, height)`` output it covers.

    Returns:
        ``(rgb_patch, mask_patch, box)`` with patches the size of ``box``, or None when the layer
        lies outside the output. The mask patch is float32 in ``[0, 1]`` and 0 beyond the layer.
    """
    box = covered_box(matrix, (mask.shape[1], mask.shape[0]), out_size)
    if box is None:
        return None
    rgb, mask, matrix = _preshrink(rgb, mask.astype(np.float32, copy=False), matrix)
    cv_matrix = _cv_matrix(matrix, box)
    size = (box.width, box.height)
    rgb_patch = cv2.warpAffine(rgb, cv_matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mask_patch = cv2.warpAffine(mask, cv_matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return rgb_patch, np.clip(mask_patch, 0.0, 1.0, out=mask_patch), box


def compose(
    background: np.ndarray,
    layer_rgb: np.ndarray,
    layer_mask: np.ndarray,
    transform: LayerTransform,
    full_size: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Paste the layer onto the background.

    Args:
        background: ``(H, W, 3)`` uint8/uint16; the output has its size and dtype. It may be a
            resized copy of the full-resolution background.
        layer_rgb: ``(h, w, 3)`` uint8/uint16 foreground pixels (converted to the background's depth).
        layer_mask: ``(h, w)`` float mask of the layer in ``[0, 1]``.
        transform: the placement on the full-resolution background.
        full_size: ``(width, height)`` of the full-resolution background when ``background`` is a
            resized copy; None when it is the full resolution itself.

    Returns:
        ``(composite, mask)``: the composite (background pixels bit-identical outside the layer's
        mask) and the ``(H, W)`` float32 mask of the pasted foreground.
    """
    height, width = background.shape[:2]
    full_w, full_h = full_size or (width, height)
    matrix = layer_matrix(transform, (layer_mask.shape[1], layer_mask.shape[0]), (width / full_w, height / full_h))
    composite = background.copy()
    mask = np.zeros((height, width), np.float32)
    warped = warp_layer(convert_depth(layer_rgb, background.dtype), layer_mask, matrix, (width, height))
    if warped is None:
        return composite, mask
    rgb_patch, mask_patch, box = warped

    def blend(rows: slice) -> None:
        region = (slice(box.top + rows.start, box.top + rows.stop), slice(box.left, box.right))
        alpha = cv2.merge((mask_patch[rows],) * 3)  # not mask[..., None]: numpy broadcasts that slowly
        blended = background[region].astype(np.float32)
        blended *= 1.0 - alpha
        alpha *= rgb_patch[rows].astype(np.float32)
        blended += alpha
        # Where alpha is 0 this is the background exactly (value * 1 + 0), bit for bit.
        composite[region] = np.rint(blended, out=blended)

    list(worker_threads().map(blend, row_bands(box.height, box.width)))  # in the cache, on all cores
    mask[box.top : box.bottom, box.left : box.right] = mask_patch
    return composite, mask


def fitted_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """``(width, height)`` shrunk to at most ``max_pixels`` pixels, aspect ratio kept; never enlarged."""
    if width * height <= max_pixels:
        return width, height
    factor = math.sqrt(max_pixels / (width * height))
    return max(1, round(width * factor)), max(1, round(height * factor))


def resize_to(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to ``(width, height)`` with area averaging; the same array when already that size."""
    if (pixels.shape[1], pixels.shape[0]) == tuple(size):
        return pixels
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def default_placement(layer_size: tuple[int, int], background_size: tuple[int, int], fraction: float = 0.45) -> LayerTransform:
    """A new layer: centred, its longer side scaled to ``fraction`` of the background's matching side."""
    width, height = layer_size
    bg_w, bg_h = background_size
    scale = min(fraction * bg_w / width, fraction * bg_h / height)
    return LayerTransform(x=bg_w / 2.0, y=bg_h / 2.0, scale=float(np.clip(scale, MIN_SCALE, MAX_SCALE)))
