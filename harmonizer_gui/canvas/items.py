"""The canvas's graphics items: background, foreground layer, layer frame with handles, brush cursor.

Scene coordinates are full-resolution background pixels. Items hold display copies only (8-bit,
at most ``DISPLAY_MAX_SIDE`` large); the truth stays in the document.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPixmap, QPolygonF, QTransform
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from engine.box import Box
from harmonizer_gui.canvas.handles import HANDLE_SIZE, layer_frame
from harmonizer_gui.document.compose import LayerTransform, convert_depth, layer_matrix
from harmonizer_gui.document.document import HINT_BACKGROUND, HINT_FOREGROUND, Layer
from harmonizer_gui.document.render import DISPLAY_MAX_SIDE, to_display8
from harmonizer_gui.services.editor_state import ViewMode

_EXCLUDED_TINT = np.array([255, 40, 60], np.float32)  # quick-mask red over what the mask leaves out
_HINT_COLOURS = {HINT_FOREGROUND: np.array([40, 230, 90], np.float32), HINT_BACKGROUND: np.array([255, 60, 230], np.float32)}
_ACCENT = QColor(64, 156, 255)


def qimage_from_rgb(rgb8: np.ndarray) -> QImage:
    """A QImage owning a copy of ``(H, W, 3)`` uint8 RGB pixels."""
    rgb8 = np.ascontiguousarray(rgb8)
    height, width = rgb8.shape[:2]
    return QImage(rgb8.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def qtransform(matrix: np.ndarray) -> QTransform:
    """A 2x3 affine matrix as a QTransform (Qt's m31/m32 are the translation)."""
    return QTransform(matrix[0, 0], matrix[1, 0], matrix[0, 1], matrix[1, 1], matrix[0, 2], matrix[1, 2])


def _view_scale(painter: QPainter) -> float:
    transform = painter.worldTransform()
    return max(float(np.hypot(transform.m11(), transform.m12())), 1e-6)


class BackgroundItem(QGraphicsItem):
    """The background photo: a display copy, and the full resolution once zoomed in far enough."""

    def __init__(self) -> None:
        super().__init__()
        self._rgb: np.ndarray | None = None
        self._display: QPixmap | None = None
        self._full: QPixmap | None = None
        self._size = (0, 0)
        self.setZValue(0)

    def set_image(self, rgb: np.ndarray | None) -> None:
        self.prepareGeometryChange()
        self._rgb, self._full = rgb, None
        if rgb is None:
            self._display, self._size = None, (0, 0)
        else:
            self._size = (rgb.shape[1], rgb.shape[0])
            self._display = QPixmap.fromImage(qimage_from_rgb(to_display8(rgb, DISPLAY_MAX_SIDE)))
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, *self._size)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self._display is None or self._rgb is None:
            return
        pixmap = self._display
        if _view_scale(painter) * self._size[0] > 1.25 * pixmap.width():
            if self._full is None:
                self._full = QPixmap.fromImage(qimage_from_rgb(convert_depth(self._rgb, np.uint8)))
            pixmap = self._full
        painter.drawPixmap(self.boundingRect(), pixmap, QRectF(pixmap.rect()))


def layer_pixels(rgb: np.ndarray, mask: np.ndarray, hints: np.ndarray | None, overlay: bool) -> np.ndarray:
    """Premultiplied BGRA display pixels of a layer region (Qt's ARGB32_Premultiplied in memory).

    With ``overlay`` the parts the mask leaves out stay visible, tinted red, and GrabCut marks show.
    """
    colour = rgb.astype(np.float32)
    alpha = mask.astype(np.float32)[..., None]
    if overlay:
        tinted = colour * 0.45 + _EXCLUDED_TINT * 0.55
        colour = colour * alpha + tinted * (1.0 - alpha)
        alpha = alpha + (1.0 - alpha) * 0.6
        if hints is not None:
            for value, tint in _HINT_COLOURS.items():
                marked = (hints == value)[..., None]
                colour = np.where(marked, colour * 0.3 + tint * 0.7, colour)
                alpha = np.where(marked, np.maximum(alpha, 0.9), alpha)
    out = np.empty((*mask.shape, 4), np.uint8)
    out[..., 2::-1] = np.rint(colour * alpha).astype(np.uint8)
    out[..., 3] = np.rint(alpha[..., 0] * 255.0).astype(np.uint8)
    return out


class LayerItem(QGraphicsItem):
    """The foreground layer as it looks: plain, harmonized, or split at a scene x coordinate."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(1)
        self._layer: Layer | None = None
        self._texture: np.ndarray | None = None
        self._mask: np.ndarray | None = None  # display-size mask
        self._hints: np.ndarray | None = None
        self._images: dict[str, QImage] = {}
        self._overlay = False
        self._mode = ViewMode.HARMONIZED
        self._split_x = 0.0

    # -- state ---------------------------------------------------------------------------
    def set_layer(self, layer: Layer | None) -> None:
        self.prepareGeometryChange()
        self._layer, self._texture = layer, None
        self._images = {}
        if layer is not None:
            height, width = layer.display_rgb.shape[:2]
            self._images = {
                key: QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied) for key in ("plain", "harmonized")
            }
            self.set_transform(layer.transform)
            self._refresh_mask(None)
            self._refresh_hints(None)
            self._redraw(None)
        self.update()

    def set_transform(self, transform: LayerTransform) -> None:
        if self._layer is not None:
            self.setTransform(qtransform(layer_matrix(transform, self._layer.size)))

    def set_texture(self, texture: np.ndarray | None) -> None:
        """The harmonized display pixels (see ``render.layer_texture``); None: not harmonized yet."""
        if self._layer is None or (texture is not None and texture.shape != self._layer.display_rgb.shape):
            return
        self._texture = texture
        self._redraw(None, keys=("harmonized",))

    @property
    def has_texture(self) -> bool:
        return self._texture is not None

    def set_overlay(self, overlay: bool) -> None:
        self._overlay = overlay
        self._redraw(None)

    def set_mode(self, mode: ViewMode, split_x: float) -> None:
        self._mode, self._split_x = mode, split_x
        self.update()

    def mask_changed(self, box: Box | None) -> None:
        display_box = self._refresh_mask(box)
        self._redraw(display_box)

    def hints_changed(self, box: Box | None) -> None:
        display_box = self._refresh_hints(box)
        if self._overlay:
            self._redraw(display_box)

    # -- display copies --------------------------------------------------------------------
    def _display_box(self, box: Box | None) -> Box:
        assert self._layer is not None
        d_h, d_w = self._layer.display_rgb.shape[:2]
        if box is None:
            return Box(0, 0, d_h, d_w)
        s_x, s_y = d_w / self._layer.size[0], d_h / self._layer.size[1]
        return Box(
            int(box.top * s_y),
            int(box.left * s_x),
            min(d_h, int(np.ceil(box.bottom * s_y))),
            min(d_w, int(np.ceil(box.right * s_x))),
        )

    def _downscaled(self, source: np.ndarray, box: Box, interpolation: int) -> np.ndarray:
        """The display-size pixels of ``box`` (display coordinates) from a full-size layer array."""
        assert self._layer is not None
        d_h, d_w = self._layer.display_rgb.shape[:2]
        if source.shape == (d_h, d_w):
            return source[box.top : box.bottom, box.left : box.right]
        s_x, s_y = self._layer.size[0] / d_w, self._layer.size[1] / d_h
        region = source[int(box.top * s_y) : int(np.ceil(box.bottom * s_y)), int(box.left * s_x) : int(np.ceil(box.right * s_x))]
        return cv2.resize(region, (box.width, box.height), interpolation=interpolation)

    def _refresh_mask(self, box: Box | None) -> Box:
        assert self._layer is not None
        display_box = self._display_box(box)
        if self._mask is None or box is None or self._mask.shape != self._layer.display_rgb.shape[:2]:
            self._mask = np.zeros(self._layer.display_rgb.shape[:2], np.float32)
            display_box = self._display_box(None)
        self._mask[display_box.top : display_box.bottom, display_box.left : display_box.right] = self._downscaled(
            self._layer.mask, display_box, cv2.INTER_AREA
        )
        return display_box

    def _refresh_hints(self, box: Box | None) -> Box:
        assert self._layer is not None
        display_box = self._display_box(box)
        if self._layer.hints is None:
            self._hints = None
            return display_box
        if self._hints is None or box is None:
            self._hints = np.zeros(self._layer.display_rgb.shape[:2], np.uint8)
            display_box = self._display_box(None)
        region = (slice(display_box.top, display_box.bottom), slice(display_box.left, display_box.right))
        self._hints[region] = self._downscaled(self._layer.hints, display_box, cv2.INTER_NEAREST)
        return display_box

    def _redraw(self, box: Box | None, keys: tuple[str, ...] = ("plain", "harmonized")) -> None:
        if self._layer is None or self._mask is None:
            return
        box = box or self._display_box(None)
        if box.width <= 0 or box.height <= 0:
            return
        region = (slice(box.top, box.bottom), slice(box.left, box.right))
        hints = None if self._hints is None else self._hints[region]
        for key in keys:
            source = self._texture if key == "harmonized" and self._texture is not None else self._layer.display_rgb
            pixels = layer_pixels(source[region], self._mask[region], hints, self._overlay)
            image = self._images[key]
            view = np.frombuffer(image.bits(), np.uint8).reshape(image.height(), image.bytesPerLine())
            view[region[0], box.left * 4 : box.right * 4] = pixels.reshape(box.height, box.width * 4)
        self.update()

    # -- painting ---------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        if self._layer is None:
            return QRectF()
        return QRectF(0, 0, *self._layer.size)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self._layer is None:
            return
        target = self.boundingRect()
        plain, harmonized = self._images["plain"], self._images["harmonized"]
        if self._mode is ViewMode.ORIGINAL:
            painter.drawImage(target, plain, QRectF(plain.rect()))
            return
        if self._mode is ViewMode.HARMONIZED:
            painter.drawImage(target, harmonized, QRectF(harmonized.rect()))
            return
        far = 1e7
        for image, scene_rect in (
            (plain, QRectF(-far, -far, far + self._split_x, 2 * far)),
            (harmonized, QRectF(self._split_x, -far, far, 2 * far)),
        ):
            painter.save()
            path = QPainterPath()
            path.addPolygon(self.mapFromScene(scene_rect))
            painter.setClipPath(path, Qt.ClipOperation.IntersectClip)
            painter.drawImage(target, image, QRectF(image.rect()))
            painter.restore()

    def image(self, key: str) -> QImage | None:
        """The display image ``plain`` or ``harmonized`` (for tests and screenshots)."""
        return self._images.get(key)


class FrameItem(QGraphicsItem):
    """The layer's outline, corner handles (scale) and top handle (rotate), in scene coordinates."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(5)
        self._transform: LayerTransform | None = None
        self._size = (0, 0)
        self._view_scale = 1.0
        self._handles = True

    def set_layer(self, transform: LayerTransform | None, size: tuple[int, int]) -> None:
        self.prepareGeometryChange()
        self._transform, self._size = transform, size
        self.update()

    def set_view_scale(self, scale: float) -> None:
        self.prepareGeometryChange()
        self._view_scale = max(scale, 1e-6)

    def set_handles_visible(self, visible: bool) -> None:
        self._handles = visible
        self.update()

    def boundingRect(self) -> QRectF:
        if self._transform is None:
            return QRectF()
        frame = layer_frame(self._transform, self._size, self._view_scale)
        points = np.vstack([frame.corners, frame.rotate_handle])
        pad = (HANDLE_SIZE + 4) / self._view_scale
        low, high = points.min(axis=0) - pad, points.max(axis=0) + pad
        return QRectF(low[0], low[1], high[0] - low[0], high[1] - low[1])

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self._transform is None:
            return
        scale = _view_scale(painter)
        frame = layer_frame(self._transform, self._size, scale)
        outline = QPolygonF([QPointF(*corner) for corner in frame.corners])
        painter.setBrush(Qt.BrushStyle.NoBrush)
        dark = QPen(QColor(0, 0, 0, 150), 3)
        dark.setCosmetic(True)
        painter.setPen(dark)
        painter.drawPolygon(outline)
        light = QPen(_ACCENT, 1.3 if self._handles else 1.0, Qt.PenStyle.SolidLine if self._handles else Qt.PenStyle.DashLine)
        light.setCosmetic(True)
        painter.setPen(light)
        painter.drawPolygon(outline)
        if not self._handles:
            return
        painter.drawLine(QPointF(*frame.top_middle), QPointF(*frame.rotate_handle))
        painter.setBrush(QBrush(QColor(255, 255, 255)))
        half = HANDLE_SIZE / 2.0 / scale
        for corner in frame.corners:
            painter.drawRect(QRectF(corner[0] - half, corner[1] - half, 2 * half, 2 * half))
        painter.drawEllipse(QPointF(*frame.rotate_handle), half * 1.1, half * 1.1)


class BrushCursorItem(QGraphicsItem):
    """A circle showing the brush's size where the pointer is; readable on light and dark pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(10)
        self._radius = 10.0
        self.setVisible(False)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_radius(self, radius: float) -> None:
        self.prepareGeometryChange()
        self._radius = max(radius, 0.5)

    def boundingRect(self) -> QRectF:
        r = self._radius + 2
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for colour, width in ((QColor(0, 0, 0, 170), 3.0), (QColor(255, 255, 255), 1.2)):
            pen = QPen(colour, width)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawEllipse(QPointF(0, 0), self._radius, self._radius)
