"""Colour mappings applied to ``(H, W, 3)`` numpy pixels on the CPU with OpenCV.

The same functions as the tensor versions in :mod:`engine.mapping`, shaped for speed at full
resolution: no per-pixel coefficient fields and no temporaries the size of the image.

- The Lab statistics transfer linearises integer pixels through an exact table, then lets OpenCV
  convert linear RGB to Lab and back (its Lab maths and constants are the ones in
  :mod:`engine.color`).
- The affine grid is bilinear between grid nodes, so inside each cell of nodes the transform is
  ``A00 + tx * Dx + ty * Dy + tx * ty * Dxy`` with constant matrices: four constant affine
  transforms per cell (``cv2.transform``) and a few multiply-adds with the row and column weights.

Pixels are ``uint8``/``uint16`` code values or ``float32`` in ``[0, 1]``; results are ``float32``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch

from engine.color import srgb_to_linear

# Below this, the sRGB curve is a straight line (IEC 61966-2-1).
_SRGB_LINEAR_BELOW = 0.04045
_lab_tables_built = False  # OpenCV builds them on the first Lab conversion of the process


@lru_cache(maxsize=2)
def _linear_table(dtype: np.dtype) -> np.ndarray:
    """Linear light of every code value of ``dtype``, computed by :func:`engine.color.srgb_to_linear`."""
    top = np.iinfo(dtype).max
    codes = torch.arange(top + 1, dtype=torch.float64) / top
    return srgb_to_linear(codes).to(torch.float32).numpy()


def to_linear(pixels: np.ndarray) -> np.ndarray:
    """sRGB pixels -> ``float32`` linear light; exact table look-up for integer pixels."""
    if pixels.dtype == np.uint8:
        return cv2.LUT(pixels, _linear_table(np.dtype(np.uint8)))
    if pixels.dtype == np.uint16:
        return _linear_table(np.dtype(np.uint16))[pixels]
    rgb = np.clip(pixels, 0.0, 1.0).astype(np.float32, copy=False)
    curved = cv2.pow((rgb + np.float32(0.055)) * np.float32(1 / 1.055), 2.4)
    return np.where(rgb > _SRGB_LINEAR_BELOW, curved, rgb * np.float32(1 / 12.92))


def lab_tables_built() -> bool:
    """Whether this process has paid OpenCV's one-off cost of its Lab tables yet."""
    return _lab_tables_built


def warm_up() -> None:
    """Build OpenCV's Lab tables and the sRGB tables now; otherwise the first mapping pays for them
    (0.1-0.3 s). For long-lived programs, off their interactive thread."""
    lab_stats(np.zeros((1, 1, 3), np.uint8), np.ones(3, np.float32), np.zeros(3, np.float32))
    _linear_table(np.dtype(np.uint16))


def to_float(pixels: np.ndarray) -> np.ndarray:
    """Integer code values -> ``float32`` in ``[0, 1]``; float pixels pass through."""
    if pixels.dtype in (np.uint8, np.uint16):
        return np.multiply(pixels, np.float32(1 / np.iinfo(pixels.dtype).max), dtype=np.float32)
    return pixels.astype(np.float32, copy=False)


def lab_stats(pixels: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``lab * scale + shift`` in CIE Lab, back to sRGB clipped to ``[0, 1]``.

    Args:
        pixels: ``(H, W, 3)`` sRGB.
        scale, shift: ``(3,)`` per-channel factors and offsets of L, a, b.
    """
    global _lab_tables_built
    lab = cv2.cvtColor(to_linear(pixels), cv2.COLOR_LRGB2Lab)
    _lab_tables_built = True
    matrix = np.hstack([np.diag(scale), np.reshape(shift, (3, 1))]).astype(np.float32)
    return cv2.cvtColor(cv2.transform(lab, matrix), cv2.COLOR_Lab2RGB)


@dataclass(frozen=True)
class _Run:
    """Consecutive pixels along one axis that lie between the same two grid nodes."""

    start: int
    stop: int
    node0: int
    node1: int
    weight: np.ndarray  # (stop - start,) float32: 0 at node0, 1 at node1


def _runs(begin: float, end: float, count: int, nodes: int) -> list[_Run]:
    """Split ``count`` pixels covering ``[begin, end)`` of the crop into runs between grid nodes.

    Node ``k`` sits at the centre of cell ``k`` (``align_corners=False``); beyond the outer nodes
    the border node's value holds.
    """
    centres = begin + (np.arange(count) + 0.5) / count * (end - begin)
    position = np.clip(centres * nodes - 0.5, 0.0, nodes - 1)
    node0 = np.minimum(np.floor(position).astype(np.int64), max(nodes - 2, 0))
    weight = (position - node0).astype(np.float32)
    bounds = [0, *(np.flatnonzero(np.diff(node0)) + 1).tolist(), count]
    return [
        _Run(a, b, int(node0[a]), min(int(node0[a]) + 1, nodes - 1), weight[a:b])
        for a, b in zip(bounds[:-1], bounds[1:])
    ]


def affine_grid(pixels: np.ndarray, coeffs: np.ndarray, window: tuple[float, float, float, float]) -> np.ndarray:
    """Bilinearly interpolated 3x4 affine colour transforms, applied per pixel.

    Args:
        pixels: ``(H, W, 3)`` colours.
        coeffs: ``(12, GH, GW)`` grid of row-major 3x4 matrices.
        window: ``(top, left, bottom, right)`` the pixels cover, in normalised crop coordinates.

    Returns:
        ``(H, W, 3)`` float32, not clipped.
    """
    rgb = to_float(pixels)
    nodes = np.asarray(coeffs, dtype=np.float32).reshape(3, 4, *coeffs.shape[-2:]).transpose(2, 3, 0, 1)
    out = np.empty(rgb.shape, np.float32)
    top, left, bottom, right = window
    height, width = rgb.shape[:2]
    for rows in _runs(top, bottom, height, nodes.shape[0]):
        for cols in _runs(left, right, width, nodes.shape[1]):
            block = rgb[rows.start : rows.stop, cols.start : cols.stop]
            out[rows.start : rows.stop, cols.start : cols.stop] = _bilinear_cell(block, nodes, rows, cols)
    return out


def _bilinear_cell(block: np.ndarray, nodes: np.ndarray, rows: _Run, cols: _Run) -> np.ndarray:
    """One cell: ``A00 v + tx (Dx v + ty Dxy v) + ty Dy v`` with the corner matrices' differences."""
    a00, a01 = nodes[rows.node0, cols.node0], nodes[rows.node0, cols.node1]
    a10, a11 = nodes[rows.node1, cols.node0], nodes[rows.node1, cols.node1]
    out = cv2.transform(block, a00)
    ty = rows.weight[:, None, None]
    tx = cols.weight[None, :, None]
    if cols.node1 != cols.node0:
        across = cv2.transform(block, a01 - a00)
        if rows.node1 != rows.node0:
            both = cv2.transform(block, a11 - a10 - a01 + a00)
            both *= ty
            across += both
        across *= tx
        out += across
    if rows.node1 != rows.node0:
        down = cv2.transform(block, a10 - a00)
        down *= ty
        out += down
    return out
