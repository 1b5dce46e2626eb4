"""Zooming keeps what you zoom toward in place: the point under the pointer (wheel) or the view's centre (keys)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QCursor, QWheelEvent
from PySide6.QtWidgets import QApplication

from tests.harmonizer_gui.conftest import make_background, write_rgb


def wheel(driver, position: QPointF, clicks: int) -> None:  # noqa: ANN001
    """Turn the wheel ``clicks`` notches (positive: away from the user, zoom in) at ``position``."""
    viewport = driver.viewport
    event = QWheelEvent(
        position,
        QPointF(viewport.mapToGlobal(position.toPoint())),
        QPoint(),
        QPoint(0, 120 * clicks),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewport, event)


def on_screen(canvas, scene_point: QPointF) -> QPointF:  # noqa: ANN001
    return canvas.viewportTransform().map(scene_point)


@pytest.mark.parametrize("where", [(0.3, 0.35), (0.7, 0.6)])
def test_the_wheel_keeps_the_point_under_the_pointer(driver, where: tuple[float, float]) -> None:  # noqa: ANN001
    driver.load_both()
    canvas = driver.win.canvas
    pointer = QPointF(driver.viewport.width() * where[0], driver.viewport.height() * where[1])
    assert canvas.background_item.boundingRect().contains(canvas.viewportTransform().inverted()[0].map(pointer))
    for clicks in (1, 2, 3, -1, -2, 1):
        zoom, target = canvas.zoom, canvas.viewportTransform().inverted()[0].map(pointer)
        wheel(driver, pointer, clicks)
        assert canvas.zoom == pytest.approx(zoom * 1.15**clicks)
        moved = on_screen(canvas, target) - pointer
        assert abs(moved.x()) <= 1.0 and abs(moved.y()) <= 1.0, (clicks, moved)


def test_zoom_keys_keep_the_view_centre(driver, tmp_path) -> None:  # noqa: ANN001
    driver.drop_and_wait(write_rgb(tmp_path / "wide.png", make_background(1200, 800)))  # larger than the view at 100 %
    canvas = driver.win.canvas
    canvas.horizontalScrollBar().setValue(canvas.horizontalScrollBar().value() + 90)  # off the picture's centre
    canvas.verticalScrollBar().setValue(canvas.verticalScrollBar().value() - 50)
    centre = QRectF(driver.viewport.rect()).center()
    pointer = QPoint(driver.viewport.width() // 5, driver.viewport.height() // 4)  # the pointer rests on the canvas
    canvas.setAttribute(Qt.WidgetAttribute.WA_UnderMouse, True)
    QCursor.setPos(driver.viewport.mapToGlobal(pointer))
    driver.mouse(QEvent.Type.MouseMove, pointer, Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    for key in (Qt.Key.Key_Plus, Qt.Key.Key_Plus, Qt.Key.Key_Minus, Qt.Key.Key_1):
        zoom, target = canvas.zoom, canvas.viewportTransform().inverted()[0].map(centre)
        driver.key(key, Qt.KeyboardModifier.ControlModifier)
        assert canvas.zoom != pytest.approx(zoom)
        moved = on_screen(canvas, target) - centre
        assert abs(moved.x()) <= 1.0 and abs(moved.y()) <= 1.0, (key, moved)
