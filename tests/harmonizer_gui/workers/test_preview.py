"""The live preview: computed off the UI thread, newest wins, compare and strength."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, Qt, QTimer
from PySide6.QtWidgets import QApplication

from engine.harmonizer import ClassicalHarmonizer
from harmonizer_gui.workers import harmonize
from harmonizer_gui.services.editor_state import ViewMode


class SlowHarmonizer(ClassicalHarmonizer):
    """The classical transfer at the speed of a heavy model on a slow CPU."""

    delay = 0.5

    def predict_mapping(self, composite, mask):  # noqa: ANN001, ANN201
        time.sleep(self.delay)
        return super().predict_mapping(composite, mask)


@pytest.fixture
def slow_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harmonize, "load_harmonizer", lambda spec, device: SlowHarmonizer(name=spec))


def test_the_preview_recolours_inside_the_mask_only(driver) -> None:  # noqa: ANN001
    driver.load_both()
    result = driver.win.last_preview
    inside, outside = result.mask > 0.99, result.mask == 0
    assert inside.sum() > 500 and outside.sum() > 5000
    assert np.array_equal(result.harmonized[outside], result.composite[outside])
    assert np.abs(result.harmonized[inside].astype(int) - result.composite[inside]).mean() > 10
    assert result.harmonized.shape == (80, 120, 3)  # small backgrounds are previewed at full size
    assert "Preview:" in driver.win.status.latency.text() and "ms" in driver.win.status.latency.text()
    plain = driver.win.canvas.layer_item.image("plain").pixelColor(20, 15)
    harmonized = driver.win.canvas.layer_item.image("harmonized").pixelColor(20, 15)
    assert plain != harmonized  # the canvas paints the harmonized colours


def test_every_edit_re_harmonizes(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    first = win.last_preview
    with driver.qtbot.waitSignal(win.previewShown, timeout=10_000) as moved:
        centre = driver.layer_point(20, 15)
        driver.drag(centre, centre + QPoint(-60, 0))
    assert moved.args[0].request_id > first.request_id
    assert not np.array_equal(moved.args[0].mask, first.mask)
    driver.key(Qt.Key.Key_B)
    with driver.qtbot.waitSignal(win.previewShown, timeout=10_000) as painted:
        driver.drag(driver.layer_point(2, 2), driver.layer_point(38, 2))
    assert painted.args[0].mask.sum() > moved.args[0].mask.sum()


def test_a_burst_of_edits_shows_only_the_newest_and_the_ui_stays_responsive(slow_model, driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    shown: list[int] = []
    win.previewShown.connect(lambda result: shown.append(result.request_id))
    ticks = []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    renders_before = len(win.worker.rendered_ids)
    start = time.perf_counter()
    for _ in range(20):
        driver.key(Qt.Key.Key_Right)
        QApplication.processEvents()
    burst_seconds = time.perf_counter() - start
    newest = win._preview_id
    driver.qtbot.waitUntil(lambda: shown == [newest], timeout=10_000)
    timer.stop()
    assert burst_seconds < SlowHarmonizer.delay  # 20 edits took less time than one harmonization
    assert win.last_preview.request_id == newest
    assert len(win.worker.rendered_ids) - renders_before <= 3  # not 20: pending requests were replaced
    assert win.document.layer.transform.x == 60 + 20
    gaps = np.diff(ticks)
    assert len(ticks) >= 10 and gaps.max() < SlowHarmonizer.delay  # the event loop never waited on the model


def test_the_last_result_stays_visible_while_the_next_is_computed(slow_model, driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    before = win.canvas.layer_item.image("harmonized").pixelColor(20, 15)
    driver.key(Qt.Key.Key_Left)
    QApplication.processEvents()
    assert win.last_preview.request_id < win._preview_id  # the new one is still being computed
    assert win.canvas.layer_item.has_texture
    assert win.canvas.layer_item.image("harmonized").pixelColor(20, 15) == before
    driver.wait_preview()


def test_compare_toggle_and_split_view(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    assert win.state.view_mode is ViewMode.HARMONIZED
    driver.key(Qt.Key.Key_Space)
    assert win.state.view_mode is ViewMode.ORIGINAL and win.actions.compare.isChecked()
    assert win.canvas.layer_item._mode is ViewMode.ORIGINAL
    driver.key(Qt.Key.Key_Space)
    assert win.state.view_mode is ViewMode.HARMONIZED
    win.actions.split.trigger()
    assert win.state.view_mode is ViewMode.SPLIT
    shot = win.canvas.viewport().grab().toImage()  # the divider runs through the layer's middle
    item = win.canvas.layer_item

    def distance(a, b) -> int:  # noqa: ANN001
        return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue())

    for x, expected, other in ((8, "plain", "harmonized"), (32, "harmonized", "plain")):
        seen = shot.pixelColor(driver.layer_point(x + 0.5, 15.5))
        assert distance(seen, item.image(expected).pixelColor(x, 15)) < distance(seen, item.image(other).pixelColor(x, 15))
    divider = driver.scene_point(60, 10)
    driver.drag(divider, divider + QPoint(-100, 0))  # the divider follows the mouse, not the layer
    assert win.state.split == pytest.approx(0.5 - 100 / win.canvas.zoom / 120, abs=0.01)
    assert win.document.layer.transform.x == 60


def test_show_original_says_so_on_the_canvas(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    corner = QRect(0, 0, 140, 44)  # the badge's place, over the background and away from the layer
    harmonized = win.canvas.viewport().grab(corner).toImage()
    driver.key(Qt.Key.Key_Space)
    original = win.canvas.viewport().grab(corner).toImage()
    assert win.state.view_mode is ViewMode.ORIGINAL
    assert original != harmonized
    dark = [original.pixelColor(x, 22).value() for x in range(14, 18)]  # the badge's box darkens the photo
    assert max(dark) < min(harmonized.pixelColor(x, 22).value() for x in range(14, 18))
    driver.key(Qt.Key.Key_Space)
    assert win.canvas.viewport().grab(corner).toImage() == harmonized


def test_strength_zero_gives_the_composite_and_is_remembered(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    with driver.qtbot.waitSignal(win.previewShown, timeout=10_000) as blocker:
        win.strength_control.slider.setValue(0)
    result = blocker.args[0]
    assert win.document.strength == 0.0 and win.strength_control.value.text() == "0 %"
    assert np.array_equal(result.harmonized, result.composite)
    win.strength_control.slider.setValue(140)  # above 100 %: more of a gated model's correction
    assert win.document.strength == pytest.approx(1.4)
    assert win.strength_control.value.text() == "140 % (all)"  # the classical transfer holds nothing back
    win.undo_stack.setClean()
    win.close()
    assert win.settings.strength == pytest.approx(1.4)


def test_an_empty_mask_previews_as_the_plain_composite(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    with driver.qtbot.waitSignal(win.previewShown, timeout=10_000) as blocker:
        win.actions.clear.trigger()
    result = blocker.args[0]
    assert not result.mask.any()
    assert np.array_equal(result.harmonized, result.composite)
