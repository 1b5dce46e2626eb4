"""Geometry of the layer's on-canvas handles: where they are, what a click hits, what a drag does.

Scene coordinates are full-resolution background pixels; handle sizes are given in screen pixels
and converted with the view's scale, so handles look the same at every zoom. No Qt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from harmonizer_gui.document.compose import LayerTransform, layer_corners, layer_matrix

HANDLE_SIZE = 9  # screen pixels, side of a corner handle
ROTATE_OFFSET = 28  # screen pixels between the top edge and the rotation handle
GRAB_DISTANCE = 8  # screen pixels within which a handle is hit
ROTATE_SNAP = 15.0  # degrees, with Shift held


class Part(Enum):
    BODY = "body"
    CORNER = "corner"
    ROTATE = "rotate"


@dataclass(frozen=True)
class Frame:
    """The layer's outline and handles in scene coordinates."""

    corners: np.ndarray  # (4, 2) clockwise from the layer's own top-left
    centre: np.ndarray  # (2,)
    top_middle: np.ndarray  # (2,)
    rotate_handle: np.ndarray  # (2,)


def layer_frame(transform: LayerTransform, layer_size: tuple[int, int], view_scale: float) -> Frame:
    corners = layer_corners(layer_matrix(transform, layer_size), layer_size)
    centre = np.array([transform.x, transform.y])
    top_middle = (corners[0] + corners[1]) / 2.0
    outward = top_middle - centre
    length = float(np.hypot(*outward))
    if length < 1e-9:  # a degenerate layer: put the handle straight up
        outward, length = np.array([0.0, -1.0]), 1.0
    rotate_handle = top_middle + outward / length * ROTATE_OFFSET / view_scale
    return Frame(corners, centre, top_middle, rotate_handle)


def _inside(polygon: np.ndarray, point: np.ndarray) -> bool:
    """Point in a convex polygon given clockwise (on screen; y down)."""
    signs = []
    for index in range(len(polygon)):
        a, b = polygon[index], polygon[(index + 1) % len(polygon)]
        signs.append((b[0] - a[0]) * (point[1] - a[1]) - (b[1] - a[1]) * (point[0] - a[0]))
    return all(s >= 0 for s in signs) or all(s <= 0 for s in signs)


def hit_test(
    transform: LayerTransform, layer_size: tuple[int, int], point: tuple[float, float], view_scale: float, handles: bool = True
) -> Part | None:
    """Which part of the layer a click at ``point`` (scene) grabs, handles first; None: nothing."""
    frame = layer_frame(transform, layer_size, view_scale)
    p = np.asarray(point, dtype=np.float64)
    reach = GRAB_DISTANCE / view_scale
    if handles:
        if np.hypot(*(p - frame.rotate_handle)) <= reach:
            return Part.ROTATE
        if (np.hypot(*(frame.corners - p).T) <= reach).any():
            return Part.CORNER
    if _inside(frame.corners, p):
        return Part.BODY
    return None


def _angle(centre: np.ndarray, point: np.ndarray) -> float:
    return math.degrees(math.atan2(point[1] - centre[1], point[0] - centre[0]))


def dragged(
    part: Part,
    start: LayerTransform,
    start_point: tuple[float, float],
    point: tuple[float, float],
    snap: bool = False,
) -> LayerTransform:
    """The transform after dragging ``part`` from ``start_point`` to ``point`` (scene).

    Corners scale uniformly about the centre; the rotation handle turns about the centre
    (``snap``: to multiples of 15 degrees); the body moves.
    """
    p0, p1 = np.asarray(start_point, float), np.asarray(point, float)
    centre = np.array([start.x, start.y])
    if part is Part.BODY:
        return start.moved(*(p1 - p0))
    if part is Part.CORNER:
        before = float(np.hypot(*(p0 - centre)))
        after = float(np.hypot(*(p1 - centre)))
        return start if before < 1e-9 else start.scaled(after / before)
    turned = start.rotated(_angle(centre, p1) - _angle(centre, p0))
    if snap:
        return turned.rotated(round(turned.angle / ROTATE_SNAP) * ROTATE_SNAP - turned.angle)
    return turned
