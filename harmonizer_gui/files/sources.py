"""Where images come from: files, drops and the clipboard, all turned into ``LoadedImage``.

Files are decoded by the engine (EXIF rotation, 16-bit, CMYK, grey, size limits). Image data in
the clipboard or a drop arrives as a QImage and is converted here, alpha and 16-bit kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QImage

from engine.imageio import ImageReadError, LoadedImage, read_image

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp);;All files (*)"
_DEEP_FORMATS = {
    QImage.Format.Format_RGBA64,
    QImage.Format.Format_RGBX64,
    QImage.Format.Format_RGBA64_Premultiplied,
    QImage.Format.Format_Grayscale16,
}


@dataclass(frozen=True)
class ImageSource:
    """Something to load: a file path, or image data already in memory."""

    path: str | None = None
    image: QImage | None = None

    @property
    def name(self) -> str:
        return self.path or "<clipboard>"


def load(source: ImageSource) -> LoadedImage:
    """Decode a source (safe to call off the UI thread).

    Raises:
        ImageReadError: unreadable, not an image, or too large.
    """
    if source.path is not None:
        return read_image(source.path)
    if source.image is None or source.image.isNull():
        raise ImageReadError("cannot read the pasted data: it holds no image")
    return image_from_qimage(source.image)


def image_from_qimage(image: QImage, name: str = "<clipboard>") -> LoadedImage:
    """Convert a QImage into RGB (+ alpha when it has one), 16-bit when the QImage is."""
    if image.isNull():
        raise ImageReadError(f"cannot read {name}: it holds no image")
    deep = image.format() in _DEEP_FORMATS
    has_alpha = image.hasAlphaChannel()
    target = QImage.Format.Format_RGBA64 if deep else QImage.Format.Format_RGBA8888
    converted = image.convertToFormat(target)
    dtype = np.uint16 if deep else np.uint8
    height, width = converted.height(), converted.width()
    per_line = converted.bytesPerLine() // np.dtype(dtype).itemsize
    pixels = np.frombuffer(converted.constBits(), dtype).reshape(height, per_line)[:, : width * 4].reshape(height, width, 4)
    rgb = np.ascontiguousarray(pixels[:, :, :3])
    alpha = np.ascontiguousarray(pixels[:, :, 3]) if has_alpha else None
    return LoadedImage(rgb=rgb, alpha=alpha, source=name)


def sources_from_mime(mime: QMimeData | None) -> list[ImageSource]:
    """The images a drop or paste carries: local files first, else image data."""
    if mime is None:
        return []
    paths = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
    if paths:
        return [ImageSource(path=path) for path in paths]
    if mime.hasImage():
        data = mime.imageData()
        if isinstance(data, QImage) and not data.isNull():
            return [ImageSource(image=data)]
    text = mime.text().strip() if mime.hasText() else ""
    if text.startswith("file://"):
        return [ImageSource(path=QUrl(line.strip()).toLocalFile()) for line in text.splitlines() if line.strip()]
    return []
