"""Export: full-resolution PNGs, never overwriting without asking, clear failures, closing."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtWidgets import QMessageBox

from engine.imageio import read_image

Yes, No = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No


def _export(driver, action, path: Path) -> object:  # noqa: ANN001
    with driver.qtbot.waitSignal(driver.win.exporter.finished, timeout=20_000) as blocker:
        action.trigger()
    return blocker.args[0]


def test_export_writes_the_background_size_with_the_background_untouched_outside_the_mask(
    driver, dialogs, tmp_path: Path
) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    dialogs.save_path = str(tmp_path / "result")  # the .png is added
    outcome = _export(driver, win.actions.export_harmonized, tmp_path / "result.png")
    assert outcome.error is None
    written = read_image(tmp_path / "result.png").rgb
    background = read_image(driver.images["background"]).rgb
    assert written.shape == background.shape and written.dtype == np.uint8
    dialogs.save_path = str(tmp_path / "mask.png")
    _export(driver, win.actions.export_mask, tmp_path / "mask.png")
    mask = cv2.imread(str(tmp_path / "mask.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (80, 120)
    outside, inside = mask == 0, mask == 255
    assert np.array_equal(written[outside], background[outside])
    assert (written[inside] != background[inside]).any(axis=1).mean() > 0.9
    dialogs.save_path = str(tmp_path / "composite.png")
    _export(driver, win.actions.export_composite, tmp_path / "composite.png")
    composite = read_image(tmp_path / "composite.png").rgb
    assert np.array_equal(composite[outside], background[outside])
    assert np.abs(written[inside].astype(int) - composite[inside]).mean() > 10  # harmonized differs from plain
    assert not win.windowTitle().endswith("*")  # the harmonized export clears "modified"


def test_export_never_overwrites_without_a_yes(driver, dialogs, tmp_path: Path) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    target = tmp_path / "taken.png"
    target.write_bytes(b"precious")
    dialogs.save_path = str(target)
    dialogs.answers = [No]
    win.actions.export_harmonized.trigger()
    driver.qtbot.wait(200)
    assert target.read_bytes() == b"precious"
    assert dialogs.kinds() == ["question"] and "already exists" in dialogs.shown[0][2]
    assert win.exporter.running == 0
    dialogs.answers = [Yes]
    outcome = _export(driver, win.actions.export_harmonized, target)
    assert outcome.error is None and read_image(target).rgb.shape == (80, 120, 3)


def test_a_failed_write_explains_and_leaves_nothing(driver, dialogs, tmp_path: Path) -> None:  # noqa: ANN001
    driver.load_both()
    dialogs.save_path = str(tmp_path / "no-such-folder" / "out.png")
    outcome = _export(driver, driver.win.actions.export_harmonized, Path(dialogs.save_path))
    assert outcome.error is not None
    assert dialogs.kinds() == ["warning"] and "does not exist" in dialogs.shown[0][2]
    assert not (tmp_path / "no-such-folder").exists()
    assert driver.win.windowTitle().endswith("— Harmonizer") and driver.win.isWindowModified()


def test_sixteen_bit_backgrounds_export_sixteen_bit(driver, dialogs, tmp_path: Path) -> None:  # noqa: ANN001
    deep = tmp_path / "deep.png"
    rgb = (np.linspace(0, 65535, 90 * 60 * 3).reshape(60, 90, 3)).astype(np.uint16)
    cv2.imwrite(str(deep), rgb[:, :, ::-1])
    driver.drop_and_wait(deep)
    driver.drop_and_wait(driver.images["foreground"], x_fraction=0.75)
    dialogs.save_path = str(tmp_path / "deep-out.png")
    assert _export(driver, driver.win.actions.export_harmonized, tmp_path / "deep-out.png").error is None
    written = read_image(tmp_path / "deep-out.png").rgb
    assert written.dtype == np.uint16 and written.shape == (60, 90, 3)
    assert np.array_equal(written[:3, :3], rgb[:3, :3])


def test_the_window_stays_responsive_while_exporting(driver, dialogs, tmp_path: Path) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    dialogs.save_path = str(tmp_path / "busy.png")
    with driver.qtbot.waitSignal(win.exporter.finished, timeout=20_000):
        win.actions.export_harmonized.trigger()
        assert win.status.busy.isVisibleTo(win)
    assert win.status.busy.isHidden()
    assert "Exported busy.png (120×80, 8-bit)" in win.statusBar().currentMessage()


def test_closing_with_unexported_work_asks(driver, dialogs) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    assert win.has_unexported_work()
    dialogs.answers = [QMessageBox.StandardButton.Cancel]
    assert not win.close()
    assert win.isVisible() and "Export it before closing" in dialogs.shown[-1][2]
    dialogs.answers = [QMessageBox.StandardButton.Discard]
    assert win.close()


def test_choosing_export_when_closing_exports_then_closes(driver, dialogs, tmp_path: Path) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    dialogs.answers = [QMessageBox.StandardButton.Save]
    dialogs.save_path = str(tmp_path / "on-close.png")
    assert not win.close()  # not yet: the export runs first
    driver.qtbot.waitUntil(lambda: not win.isVisible(), timeout=20_000)
    assert read_image(tmp_path / "on-close.png").rgb.shape == (80, 120, 3)
