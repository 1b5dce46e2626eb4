"""Mask operations at the foreground's full resolution: brush, feather, invert, GrabCut. No Qt.

Points are in the layer's continuous coordinates (pixel ``(row, col)`` has its centre at
``(col + 0.5, row + 0.5)``). A brush segment is painted as a capsule (a round brush swept from one
point to the next) in a single vectorised step, so fast mouse moves leave no gaps.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from engine.box import Box

GRABCUT_MAX_SIDE = 512  # GrabCut runs on a copy at most this large, then the mask is scaled back
GRABCUT_ITERATIONS = 5
GRABCUT_MARGIN = 0.03  # border of the layer, as a fraction of its size, that seeds the background


def segment_box(p0: tuple[float, float], p1: tuple[float, float], radius: float, shape: tuple[int, int]) -> Box | None:
    """Pixels of an ``(H, W)`` array that a brush of ``radius`` swept from ``p0`` to ``p1`` can touch."""
    height, width = shape
    left = max(int(math.floor(min(p0[0], p1[0]) - radius)), 0)
    top = max(int(math.floor(min(p0[1], p1[1]) - radius)), 0)
    right = min(int(math.ceil(max(p0[0], p1[0]) + radius)) + 1, width)
    bottom = min(int(math.ceil(max(p0[1], p1[1]) + radius)) + 1, height)
    if right <= left or bottom <= top:
        return None
    return Box(top, left, bottom, right)


def brush_coverage(box: Box, p0: tuple[float, float], p1: tuple[float, float], radius: float, hardness: float) -> np.ndarray:
    """How strongly each pixel of ``box`` is covered by the brush segment, float32 in ``[0, 1]``.

    ``hardness`` 1 gives a hard edge (one pixel of anti-aliasing); 0 a soft edge over the whole radius.
    """
    ys = np.arange(box.top, box.bottom, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(box.left, box.right, dtype=np.float32)[None, :] + 0.5
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    length2 = dx * dx + dy * dy
    if length2 > 1e-12:
        t = np.clip(((xs - p0[0]) * dx + (ys - p0[1]) * dy) / length2, 0.0, 1.0)
    else:
        t = np.zeros((1, 1), np.float32)
    distance = np.hypot(xs - (p0[0] + t * dx), ys - (p0[1] + t * dy))
    ramp = max((1.0 - float(np.clip(hardness, 0.0, 1.0))) * radius, 1.0)
    edge = np.clip((radius + 0.5 - distance) / ramp, 0.0, 1.0)
    return (edge * edge * (3.0 - 2.0 * edge)).astype(np.float32)  # smoothstep


def paint_patch(patch: np.ndarray, coverage: np.ndarray, erase: bool) -> np.ndarray:
    """Brush ``coverage`` into a mask patch: painting raises values towards 1, erasing lowers them
    towards 0; within one stroke overlapping dabs do not build up."""
    if erase:
        return np.minimum(patch, 1.0 - coverage)
    return np.maximum(patch, coverage)


def mark_patch(patch: np.ndarray, coverage: np.ndarray, value: int) -> np.ndarray:
    """Brush a GrabCut hint ``value`` into a uint8 hints patch where the brush covers at least half."""
    return np.where(coverage >= 0.5, np.uint8(value), patch).astype(np.uint8)


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """Soften the mask's edges over about ``radius`` pixels (Gaussian, sigma = radius / 2)."""
    if radius <= 0:
        return mask.copy()
    blurred = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigmaX=radius / 2.0, borderType=cv2.BORDER_REPLICATE)
    return np.clip(blurred, 0.0, 1.0)


def invert(mask: np.ndarray) -> np.ndarray:
    return (1.0 - mask).astype(np.float32)


def grabcut(
    rgb: np.ndarray,
    hints: np.ndarray | None = None,
    iterations: int = GRABCUT_ITERATIONS,
    max_side: int = GRABCUT_MAX_SIDE,
    margin: float = GRABCUT_MARGIN,
) -> np.ndarray:
    """Segment the foreground object of a layer with OpenCV's GrabCut.

    The layer's rectangle seeds it: a thin border is background, the rest probably foreground.
    ``hints`` (``1`` foreground, ``2`` background, as painted with the marking brushes) are
    certain. GrabCut runs on a copy at most ``max_side`` pixels large.

    Args:
        rgb: ``(H, W, 3)`` uint8/uint16 layer pixels.
        hints: ``(H, W)`` uint8 marks, or None.

    Returns:
        ``(H, W)`` float32 mask in ``[0, 1]`` (soft only along the edge, from scaling back).

    Raises:
        ValueError: the layer is too small, or the marks leave GrabCut nothing to separate.
    """
    height, width = rgb.shape[:2]
    if min(height, width) < 8:
        raise ValueError(f"the layer is only {width}x{height} pixels; GrabCut needs at least 8x8")
    factor = min(1.0, max_side / max(height, width))
    size = (max(8, round(width * factor)), max(8, round(height * factor)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if factor < 1 else rgb
    if small.dtype != np.uint8:
        small = (small.astype(np.uint32) // 257).astype(np.uint8)
    seeds = np.full((size[1], size[0]), cv2.GC_BGD, np.uint8)
    border_x, border_y = max(1, round(size[0] * margin)), max(1, round(size[1] * margin))
    seeds[border_y:-border_y, border_x:-border_x] = cv2.GC_PR_FGD
    if hints is not None:
        for value, label in ((1, cv2.GC_FGD), (2, cv2.GC_BGD)):
            marked = cv2.resize((hints == value).astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
            seeds[marked] = label
    unknown_fg = np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD))
    if unknown_fg.all() or not unknown_fg.any():
        raise ValueError("GrabCut needs both foreground and background; the marks cover everything")
    bgd_model, fgd_model = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(np.ascontiguousarray(small[:, :, ::-1]), seeds, None, bgd_model, fgd_model, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error as err:
        raise ValueError(f"GrabCut failed: {err}") from err
    result = np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    if result.shape != (height, width):
        result = cv2.resize(result, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(result, 0.0, 1.0)
