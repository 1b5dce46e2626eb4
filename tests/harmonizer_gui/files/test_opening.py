"""Getting images in: drops, the clipboard, bad files, replacing either image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtGui import QGuiApplication, QImage

from engine.imageio import read_image
from harmonizer_gui.files.sources import ImageSource


def test_empty_window_shows_the_model_and_has_nothing_to_export(window) -> None:  # noqa: ANN001
    assert "classical" in window.status.model.text() and "cpu" in window.status.model.text()
    assert not window.actions.export_harmonized.isEnabled()
    assert window.windowTitle() == "Harmonizer"


def test_dropping_a_background_then_a_cutout_builds_the_document(driver) -> None:  # noqa: ANN001
    win = driver.win
    driver.drop_and_wait(driver.images["background"])
    assert win.document.background.width == 120 and win.document.layer is None
    driver.drop_and_wait(driver.images["foreground"], x_fraction=0.75)
    layer = win.document.layer
    alpha = read_image(driver.images["foreground"]).alpha
    assert layer is not None and layer.mask.shape == (30, 40)
    assert np.allclose(layer.mask, alpha / 255.0)  # the mask comes from the alpha channel
    assert (layer.transform.x, layer.transform.y) == (60, 40)  # centred
    assert win.actions.export_harmonized.isEnabled()
    assert "background.png + foreground.png" in win.windowTitle()


def test_a_foreground_without_alpha_is_pasted_whole(driver) -> None:  # noqa: ANN001
    driver.drop_and_wait(driver.images["background"])
    driver.drop_and_wait(driver.images["background2"], x_fraction=0.75)
    assert driver.win.document.layer.mask.min() == 1.0


def test_first_paste_is_the_background_and_the_next_the_foreground(driver) -> None:  # noqa: ANN001
    win, clipboard = driver.win, QGuiApplication.clipboard()
    clipboard.setImage(QImage(str(driver.images["background"])))
    with driver.qtbot.waitSignal(win.imageLoaded, timeout=10_000) as first:
        win.actions.paste.trigger()
    assert first.args == ["background"] and win.document.background.width == 120
    clipboard.setImage(QImage(str(driver.images["foreground"])))
    with driver.qtbot.waitSignal(win.imageLoaded, timeout=10_000) as second:
        win.actions.paste.trigger()
    assert second.args == ["foreground"]
    layer = win.document.layer
    assert layer.image.alpha is not None and layer.mask.shape == (30, 40)
    assert np.array_equal(layer.image.rgb, read_image(driver.images["foreground"]).rgb)


def test_pasting_with_an_empty_clipboard_says_so(driver) -> None:  # noqa: ANN001
    QGuiApplication.clipboard().clear()
    driver.win.actions.paste.trigger()
    assert "no image" in driver.win.statusBar().currentMessage()


def test_an_unreadable_drop_explains_and_keeps_the_document(driver, dialogs) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    background, layer = win.document.background, win.document.layer
    with driver.qtbot.waitSignal(win.imageFailed, timeout=10_000):
        driver.drop([driver.images["broken"]])
    assert dialogs.kinds() == ["warning"]
    assert "broken.png" in dialogs.shown[0][2] and "Nothing was changed" in dialogs.shown[0][2]
    assert win.document.background is background and win.document.layer is layer


def test_replacing_the_background_keeps_the_layer_and_its_mask(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    win.actions.invert.trigger()
    layer, mask, transform = win.document.layer, win.document.layer.mask.copy(), win.document.layer.transform
    driver.drop_and_wait(driver.images["background2"], x_fraction=0.25)
    assert win.document.background.width == 100
    assert win.document.layer is layer and np.array_equal(layer.mask, mask) and layer.transform == transform
    driver.wait_preview()


def test_replacing_the_foreground_keeps_the_background(driver) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    background = win.document.background
    driver.drop_and_wait(driver.images["background2"], x_fraction=0.75)
    assert win.document.background is background and win.document.layer.size == (100, 70)
    win.undo_stack.undo()
    assert win.document.layer.size == (40, 30)


def test_opened_files_are_remembered_as_recent(driver) -> None:  # noqa: ANN001
    driver.load_both()
    recent = driver.win.settings.recent_files()
    assert [(e.role, e.path.endswith(name)) for e, name in zip(recent, ["foreground.png", "background.png"], strict=True)] == [
        ("foreground", True),
        ("background", True),
    ]
    texts = [a.text() for a in driver.win.menus["recent"].actions()]
    assert any("foreground.png" in t for t in texts)


def test_a_foreground_opened_first_is_placed_when_the_background_arrives(driver) -> None:  # noqa: ANN001
    win = driver.win
    with driver.qtbot.waitSignal(win.imageLoaded, timeout=10_000):
        win.opener.open(ImageSource(path=str(driver.images["foreground"])), "foreground")
    assert win.document.background is None and win.document.layer is not None
    assert not win.canvas.layer_item.boundingRect().isEmpty()  # shown on its own meanwhile
    with driver.qtbot.waitSignal(win.previewShown, timeout=10_000):
        driver.drop_and_wait(driver.images["background"])
    t = win.document.layer.transform
    assert (t.x, t.y) == (60, 40) and t.scale == pytest.approx(1.2)


def test_grey_and_sixteen_bit_images_open_as_colour(driver, tmp_path) -> None:  # noqa: ANN001
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.tile(np.arange(0, 65535, 546, dtype=np.uint16), (50, 1)))
    driver.drop_and_wait(grey)
    background = driver.win.document.background
    assert background.rgb.shape == (50, 121, 3) and background.rgb.dtype == np.uint16
    assert "16-bit" in driver.win.statusBar().currentMessage()
