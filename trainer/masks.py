"""Masks for photos that have none: object silhouettes from cut-outs, and smooth random blobs.

Any region of a real photo yields a valid training triplet, so masks need not be the photo's own
labelled region. Object-shaped masks teach the network the outlines it meets in real composites.
Every mask here is float32 ``(H, W)`` in ``[0, 1]`` with antialiased edges a pixel or two wide,
never empty and never the whole image.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engine.iharmony import IMAGE_EXTENSIONS
from engine.imageio import ImageReadError, mask_from_alpha, read_image
from trainer.sources import DataError

DEFAULT_AREA = (0.05, 0.45)
_MAX_SHAPE_SIDE = 256  # shapes are stored at most this large; they are resized to fit anyway
_MIN_SHAPE_PIXELS = 64
_FILL = 0.98  # a shape's box may span at most this share of the image side
_EDGE_SIGMA = 0.6  # Gaussian softening of edges, in pixels
_ASPECT_JITTER = 0.25  # log-scale range of the random stretch
_MAX_ROTATION = 30.0  # degrees
_SUBPIXEL_BITS = 4


class ShapeBank:
    """Object silhouettes taken from the alpha channels of RGBA cut-outs."""

    def __init__(self, shapes: list[np.ndarray], names: list[str] | None = None) -> None:
        if not shapes:
            raise DataError("a ShapeBank needs at least one shape")
        self._shapes = shapes
        self.names = names or [f"shape {i}" for i in range(len(shapes))]

    @classmethod
    def from_folder(cls, folder: str | Path, max_shapes: int | None = None) -> ShapeBank:
        """Load every usable silhouette from a folder of images with alpha (sorted by name).

        Images without an alpha channel, unreadable files and alphas that are empty or fully
        opaque are skipped.

        Raises:
            DataError: The folder is missing or has no usable silhouette.
        """
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise DataError(f"shapes folder {folder} does not exist or is not a folder")
        files = sorted(
            p for p in folder.iterdir()
            if not p.name.startswith(".") and p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        shapes, names = [], []
        for path in files:
            if max_shapes is not None and len(shapes) >= max_shapes:
                break
            shape = _load_silhouette(path)
            if shape is not None:
                shapes.append(shape)
                names.append(path.name)
        if not shapes:
            raise DataError(
                f"shapes folder {folder} has no usable silhouette: it needs images with an alpha "
                "channel (RGBA PNG cut-outs) whose alpha is neither empty nor fully opaque"
            )
        return cls(shapes, names)

    def __len__(self) -> int:
        return len(self._shapes)

    def random_mask(
        self, height: int, width: int, rng: np.random.Generator, area: tuple[float, float] = DEFAULT_AREA
    ) -> np.ndarray:
        """A random silhouette, randomly scaled, stretched, rotated, flipped and placed inside the image.

        Args:
            height: Mask height.
            width: Mask width.
            rng: Source of every random choice.
            area: Range of the silhouette's share of the image area.

        Returns:
            float32 ``(height, width)`` mask in ``[0, 1]``.
        """
        _check_area(area)
        shape = self._shapes[int(rng.integers(len(self._shapes)))]
        if rng.random() < 0.5:
            shape = shape[:, ::-1]
        angle = rng.uniform(-_MAX_ROTATION, _MAX_ROTATION) if rng.random() < 0.5 else 0.0
        shape = _rotate(shape, angle)
        stretch = float(np.exp(rng.uniform(-_ASPECT_JITTER, _ASPECT_JITTER)))
        target = rng.uniform(*area) * height * width
        sx, sy = _fit_scales(shape.shape[1] * stretch, shape.shape[0] / stretch, float(shape.sum()), target, height, width)
        new_w = max(1, min(width, int(round(shape.shape[1] * stretch * sx))))
        new_h = max(1, min(height, int(round(shape.shape[0] / stretch * sy))))
        resized = cv2.resize(shape, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        canvas = np.zeros((height, width), np.float32)
        top = int(rng.integers(height - new_h + 1))
        left = int(rng.integers(width - new_w + 1))
        canvas[top : top + new_h, left : left + new_w] = (resized > 0.5).astype(np.float32)
        return _finish(canvas, rng)


def random_blob_mask(
    height: int, width: int, rng: np.random.Generator, area: tuple[float, float] = DEFAULT_AREA
) -> np.ndarray:
    """A smooth random object-like blob or polygon, for photos without masks.

    Args:
        height: Mask height.
        width: Mask width.
        rng: Source of every random choice.
        area: Range of the region's share of the image area.

    Returns:
        float32 ``(height, width)`` mask in ``[0, 1]``.
    """
    _check_area(area)
    points = _polygon(rng) if rng.random() < 0.3 else _blob(rng)
    stretch = float(np.exp(rng.uniform(-2 * _ASPECT_JITTER, 2 * _ASPECT_JITTER)))
    points = points * np.array([stretch, 1 / stretch])
    points = points - points.min(axis=0)
    box_w, box_h = points.max(axis=0)
    target = rng.uniform(*area) * height * width
    sx, sy = _fit_scales(box_w, box_h, _polygon_area(points), target, height, width)
    points = points * np.array([sx, sy])
    free = np.array([width, height]) - points.max(axis=0) - 1
    points = points + rng.uniform(0, 1, size=2) * np.maximum(free, 0)
    canvas = np.zeros((height, width), np.float32)
    fixed = np.round(points * (1 << _SUBPIXEL_BITS)).astype(np.int32)
    cv2.fillPoly(canvas, [fixed], 1.0, lineType=cv2.LINE_AA, shift=_SUBPIXEL_BITS)
    return _finish(canvas, rng)


def _check_area(area: tuple[float, float]) -> None:
    low, high = area
    if not 0.0 < low <= high < 1.0:
        raise ValueError(f"area must satisfy 0 < low <= high < 1, got {area}")


def _load_silhouette(path: Path) -> np.ndarray | None:
    try:
        image = read_image(path)
    except ImageReadError:
        return None
    if image.alpha is None:
        return None
    alpha = mask_from_alpha(image)
    rows, cols = np.nonzero(alpha > 0.5)
    if rows.size < _MIN_SHAPE_PIXELS or rows.size == alpha.size:
        return None
    crop = alpha[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = _MAX_SHAPE_SIDE / max(crop.shape)
    if scale < 1:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop, dtype=np.float32)


def _rotate(shape: np.ndarray, angle: float) -> np.ndarray:
    """Rotate about the centre onto a canvas large enough to hold the result, cropped to the shape."""
    if angle == 0.0:
        return np.ascontiguousarray(shape)
    h, w = shape.shape
    rad = np.deg2rad(angle)
    new_w = int(np.ceil(abs(w * np.cos(rad)) + abs(h * np.sin(rad))))
    new_h = int(np.ceil(abs(w * np.sin(rad)) + abs(h * np.cos(rad))))
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    matrix[:, 2] += ((new_w - w) / 2, (new_h - h) / 2)
    rotated = cv2.warpAffine(np.ascontiguousarray(shape), matrix, (new_w, new_h), flags=cv2.INTER_LINEAR)
    rows, cols = np.nonzero(rotated > 0.5)
    if rows.size == 0:
        return np.ascontiguousarray(shape)
    return rotated[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def _fit_scales(
    box_w: float, box_h: float, fill: float, target: float, height: int, width: int
) -> tuple[float, float]:
    """Scales (x, y) that give a region of ``fill`` pixels (of a ``box_w`` x ``box_h`` box) ``target`` pixels.

    The region stays inside the image: where the uniform scale would overflow one side, that side
    is squeezed and the other stretched so the area is kept.
    """
    fill, box_w, box_h = max(fill, 1e-6), max(box_w, 1e-6), max(box_h, 1e-6)
    max_x, max_y = _FILL * width / box_w, _FILL * height / box_h
    ratio = target / fill  # the product sx * sy that reaches the target area
    sx = sy = float(np.sqrt(ratio))
    if sx > max_x:
        sx, sy = max_x, min(ratio / max_x, max_y)
    elif sy > max_y:
        sx, sy = min(ratio / max_y, max_x), max_y
    return sx, sy


def _blob(rng: np.random.Generator) -> np.ndarray:
    """A smooth closed outline: a circle whose radius is a random low-frequency Fourier series."""
    angles = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    radius = np.ones_like(angles)
    for k in range(1, 6):
        radius += rng.uniform(0, 0.35 / k) * np.cos(k * angles + rng.uniform(0, 2 * np.pi))
    radius = np.maximum(radius, 0.2)
    return np.stack((radius * np.cos(angles), radius * np.sin(angles)), axis=1)


def _polygon(rng: np.random.Generator) -> np.ndarray:
    """A star-shaped polygon of 3 to 9 straight sides, like a building, a sign or a rock."""
    count = int(rng.integers(3, 10))
    # Jittered even spacing keeps every gap below half a turn, so the polygon never degenerates to a sliver.
    angles = (np.arange(count) + rng.uniform(-0.3, 0.3, count)) * (2 * np.pi / count) + rng.uniform(0, 2 * np.pi)
    radius = rng.uniform(0.6, 1.0, count)
    return np.stack((radius * np.cos(angles), radius * np.sin(angles)), axis=1)


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _finish(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Soften edges to a pixel or two and guarantee the mask is neither empty nor full."""
    mask = cv2.GaussianBlur(canvas, (0, 0), _EDGE_SIGMA)
    np.clip(mask, 0.0, 1.0, out=mask)
    height, width = mask.shape
    if mask.max() < 0.5:  # too small to show: a dot at a random place
        y, x = int(rng.integers(height)), int(rng.integers(width))
        mask[y, x] = 1.0
    if mask.min() > 0.5:  # covers everything: clear a border strip
        mask[:, : max(1, width // 8)] = 0.0
    return mask
