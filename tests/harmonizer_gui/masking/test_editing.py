"""Touching up the mask on the canvas: brush, eraser, menu operations, GrabCut with marks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from harmonizer_gui.services.editor_state import Tool


def _distance_to_segment(shape: tuple[int, int], p0: tuple[float, float], p1: tuple[float, float]) -> np.ndarray:
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5
    d = np.subtract(p1, p0)
    t = np.clip(((xs - p0[0]) * d[0] + (ys - p0[1]) * d[1]) / (d @ d), 0, 1)
    return np.hypot(xs - (p0[0] + t * d[0]), ys - (p0[1] + t * d[1]))


def test_a_brush_stroke_paints_only_along_its_path_and_undoes_exactly(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    driver.key(Qt.Key.Key_B)
    assert win.state.tool is Tool.BRUSH
    win.state.set_brush_size(4)  # background pixels; the layer is scaled 1.2, so radius 1.67 layer pixels
    before = win.document.layer.mask.copy()
    depth = win.undo_stack.count()
    driver.drag(driver.layer_point(3, 3), driver.layer_point(15, 3), steps=6)
    after = win.document.layer.mask.copy()
    changed = after != before
    assert changed.sum() > 20
    reach = _distance_to_segment(after.shape, (3, 3), (15, 3))
    assert reach[changed].max() < 2.0 / 1.2 + 1.5  # nothing changed away from the stroke
    assert (after >= before).all()  # the brush only adds
    assert win.undo_stack.count() == depth + 1 and win.undo_stack.undoText() == "Paint Mask"
    win.undo_stack.undo()
    assert np.array_equal(win.document.layer.mask, before)
    win.undo_stack.redo()
    assert np.array_equal(win.document.layer.mask, after)


def test_the_eraser_removes_and_brush_keys_resize(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    driver.key(Qt.Key.Key_E)
    assert win.state.tool is Tool.ERASER
    size = win.state.brush_size
    driver.key(Qt.Key.Key_BracketRight)
    assert win.state.brush_size > size
    driver.key(Qt.Key.Key_BracketLeft)
    driver.key(Qt.Key.Key_BracketLeft)
    assert win.state.brush_size < size
    assert win.tool_controls.size.value() == win.state.brush_size  # the toolbar follows
    win.tool_controls.size.setValue(6)  # and the state follows the toolbar
    assert win.state.brush_size == 6
    before = win.document.layer.mask.copy()
    driver.drag(driver.layer_point(10, 15), driver.layer_point(30, 15))
    after = win.document.layer.mask
    assert after[15, 20] == 0.0 and before[15, 20] == 1.0
    assert (after <= before).all()
    assert np.array_equal(after[:8], before[:8])


def test_mask_menu_operations_are_undoable(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    original = win.document.layer.mask.copy()
    win.actions.invert.trigger()
    assert np.allclose(win.document.layer.mask, 1 - original)
    win.actions.clear.trigger()
    assert not win.document.layer.mask.any()
    win.actions.fill.trigger()
    assert win.document.layer.mask.min() == 1.0
    win.actions.reset_mask.trigger()
    assert np.array_equal(win.document.layer.mask, original)
    win.state.set_feather_radius(4)
    win.actions.feather.trigger()
    soft = win.document.layer.mask
    assert 0.05 < soft[15, 3] < 0.95 and soft[15, 20] == pytest.approx(1.0, abs=1e-3)
    for _ in range(5):
        win.undo_stack.undo()
    assert np.array_equal(win.document.layer.mask, original)


def test_overlay_shows_what_the_mask_leaves_out(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    image = win.canvas.layer_item.image("harmonized")
    assert image.pixelColor(1, 1).alpha() == 0  # outside the cut-out's alpha: invisible
    driver.key(Qt.Key.Key_O)
    assert win.state.show_overlay and win.actions.overlay.isChecked()
    tinted = win.canvas.layer_item.image("harmonized").pixelColor(1, 1)
    assert tinted.alpha() > 100 and tinted.red() > tinted.green()


def test_the_overlay_hides_the_junk_colours_of_fully_transparent_pixels(driver, tmp_path: Path) -> None:  # noqa: ANN001
    rgb = np.full((30, 40, 3), 90, np.uint8)
    rgb[::4, ::4] = (255, 255, 0)  # blocky junk where the alpha is zero, as some editors leave it
    rgb[2::4, 1::4] = (0, 0, 255)
    alpha = np.zeros((30, 40), np.uint8)
    alpha[10:20, 12:28] = 255
    path = tmp_path / "junk-cutout.png"
    cv2.imwrite(str(path), np.dstack([rgb[..., ::-1], alpha]))
    driver.drop_and_wait(driver.images["background"])
    driver.drop_and_wait(path, x_fraction=0.75)
    driver.key(Qt.Key.Key_O)
    image = driver.win.canvas.layer_item.image("plain")
    outside = [image.pixelColor(x, y) for y in range(0, 8) for x in range(40)]
    assert len({(c.red(), c.green(), c.blue(), c.alpha()) for c in outside}) == 1  # one even red tint


@pytest.fixture
def disc_foreground(tmp_path: Path) -> Path:
    """A photo-like foreground without alpha: a red disc on green."""
    rng = np.random.default_rng(3)
    image = np.clip(rng.normal(70, 10, (60, 80, 3)), 0, 255).astype(np.uint8)
    image[..., 1] += 70
    cv2.circle(image, (40, 30), 18, (40, 50, 230), -1)  # BGR: red
    cv2.rectangle(image, (64, 24), (74, 36), (230, 60, 40), -1)  # a blue block beside it
    path = tmp_path / "disc.png"
    cv2.imwrite(str(path), image)
    return path


def test_grabcut_finds_the_object_and_marks_refine_it(driver, disc_foreground: Path) -> None:  # noqa: ANN001
    driver.drop_and_wait(driver.images["background"])
    driver.drop_and_wait(disc_foreground, x_fraction=0.75)
    win = driver.win
    assert win.document.layer.mask.min() == 1.0  # no alpha: the whole layer
    with driver.qtbot.waitSignal(win.grabcutDone, timeout=10_000):
        win.actions.grabcut.trigger()
    mask = win.document.layer.mask
    assert mask[30, 40] == 1.0 and mask[3, 3] == 0.0 and mask[30, 69] == 1.0
    driver.key(Qt.Key.Key_G)  # mark background
    assert win.state.tool is Tool.MARK_BACKGROUND and win.state.show_overlay
    win.state.set_brush_size(3)
    with driver.qtbot.waitSignal(win.grabcutDone, timeout=10_000):
        driver.drag(driver.layer_point(66, 30), driver.layer_point(73, 30))
    assert win.document.layer.hints[30, 70] == 2
    mask = win.document.layer.mask
    assert mask[30, 69] == 0.0 and mask[30, 40] == 1.0
    win.undo_stack.undo()  # the refined mask
    assert win.document.layer.mask[30, 69] == 1.0


def test_a_cleared_mask_is_said_once_in_the_status_bar(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win, bar = driver.win, driver.win.statusBar()

    def preview_after(edit) -> None:  # noqa: ANN001
        with driver.qtbot.waitSignal(win.previewShown, timeout=10_000):
            edit()

    assert "mask" not in bar.currentMessage()
    preview_after(win.actions.clear.trigger)
    assert "The mask is empty" in bar.currentMessage()
    bar.clearMessage()
    preview_after(lambda: win.document.set_strength(0.5))
    assert bar.currentMessage() == ""  # not repeated on every preview
    preview_after(win.undo_stack.undo)
    preview_after(win.actions.clear.trigger)
    assert "The mask is empty" in bar.currentMessage()
