"""Photos read once at the scale training needs.

Training crops 60-100% of a photo's shorter side and resizes the crop to the working size, so a
camera-size photo carries far more pixels than any sample uses, and decoding it is most of a
sample's cost. Both the prepared cache (:mod:`trainer.prepare`) and the dataset's in-memory cache
keep photos with their shorter side at ``MARGIN`` times the working size.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engine.imageio import LoadedImage, read_image

# Crops of at least 1 / MARGIN of the shorter side (the middle of the 60-100% range and above)
# are never enlarged; the smallest crops are enlarged by 1 / (0.6 * MARGIN), a third.
MARGIN = 1.25
MEMORY_BYTES = 512 * 1024**2  # per process; photos beyond it are read from disk every time


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """``(width, height)`` scaled down so that the shorter side is ``short_side``; never enlarged."""
    scale = short_side / min(width, height)
    if scale >= 1.0:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def scale_image(image: LoadedImage, short_side: int) -> LoadedImage:
    """``image`` (and its alpha) scaled down to ``short_side`` with area averaging; never enlarged."""
    height, width = image.rgb.shape[:2]
    size = scaled_size(width, height, short_side)
    if size == (width, height):
        return image
    rgb = cv2.resize(image.rgb, size, interpolation=cv2.INTER_AREA)
    alpha = None if image.alpha is None else cv2.resize(image.alpha, size, interpolation=cv2.INTER_AREA)
    return LoadedImage(np.ascontiguousarray(rgb), alpha, image.source)


class PhotoCache:
    """Decoded photos scaled for a working size, kept in memory up to ``limit`` bytes."""

    def __init__(self, working_size: int, limit: int = MEMORY_BYTES) -> None:
        self.short_side = round(working_size * MARGIN)
        self.limit = limit
        self._images: dict[str, LoadedImage] = {}
        self._bytes = 0

    def load(self, path: Path) -> LoadedImage:
        """The photo at ``path``, scaled; decoded from disk only the first time while memory lasts."""
        key = str(path)
        cached = self._images.get(key)
        if cached is not None:
            return cached
        image = scale_image(read_image(path), self.short_side)
        size = image.rgb.nbytes + (0 if image.alpha is None else image.alpha.nbytes)
        if self._bytes + size <= self.limit:
            self._images[key] = image
            self._bytes += size
        return image
