"""The training dialog before Start: the batch fits the photos, the time is estimated, nothing is cut off."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from harmonizer_gui.training.estimate import IMAGE_S, READ_S_PER_MEGAPIXEL, STEP_S, duration_text, estimate_run
from harmonizer_gui.training.process import Ending, TrainingRequest
from tests.harmonizer_gui.training.test_dialog import open_dialog
from tests.trainer.conftest import TINY_RUN, make_photo_folder

TINY_RUN_ANY_BATCH = [arg for index, arg in enumerate(TINY_RUN) if "--batch-size" not in TINY_RUN[max(index - 1, 0) : index + 1]]


def camera_photos(folder: Path, count: int) -> Path:
    """Plain photos of 12 MP (flat, so they are written in milliseconds); only their headers are read."""
    folder.mkdir()
    for index in range(count):
        cv2.imwrite(str(folder / f"photo_{index}.jpg"), np.full((3000, 4000, 3), 40 * index, np.uint8))
    return folder


def test_a_small_folder_trains_with_the_dialogs_default_batch(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    dialog = open_dialog(qtbot, window, make_photo_folder(tmp_path / "six", count=6, size=16))
    form = dialog.form
    assert form.batch.value() == 8 and form.batch_size() == 5  # one of the six is held out for validation
    assert form.batch_note.isVisibleTo(form) and "all the other 5" in form.batch_note.text()
    dialog.extra_arguments = [*TINY_RUN_ANY_BATCH, "--steps", "2"]
    with qtbot.waitSignal(dialog.runFinished, timeout=120_000) as finished:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].ending is Ending.FINISHED, finished.args[0].message
    form.data.clear()
    qtbot.keyClicks(form.data, str(make_photo_folder(tmp_path / "many", count=30, size=16)))
    assert form.batch_size() == 8 and not form.batch_note.isVisibleTo(form)


def test_the_dialog_estimates_the_time_from_photo_size_steps_and_batch(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    form = open_dialog(qtbot, window, make_photo_folder(tmp_path / "small", count=24, size=16)).form
    form.device.setCurrentIndex(form.device.findData("cpu"))
    form.length.setValue(20)
    small = form.estimate.text()
    assert small.startswith("Estimated time: about") and "(an estimate)" in small and "20 steps of 8" in small
    assert form.estimate.styleSheet() == ""
    form.length.setValue(2000)
    form.data.clear()
    qtbot.keyClicks(form.data, str(camera_photos(tmp_path / "camera", 6)))
    assert "12.0 MP" in form.estimate.text() and "h" in form.estimate.text().split("for")[0]
    assert form.estimate.styleSheet()  # a run of hours is pointed out
    form.length.setValue(10)
    assert form.estimate.styleSheet() == "" and "10 steps" in form.estimate.text()


def test_the_estimate_follows_its_cost_model() -> None:
    def run(length: int, unit: str = "steps", batch: int = 4) -> TrainingRequest:
        return TrainingRequest("photos", "out", length, unit, batch)

    read = READ_S_PER_MEGAPIXEL * 2.0
    training = 100 * (STEP_S + 4 * IMAGE_S["cpu"]) + 16 * read  # each of the 16 photos is decoded once
    validating = 10 * 3 * (read + IMAGE_S["cpu"] / 3)  # every 10 steps, 3 held-out photos
    assert estimate_run(run(100), 16, 3, 2.0, "cpu").seconds == pytest.approx(training + validating)
    assert estimate_run(run(3, "epochs"), 16, 3, 2.0, "cpu").steps == 12
    assert estimate_run(run(100), 3, 1, 2.0, "cpu") is None  # cannot fill a batch
    assert estimate_run(run(100), 16, 3, 2.0, "cuda").seconds < estimate_run(run(100), 16, 3, 2.0, "cpu").seconds
    assert estimate_run(run(100), 16, 3, 8.0, "cpu").seconds > estimate_run(run(100), 16, 3, 2.0, "cpu").seconds
    assert [duration_text(s) for s in (4, 125, 7300)] == ["about 10 s", "about 2 min", "about 2 h"]


def test_the_save_location_shows_the_whole_path_and_the_hint_names_plain_photos(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    runs = tmp_path / "a rather long folder name for training runs" / "with another level below it" / "runs"
    window.settings.set_runs_folder(runs)
    dialog = open_dialog(qtbot, window)
    assert str(runs) in dialog.where.text().replace("\u200b", "") and "…" not in dialog.where.text()
    assert dialog.where.wordWrap()
    assert "plain photos" in dialog.form.data_check.text()
