"""Placing the layer with the mouse (body, corner and rotation handles) and the keyboard; undo."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from harmonizer_gui.canvas.handles import layer_frame


def test_dragging_the_layer_moves_it_in_one_undo_step(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    start, zoom = win.document.layer.transform, win.canvas.zoom
    centre = driver.layer_point(20, 15)
    driver.drag(centre, centre + QPoint(65, -33), steps=8)
    moved = win.document.layer.transform
    assert moved.x - start.x == pytest.approx(65 / zoom, abs=0.6)
    assert moved.y - start.y == pytest.approx(-33 / zoom, abs=0.6)
    assert (moved.scale, moved.angle) == (start.scale, start.angle)
    assert win.undo_stack.undoText() == "Move Layer"
    win.undo_stack.undo()
    assert win.document.layer.transform == start
    win.undo_stack.redo()
    assert win.document.layer.transform == moved


def test_dragging_a_corner_scales_about_the_centre(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    start = win.document.layer.transform
    corner = driver.layer_point(40, 30)
    centre = driver.layer_point(20, 15)
    driver.drag(corner, centre + (corner - centre) * 1.5)
    scaled = win.document.layer.transform
    assert scaled.scale / start.scale == pytest.approx(1.5, rel=0.03)
    assert (scaled.x, scaled.y) == (start.x, start.y)
    assert win.undo_stack.undoText() == "Scale Layer"


def test_dragging_the_top_handle_rotates_and_shift_snaps(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    transform = win.document.layer.transform
    frame = layer_frame(transform, win.document.layer.size, win.canvas.zoom)
    handle = win.canvas.mapFromScene(QPointF(*frame.rotate_handle))
    centre = driver.scene_point(transform.x, transform.y)
    arm = centre.y() - handle.y()
    driver.drag(handle, QPoint(centre.x() + arm, centre.y()), steps=6)  # a quarter turn clockwise
    assert win.document.layer.transform.angle == pytest.approx(90, abs=1.5)
    win.undo_stack.undo()
    driver.drag(handle, QPoint(centre.x() + arm, centre.y() - arm // 3), modifier=Qt.KeyboardModifier.ShiftModifier)
    assert win.document.layer.transform.angle in (60.0, 75.0)


def test_dragging_off_the_layer_pans_instead_of_moving_it(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    start, zoom = win.document.layer.transform, win.canvas.zoom
    off_layer = driver.scene_point(6, 6)  # on the background, well away from the layer
    before = win.canvas.mapToScene(off_layer)
    driver.drag(off_layer, off_layer + QPoint(40, 0))
    assert win.document.layer.transform == start
    assert win.canvas.mapToScene(off_layer).x() == pytest.approx(before.x() - 40 / zoom, abs=0.3)


def test_keyboard_moves_scales_rotates_and_flips(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    start = win.document.layer.transform
    driver.key(Qt.Key.Key_Right)
    driver.key(Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    t = win.document.layer.transform
    assert (t.x - start.x, t.y - start.y) == (1, 10)
    driver.key(Qt.Key.Key_Plus)
    assert win.document.layer.transform.scale == pytest.approx(start.scale * 1.05)
    driver.key(Qt.Key.Key_Minus)
    driver.key(Qt.Key.Key_Minus)
    assert win.document.layer.transform.scale == pytest.approx(start.scale / 1.05)
    driver.key(Qt.Key.Key_R)
    driver.key(Qt.Key.Key_R)
    driver.key(Qt.Key.Key_R, Qt.KeyboardModifier.ShiftModifier)
    assert win.document.layer.transform.angle == pytest.approx(1.0)
    driver.key(Qt.Key.Key_H)
    assert win.document.layer.transform.flip is True
    for _ in range(9):
        win.undo_stack.undo()
    assert win.document.layer.transform == start


def test_undo_and_redo_shortcuts_and_view_actions(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    start = win.document.layer.transform
    driver.key(Qt.Key.Key_Left)
    driver.key(Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.document.layer.transform == start
    driver.key(Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert win.document.layer.transform.x == start.x - 1
    win.canvas.set_zoom(1.0)
    driver.key(Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)  # fit
    fitted = win.canvas.zoom
    assert fitted > 3  # a 120x80 picture fills a 900-pixel-wide window
    visible = win.canvas.mapToScene(win.canvas.viewport().rect()).boundingRect()
    assert visible.contains(win.canvas.background_item.boundingRect())
    win.actions.zoom_in.trigger()
    assert win.canvas.zoom == pytest.approx(fitted * 1.25)
