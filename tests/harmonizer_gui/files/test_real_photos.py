"""The whole story with a real photo and a real cut-out (skipped where the shared data is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, Qt

from engine.imageio import read_image


def test_drop_paste_drag_touch_up_watch_and_export_a_real_photo(driver, dialogs, shared_data: Path, tmp_path: Path) -> None:  # noqa: ANN001
    background_path = shared_data / "backgrounds" / "Picture_1A_by_freespace.jpg"  # 1365x1074, the smallest
    cutout_path = shared_data / "cutouts" / "animals_mammals_bovines_cow_white.png"
    win = driver.win
    driver.drop_and_wait(background_path)
    with driver.qtbot.waitSignal(win.previewShown, timeout=20_000):
        driver.drop_and_wait(cutout_path, x_fraction=0.75)
    centre = driver.layer_point(83, 125)
    driver.drag(centre, centre + QPoint(-80, 30))
    driver.key(Qt.Key.Key_E)
    win.state.set_brush_size(30)
    driver.drag(driver.layer_point(10, 240), driver.layer_point(150, 240))
    result = driver.wait_preview()
    inside = result.mask > 0.99
    assert np.abs(result.harmonized[inside].astype(int) - result.composite[inside]).mean() > 3
    dialogs.save_path = str(tmp_path / "real.png")
    with driver.qtbot.waitSignal(win.exporter.finished, timeout=60_000) as blocker:
        win.actions.export_harmonized.trigger()
    assert blocker.args[0].error is None
    written = read_image(tmp_path / "real.png").rgb
    background = read_image(background_path).rgb
    assert written.shape == background.shape
    changed = (written != background).any(axis=2)
    assert 0.005 < changed.mean() < 0.5  # the cow, and nothing else
