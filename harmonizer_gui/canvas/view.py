"""The canvas: a QGraphicsView that mirrors the document and turns mouse input into commands.

Move tool: drag the layer to move it, a corner to scale it, the top handle to rotate it (Shift
snaps to 15 degrees); drag elsewhere, or with the middle button, to pan. Painting tools: drag over
the layer. The wheel zooms about the pointer, the zoom keys about the view's centre. Dropped files
go to the background or the foreground depending on where in the view they are dropped (the zones
show while dragging).
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QMouseEvent,
    QPainter,
    QPen,
    QResizeEvent,
    QUndoStack,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsScene, QGraphicsView, QWidget

from harmonizer_gui.canvas.items import BackgroundItem, BrushCursorItem, FrameItem, LayerItem
from harmonizer_gui.document.commands import Gesture, TransformCommand
from harmonizer_gui.document.compose import LayerTransform
from harmonizer_gui.document.document import Document
from harmonizer_gui.services.editor_state import EditorState, Tool, ViewMode
from harmonizer_gui.canvas.handles import Part, dragged, hit_test
from harmonizer_gui.canvas.painting import Stroke

MIN_ZOOM, MAX_ZOOM = 0.01, 32.0
BACKGROUND_ZONE = 1 / 3  # left part of the view where a drop replaces the background
_SPLIT_GRAB = 6  # screen pixels
_PART_TEXT = {Part.BODY: "Move Layer", Part.CORNER: "Scale Layer", Part.ROTATE: "Rotate Layer"}
_PART_CURSOR = {
    Part.BODY: Qt.CursorShape.SizeAllCursor,
    Part.CORNER: Qt.CursorShape.SizeFDiagCursor,
    Part.ROTATE: Qt.CursorShape.PointingHandCursor,
}


def drop_has_image(mime: QMimeData) -> bool:
    return mime.hasImage() or any(url.isLocalFile() for url in mime.urls())


class Canvas(QGraphicsView):
    """Signals:
    dropped(QMimeData, str): image data dropped for ``"background"`` or ``"foreground"``.
    zoomChanged(float): screen pixels per background pixel.
    strokeFinished(Tool): a painting drag ended (GrabCut refines after marking strokes).
    """

    dropped = Signal(object, str)
    zoomChanged = Signal(float)
    strokeFinished = Signal(object)

    def __init__(self, document: Document, state: EditorState, undo_stack: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._document, self._state, self._stack = document, state, undo_stack
        self.setScene(QGraphicsScene(self))
        self.background_item, self.layer_item = BackgroundItem(), LayerItem()
        self.frame_item, self.cursor_item = FrameItem(), BrushCursorItem()
        for item in (self.background_item, self.layer_item, self.frame_item, self.cursor_item):
            self.scene().addItem(item)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # set_zoom keeps its own anchor
        self.setBackgroundBrush(QColor(38, 38, 40))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self._drag: tuple[Part, LayerTransform, QPointF, Gesture] | None = None
        self._stroke: Stroke | None = None
        self._pan_from: QPoint | None = None
        self._split_drag = False
        self._drop_role: str | None = None
        self._fitted = False
        self._connect()
        self._sync_all()

    def _connect(self) -> None:
        doc, state = self._document, self._state
        doc.backgroundChanged.connect(self._on_background)
        doc.layerChanged.connect(self._on_layer)
        doc.transformChanged.connect(self._on_transform)
        doc.maskChanged.connect(self.layer_item.mask_changed)
        doc.hintsChanged.connect(self.layer_item.hints_changed)
        state.overlayChanged.connect(self.layer_item.set_overlay)
        state.viewModeChanged.connect(lambda _mode: self._sync_mode())
        state.splitChanged.connect(lambda _split: self._sync_mode())
        state.toolChanged.connect(lambda _tool: self._sync_tool())
        state.brushSizeChanged.connect(lambda _size: self._sync_tool())

    # -- following the document -------------------------------------------------------------
    def _sync_all(self) -> None:
        self._on_background()
        self._on_layer()
        self._sync_tool()

    def _on_background(self) -> None:
        background = self._document.background
        old_size = self.background_item.boundingRect().size()
        self.background_item.set_image(None if background is None else background.rgb)
        self._update_scene_rect()
        self._sync_mode()
        if background is not None and self.background_item.boundingRect().size() != old_size:
            self.fit()
        self.viewport().update()

    def _on_layer(self) -> None:
        layer = self._document.layer
        self.layer_item.set_overlay(self._state.show_overlay)  # before set_layer: one redraw, not two
        self.layer_item.set_layer(layer)
        self.frame_item.set_layer(layer.transform if layer else None, layer.size if layer else (0, 0))
        self._update_scene_rect()
        self._sync_mode()
        if layer is not None and self._document.background is None:
            self.fit()

    def _on_transform(self) -> None:
        layer = self._document.layer
        if layer is not None:
            self.layer_item.set_transform(layer.transform)
            self.frame_item.set_layer(layer.transform, layer.size)

    def _sync_mode(self) -> None:
        size = self._document.background_size
        split_x = self._state.split * (size[0] if size else 0)
        self.layer_item.set_mode(self._state.view_mode, split_x)
        self.viewport().update()

    def _sync_tool(self) -> None:
        tool = self._state.tool
        self.frame_item.set_handles_visible(tool is Tool.MOVE)
        self.cursor_item.set_radius(self._state.brush_size / 2.0)
        self.cursor_item.setVisible(tool.paints and self.cursor_item.isVisible())
        self.viewport().setCursor(Qt.CursorShape.CrossCursor if tool.paints else Qt.CursorShape.ArrowCursor)

    def _content_rect(self) -> QRectF:
        if self._document.background is not None:
            return self.background_item.boundingRect()
        return self.layer_item.mapRectToScene(self.layer_item.boundingRect())

    def _update_scene_rect(self) -> None:
        rect = self._content_rect()
        if rect.isEmpty():
            self.setSceneRect(QRectF(0, 0, 1, 1))
            return
        margin = max(rect.width(), rect.height())
        self.setSceneRect(rect.adjusted(-margin, -margin, margin, margin))

    # -- zoom -----------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return float(self.transform().m11())

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom to ``zoom`` screen pixels per background pixel, keeping the picture's point under
        the viewport position ``anchor`` (default: the view's centre) where it is on screen."""
        self._fitted = False
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        if anchor is None:
            anchor = QRectF(self.viewport().rect()).center()
        fixed = self.viewportTransform().inverted()[0].map(anchor)
        self.setTransform(self.transform().fromScale(zoom, zoom))
        drift = self.viewportTransform().map(fixed) - anchor
        for bar, offset in ((self.horizontalScrollBar(), drift.x()), (self.verticalScrollBar(), drift.y())):
            bar.setValue(bar.value() + round(offset))
        self._zoom_changed()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        self.set_zoom(self.zoom * factor, anchor)

    def fit(self) -> None:
        """Fit the background (or the lone layer) into the window."""
        rect = self._content_rect()
        if rect.isEmpty():
            return
        margin = 0.03 * max(rect.width(), rect.height())
        self.fitInView(rect.adjusted(-margin, -margin, margin, margin), Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True  # stays fitted as the window is resized, until the user zooms
        self._zoom_changed()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    def _zoom_changed(self) -> None:
        self.frame_item.set_view_scale(self.zoom)
        self.zoomChanged.emit(self.zoom)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.15**steps, event.position())
        event.accept()

    # -- mouse ----------------------------------------------------------------------------
    def _scene_point(self, event: QMouseEvent) -> QPointF:
        return self.mapToScene(event.position().toPoint())

    def _near_split(self, event: QMouseEvent) -> bool:
        size = self._document.background_size
        if self._state.view_mode is not ViewMode.SPLIT or size is None:
            return False
        x = self.mapFromScene(QPointF(self._state.split * size[0], 0)).x()
        return abs(event.position().x() - x) <= _SPLIT_GRAB

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            self._pan_from = event.position().toPoint()
        elif event.button() == Qt.MouseButton.LeftButton:
            self._press_left(event)
        event.accept()

    def _press_left(self, event: QMouseEvent) -> None:
        point = self._scene_point(event)
        layer = self._document.layer
        if self._near_split(event):
            self._split_drag = True
            return
        if self._state.tool.paints:
            if layer is not None:
                self._stroke = Stroke(self._document, self._state, self._stack, (point.x(), point.y()))
            return
        part = None if layer is None else hit_test(layer.transform, layer.size, (point.x(), point.y()), self.zoom)
        if part is None:
            self._pan_from = event.position().toPoint()
        else:
            assert layer is not None
            self._drag = (part, layer.transform, point, Gesture())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        point = self._scene_point(event)
        self.cursor_item.setPos(point)
        self.cursor_item.setVisible(self._state.tool.paints and self._document.layer is not None)
        if self._pan_from is not None:
            self._fitted = False
            delta = event.position().toPoint() - self._pan_from
            self._pan_from = event.position().toPoint()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
        elif self._split_drag:
            size = self._document.background_size
            if size:
                self._state.set_split(point.x() / size[0])
        elif self._stroke is not None:
            self._stroke.extend((point.x(), point.y()))
        elif self._drag is not None:
            self._continue_drag(event, point)
        else:
            self._update_hover_cursor(event, point)
        event.accept()

    def _continue_drag(self, event: QMouseEvent, point: QPointF) -> None:
        assert self._drag is not None and self._document.layer is not None
        part, start, start_point, gesture = self._drag
        snap = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        new = dragged(part, start, (start_point.x(), start_point.y()), (point.x(), point.y()), snap)
        if new != self._document.layer.transform:
            self._stack.push(TransformCommand(self._document, new, _PART_TEXT[part], gesture))

    def _update_hover_cursor(self, event: QMouseEvent, point: QPointF) -> None:
        if self._state.tool.paints:
            return
        layer = self._document.layer
        part = None if layer is None else hit_test(layer.transform, layer.size, (point.x(), point.y()), self.zoom)
        if self._near_split(event):
            self.viewport().setCursor(Qt.CursorShape.SplitHCursor)
        else:
            self.viewport().setCursor(_PART_CURSOR.get(part, Qt.CursorShape.ArrowCursor) if part else Qt.CursorShape.ArrowCursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._stroke is not None and event.button() == Qt.MouseButton.LeftButton:
            changed, self._stroke = self._stroke.changed, None
            if changed:
                self.strokeFinished.emit(self._state.tool)
        self._drag, self._pan_from, self._split_drag = None, None, False
        event.accept()

    def leaveEvent(self, event) -> None:  # noqa: ANN001 - QEvent
        self.cursor_item.setVisible(False)
        super().leaveEvent(event)

    # -- drag and drop --------------------------------------------------------------------
    def drop_role_at(self, x: float) -> str:
        """Where a drop at viewport ``x`` goes: always the background while there is none;
        otherwise the left third replaces the background and the rest is the foreground."""
        if self._document.background is None:
            return "background"
        return "background" if x < self.viewport().width() * BACKGROUND_ZONE else "foreground"

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if drop_has_image(event.mimeData()):
            self._drop_role = self.drop_role_at(event.position().x())
            event.acceptProposedAction()
            self.viewport().update()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if drop_has_image(event.mimeData()):
            role = self.drop_role_at(event.position().x())
            if role != self._drop_role:
                self._drop_role = role
                self.viewport().update()
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self._drop_role = None
        self.viewport().update()

    def dropEvent(self, event: QDropEvent) -> None:
        self._drop_role = None
        self.viewport().update()
        if not drop_has_image(event.mimeData()):
            event.ignore()
            return
        event.acceptProposedAction()
        self.dropped.emit(event.mimeData(), self.drop_role_at(event.position().x()))

    # -- overlays in screen space -----------------------------------------------------------
    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        painter.save()
        painter.resetTransform()
        if self._document.background is None and self._document.layer is None and self._drop_role is None:
            self._draw_empty_hint(painter)
        if self._state.view_mode is ViewMode.SPLIT and self._document.background is not None:
            self._draw_split(painter)
        if self._state.view_mode is ViewMode.ORIGINAL and self._document.background is not None:
            self._draw_badge(painter, "Original (Space: harmonized)", 10.0)
        if self._drop_role is not None:
            self._draw_drop_zones(painter)
        painter.restore()

    def _draw_empty_hint(self, painter: QPainter) -> None:
        area = QRectF(self.viewport().rect()).adjusted(40, 40, -40, -40)
        pen = QPen(QColor(120, 120, 128), 2, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(area, 14, 14)
        font = QFont(painter.font())
        font.setPointSizeF(font.pointSizeF() * 1.6)
        painter.setFont(font)
        painter.setPen(QColor(200, 200, 205))
        text = "Drop a background photo here\n\nthen a cut-out to paste on it"
        painter.drawText(area.adjusted(0, -30, 0, -30), Qt.AlignmentFlag.AlignCenter, text)
        font.setPointSizeF(font.pointSizeF() / 1.6)
        painter.setFont(font)
        painter.setPen(QColor(150, 150, 158))
        hint = "or open with Ctrl+O (background) and Ctrl+Shift+O (foreground), or paste with Ctrl+V"
        painter.drawText(area.adjusted(0, 110, 0, 0), Qt.AlignmentFlag.AlignCenter, hint)

    def _draw_split(self, painter: QPainter) -> None:
        size = self._document.background_size
        assert size is not None
        x = self.mapFromScene(QPointF(self._state.split * size[0], 0)).x()
        height = self.viewport().height()
        painter.setPen(QPen(QColor(0, 0, 0, 140), 3))
        painter.drawLine(QPointF(x, 0), QPointF(x, height))
        painter.setPen(QPen(QColor(255, 255, 255), 1.5))
        painter.drawLine(QPointF(x, 0), QPointF(x, height))
        self._draw_badge(painter, "Original", x - 10, right_edge=True)
        self._draw_badge(painter, "Harmonized", x + 10)

    def _draw_badge(self, painter: QPainter, text: str, x: float, right_edge: bool = False) -> None:
        """A label on a dark box near the top of the view, starting (or ending) at viewport ``x``."""
        width = painter.fontMetrics().horizontalAdvance(text) + 24
        box = QRectF(x - width if right_edge else x, 10, width, 24)
        painter.fillRect(box, QColor(0, 0, 0, 150))
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _draw_drop_zones(self, painter: QPainter) -> None:
        width, height = self.viewport().width(), self.viewport().height()
        zones = [("background", QRectF(0, 0, width, height))]
        if self._document.background is not None:
            split = width * BACKGROUND_ZONE
            zones = [("background", QRectF(0, 0, split, height)), ("foreground", QRectF(split, 0, width - split, height))]
        font = QFont(painter.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        painter.setFont(font)
        for role, zone in zones:
            active = role == self._drop_role
            inner = zone.adjusted(8, 8, -8, -8)
            painter.fillRect(inner, QColor(64, 156, 255, 80) if active else QColor(20, 20, 24, 120))
            painter.setPen(QPen(QColor(64, 156, 255) if active else QColor(160, 160, 170), 2, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(inner)
            label = "Drop to paste as the foreground"
            if role == "background":
                label = (
                    "Drop to replace the background" if self._document.background is not None else "Drop to set the background"
                )
            box = painter.fontMetrics().boundingRect(label).adjusted(-16, -10, 16, 10)
            box.moveCenter(zone.center().toPoint())
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(64, 156, 255, 230) if active else QColor(0, 0, 0, 170))
            painter.drawRoundedRect(QRectF(box), 8, 8)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(QRectF(box), Qt.AlignmentFlag.AlignCenter, label)
