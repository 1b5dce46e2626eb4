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
from engine.cpu_work import row_bands

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
    return lab_stats_many(pixels, [(scale, shift)])[0]


def lab_stats_many(pixels: np.ndarray, transfers: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """:func:`lab_stats` for several ``(scale, shift)`` transfers of the same pixels, which are
    converted to Lab once."""
    global _lab_tables_built
    matrices = [np.hstack([np.diag(scale), np.reshape(shift, (3, 1))]).astype(np.float32) for scale, shift in transfers]
    outs = [np.empty(pixels.shape, np.float32) for _ in transfers]
    for rows in row_bands(*pixels.shape[:2]):
        lab = cv2.cvtColor(to_linear(pixels[rows]), cv2.COLOR_LRGB2Lab)
        for matrix, out in zip(matrices, outs):
            cv2.cvtColor(cv2.transform(lab, matrix), cv2.COLOR_Lab2RGB, dst=out[rows])
    _lab_tables_built = True
    return outs


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
    position = np.minimum(np.maximum(centres * nodes - 0.5, 0.0), nodes - 1)
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
    terms = _cell_terms(nodes)
    out = np.empty(rgb.shape, np.float32)
    top, left, bottom, right = window
    height, width = rgb.shape[:2]
    # Weights per column element, as the (rows, cols * 3) views in _bilinear_cell want them.
    columns = [(cols, np.repeat(cols.weight, 3)) for cols in _runs(left, right, width, nodes.shape[1])]
    for rows in _runs(top, bottom, height, nodes.shape[0]):
        ty = rows.weight[:, None] if rows.node1 != rows.node0 else None
        for cols, tx in columns:
            cell = (slice(rows.start, rows.stop), slice(cols.start, cols.stop))
            across = tx if cols.node1 != cols.node0 else None
            out[cell] = _bilinear_cell(rgb[cell], terms[rows.node0, cols.node0], ty, across)
    return out


def _cell_terms(nodes: np.ndarray) -> np.ndarray:
    """``A00, Dx, Dxy, Dy`` of every cell between four nodes, indexed by its top-left node.

    Args:
        nodes: ``(GH, GW, 3, 4)`` matrices at the grid nodes.

    Returns:
        ``(max(GH - 1, 1), max(GW - 1, 1), 4, 3, 4)``: the top-left matrix and the differences that
        bilinear interpolation across, down and diagonally adds (zero along an axis of one node).
    """
    rows0 = np.arange(max(nodes.shape[0] - 1, 1))
    cols0 = np.arange(max(nodes.shape[1] - 1, 1))
    rows1 = np.minimum(rows0 + 1, nodes.shape[0] - 1)
    cols1 = np.minimum(cols0 + 1, nodes.shape[1] - 1)
    a00, a01 = nodes[rows0][:, cols0], nodes[rows0][:, cols1]
    a10, a11 = nodes[rows1][:, cols0], nodes[rows1][:, cols1]
    return np.stack([a00, a01 - a00, a11 - a10 - a01 + a00, a10 - a00], axis=2)


def _bilinear_cell(block: np.ndarray, terms: np.ndarray, ty: np.ndarray | None, tx: np.ndarray | None) -> np.ndarray:
    """One cell: ``A00 v + tx (Dx v + ty Dxy v) + ty Dy v``, from its :func:`_cell_terms`.

    ``ty`` is ``(rows, 1)`` and ``tx`` ``(cols * 3,)``; None where the cell has one node along that
    axis. They multiply ``(rows, cols * 3)`` views of the temporaries, which numpy broadcasts fast
    (unlike a weight per pixel of ``(rows, cols, 3)``).
    """
    out = cv2.transform(block, terms[0])
    height = block.shape[0]
    if tx is not None:
        across = cv2.transform(block, terms[1])
        if ty is not None:
            both = cv2.transform(block, terms[2])
            flat = both.reshape(height, -1)
            np.multiply(flat, ty, out=flat)
            across += both
        flat = across.reshape(height, -1)
        np.multiply(flat, tx, out=flat)
        out += across
    if ty is not None:
        down = cv2.transform(block, terms[3])
        flat = down.reshape(height, -1)
        np.multiply(flat, ty, out=flat)
        out += down
    return out
