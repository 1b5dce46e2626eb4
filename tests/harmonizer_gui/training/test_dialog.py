"""Tools > Train Personal Model, driven through the real widgets: settings, real runs, cancel, failure, closing.

Three tests start the real trainer with tiny settings (about 5-15 s each on a small CPU); the
others use ``fake_trainer.py``, which starts in milliseconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from harmonizer_gui.training.loss_plot import LossPlot
from harmonizer_gui.window.main_window import MainWindow
from harmonizer_gui.services.settings import Settings
from harmonizer_gui.training.dialog import TrainingDialog
from harmonizer_gui.training.process import Ending
from harmonizer_gui.training.runs import new_run_folder, run_label, start_point
from tests.harmonizer_gui.conftest import model_entries, point_count
from tests.trainer.conftest import TINY_RUN, make_photo_folder

FAKE_TRAINER = Path(__file__).with_name("fake_trainer.py")
LEFT = Qt.MouseButton.LeftButton
YES, NO = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No


def open_dialog(qtbot, window: MainWindow, folder: Path | None = None) -> TrainingDialog:  # noqa: ANN001
    """Tools > Train Personal Model…, then type the photo folder like a person."""
    action = next(a for a in window.menus["tools"].actions() if "Train" in a.text())
    assert action.isEnabled()
    action.trigger()
    dialog = window.training_dialog
    assert dialog is not None and dialog.isVisible()
    if folder is not None:
        dialog.form.data.clear()
        qtbot.keyClicks(dialog.form.data, str(folder))
    return dialog


def use_fake_trainer(dialog: TrainingDialog, *extra: str) -> None:
    dialog.process.command = (sys.executable, str(FAKE_TRAINER))
    dialog.extra_arguments = list(extra)


# -- settings and idle states ------------------------------------------------------------------
def test_the_dialog_checks_the_folder_and_explains_the_starting_point(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    dialog = open_dialog(qtbot, window)
    form = dialog.form
    assert not dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled() and dialog.close_button.isEnabled()
    assert not dialog.use_button.isVisible()
    qtbot.keyClicks(form.data, str(tmp_path / "nowhere"))
    assert "does not exist" in form.data_check.text() and not dialog.start_button.isEnabled()
    photos = make_photo_folder(tmp_path / "photos", count=3, size=16)
    form.data.clear()
    qtbot.keyClicks(form.data, str(photos))
    assert "images/ (3 images) + masks/" in form.data_check.text() and dialog.start_button.isEnabled()
    for sub in ("composite_images", "masks", "real_images"):
        (tmp_path / "ih" / sub).mkdir(parents=True)
    form.set_data_folder(str(tmp_path / "ih"))
    assert "iHarmony4" in form.data_check.text()
    cutouts = tmp_path / "cutouts"
    cutouts.mkdir()
    cv2.imwrite(str(cutouts / "a.png"), np.zeros((8, 8, 4), np.uint8))
    form.set_data_folder(str(cutouts))
    assert form.data_check.text().startswith("1 images") and dialog.start_button.isEnabled()
    # The window's model is the classical transfer: nothing to fine-tune, and the dialog says so.
    assert not form.from_current.isEnabled() and form.from_scratch.isChecked()
    assert "not a trained network" in form.start_note.text()
    assert form.request("/run").init is None


def test_a_checkpoint_in_use_is_the_default_starting_point(qtbot, window) -> None:  # noqa: ANN001
    dialog = open_dialog(qtbot, window)
    form = dialog.form
    dialog.set_current_model("/models/mine.safetensors", "mine.safetensors")
    assert form.from_current.isEnabled() and form.from_current.isChecked()
    assert "mine.safetensors" in form.from_current.text()
    assert form.request("/run").init == "/models/mine.safetensors"
    qtbot.mouseClick(form.from_scratch, LEFT, pos=QPoint(8, form.from_scratch.height() // 2))  # on the indicator
    assert form.request("/run").init is None


def test_length_unit_batch_device_and_advanced_settings_reach_the_request(qtbot, window) -> None:  # noqa: ANN001
    form = open_dialog(qtbot, window).form
    assert form.length.value() == 300 and form.unit.currentText() == "steps"
    form.unit.setCurrentText("epochs")
    assert form.length.value() == 10
    form.length.setValue(4)
    form.unit.setCurrentText("steps")
    assert form.length.value() == 300
    form.unit.setCurrentText("epochs")
    assert form.length.value() == 4
    form.batch.setValue(2)
    assert form.device.itemData(0) == "auto" and form.device.findData("cpu") >= 0
    form.device.setCurrentIndex(form.device.findData("cpu"))
    assert not form.advanced.isVisible()
    qtbot.mouseClick(form.advanced_toggle, LEFT)
    assert form.advanced.isVisible()
    qtbot.keyClicks(form.style_weight, "0.5")
    qtbot.keyClicks(form.vgg, "random")
    args = form.request("/run").arguments()
    for flag, value in (("--epochs", "4"), ("--batch-size", "2"), ("--device", "cpu"), ("--style-weight", "0.5"),
                        ("--vgg-weights", "random"), ("--progress", "json")):
        assert args[args.index(flag) + 1] == value


def test_run_folders_and_model_menu_names() -> None:
    assert run_label("/r/portraits-20250102-153000/best.safetensors") == "portraits (2025-01-02 15:30)"
    assert run_label("/r/my-cat-20250102-153000/last.safetensors") == "my-cat (2025-01-02 15:30) (last checkpoint)"
    assert run_label("/models/mine.safetensors") == "mine.safetensors"
    assert start_point("classical")[0] is None
    assert start_point("/r/cats-20250102-153000/best.safetensors") == (
        "/r/cats-20250102-153000/best.safetensors", "cats (2025-01-02 15:30)")


def test_run_folders_never_collide(tmp_path: Path) -> None:
    from datetime import datetime

    now = datetime(2025, 1, 2, 15, 30, 0)
    first = new_run_folder(tmp_path, "My Cats!", now)
    assert first.name == "My Cats-20250102-153000"
    first.mkdir()
    assert new_run_folder(tmp_path, "My Cats!", now).name == "My Cats-20250102-153000-2"
    assert new_run_folder(tmp_path, " ../\t", now).name == "personal-20250102-153000"


def test_trained_models_keep_their_run_names_after_a_restart(qtbot, tmp_path: Path, dialogs) -> None:  # noqa: ANN001
    store = str(tmp_path / "prefs.ini")
    checkpoint = str(tmp_path / "runs" / "portraits-20250102-153000" / "best.safetensors")
    first = MainWindow(Settings(QSettings(store, QSettings.Format.IniFormat)), model="classical", device="cpu")
    qtbot.addWidget(first)
    first.add_model(checkpoint)
    first.close()
    second = MainWindow(Settings(QSettings(store, QSettings.Format.IniFormat)), model="classical", device="cpu")
    qtbot.addWidget(second)
    try:
        assert model_entries(second)[checkpoint].text() == "portraits (2025-01-02 15:30)"
    finally:
        second.close()


def test_the_loss_plot_draws_curves_on_either_scale(qtbot) -> None:  # noqa: ANN001
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(400, 200)
    empty = plot.grab().toImage()
    for step in range(1, 3001):
        plot.add(step, {"total": 1 / step, "reconstruction": 0.5 / step, "harm": 0.0, "self_style": 0.3, "consistency": float("nan")})
    assert point_count(plot) == 3000 and point_count(plot, "consistency") == 0
    for log_scale in (True, False):
        plot.set_log_scale(log_scale)
        assert plot.grab().toImage() != empty
    plot.clear()
    assert point_count(plot) == 0
    plot.add(1, {"total": 0.0})  # zero cannot be shown on a log scale; nothing breaks
    plot.grab()


# -- real runs ---------------------------------------------------------------------------------
def test_a_tiny_real_run_ends_in_a_model_that_is_used_at_once(qtbot, window, driver, tmp_path: Path) -> None:  # noqa: ANN001
    driver.load_both()
    dialog = open_dialog(qtbot, window, make_photo_folder(tmp_path / "photos"))
    dialog.form.length.setValue(4)
    dialog.extra_arguments = TINY_RUN
    with qtbot.waitSignal(dialog.runFinished, timeout=120_000) as finished:
        qtbot.mouseClick(dialog.start_button, LEFT)
        assert dialog.is_running() and not dialog.form.isEnabled()
        assert not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()
        assert "Training" in window.status.busy_label.text()
    outcome = finished.args[0]
    assert outcome.ending is Ending.FINISHED, outcome.message + "\n".join(outcome.log_tail)
    monitor = dialog.monitor
    assert monitor.progress.maximum() == 4 and monitor.progress.value() == 4
    assert point_count(monitor.plot) == 4
    assert "Step 4 / 4" in monitor.details.text()
    assert all(monitor.metrics.item(row, column).text() != "–" for row in range(3) for column in range(2))
    assert "Validation at step 4" in monitor.metrics_caption.text()
    assert not monitor.preview.image.isNull() and monitor.preview.pixmap() is not None
    assert window.status.busy.isHidden()
    # The model is in the Model menu under the run's name, remembered, and not yet chosen.
    checkpoint = str(dialog.run_folder / "best.safetensors")
    assert outcome.checkpoint == checkpoint and checkpoint in window.settings.checkpoints()
    assert model_entries(window)[checkpoint].text().startswith("personal (")
    assert "is in the Model menu" in monitor.phase.text()
    assert dialog.form.isEnabled() and dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()
    assert dialog.use_button.isVisible() and dialog.use_button.isEnabled()
    assert window._model_info.spec == "classical"
    with qtbot.waitSignal(window.modelChanged, timeout=30_000) as changed:
        qtbot.mouseClick(dialog.use_button, LEFT)
    assert changed.args[0].spec == checkpoint == window._model_info.spec
    assert model_entries(window)[checkpoint].isChecked() and window.settings.model == checkpoint
    assert f"Model: {run_label(checkpoint)} ·" in window.status.model.text()  # the run, not "best.safetensors"
    preview = driver.wait_preview()
    assert preview.harmonized.shape == preview.composite.shape
    assert dialog.use_button.text() == "In Use" and not dialog.use_button.isEnabled()
    # The new model can be fine-tuned next.
    assert dialog.form.from_current.isChecked() and dialog.form.request("/next").init == checkpoint


def test_cancel_stops_a_real_run_and_keeps_its_last_checkpoint(qtbot, window, dialogs, tmp_path: Path) -> None:  # noqa: ANN001
    dialog = open_dialog(qtbot, window, make_photo_folder(tmp_path / "photos"))
    dialog.form.length.setValue(500)
    dialog.extra_arguments = TINY_RUN
    with qtbot.waitSignal(dialog.process.stepped, timeout=120_000):
        qtbot.mouseClick(dialog.start_button, LEFT)
    dialogs.answers = [NO]
    dialog.close()  # closing while training asks first; "No" keeps it training
    assert dialogs.kinds() == ["question"] and dialog.isVisible() and dialog.is_running()
    with qtbot.waitSignal(dialog.runFinished, timeout=60_000) as finished:
        qtbot.mouseClick(dialog.cancel_button, LEFT)
        assert not dialog.cancel_button.isEnabled() and "Stopping" in dialog.monitor.phase.text()
    outcome = finished.args[0]
    assert outcome.ending is Ending.STOPPED and outcome.exit_code == 130, outcome.message
    assert "stopped at step" in dialog.monitor.phase.text() and "last checkpoint is kept" in dialog.monitor.phase.text()
    last = dialog.run_folder / "last.safetensors"
    assert last.is_file() and outcome.checkpoint == str(last)
    assert str(last) in model_entries(window)
    assert "(last checkpoint)" in model_entries(window)[str(last)].text()
    assert dialog.start_button.isEnabled() and dialog.use_button.isEnabled()


def test_an_unusable_folder_shows_the_trainers_message_and_start_works_again(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    empty = tmp_path / "empty"
    empty.mkdir()
    dialog = open_dialog(qtbot, window, empty)
    assert dialog.start_button.isEnabled()  # the trainer has the final word
    dialog.extra_arguments = TINY_RUN
    with qtbot.waitSignal(dialog.runFinished, timeout=120_000) as finished:
        qtbot.mouseClick(dialog.start_button, LEFT)
    outcome = finished.args[0]
    assert outcome.ending is Ending.FAILED and outcome.exit_code == 2
    assert dialog.monitor.phase.text() == "The data or settings cannot be used."
    assert "holds no image" in dialog.monitor.info.text()  # the trainer's own words
    assert "holds no image" in window.status._bar.currentMessage()
    assert dialog.start_button.isEnabled() and dialog.form.isEnabled() and not dialog.use_button.isVisible()
    assert list(model_entries(window)) == ["default", "classical"]
    assert not dialog.run_folder.exists()  # a failed run leaves no empty folder behind


# -- a crash, and closing while training (fake trainer) --------------------------------------------
def test_a_crash_shows_the_traceback_and_offers_no_model(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    dialog = open_dialog(qtbot, window, tmp_path)
    use_fake_trainer(dialog, "--fake-crash")
    with qtbot.waitSignal(dialog.runFinished, timeout=20_000) as finished:
        qtbot.mouseClick(dialog.start_button, LEFT)
    assert finished.args[0].ending is Ending.FAILED and finished.args[0].exit_code == 1
    monitor = dialog.monitor
    assert monitor.phase.text() == "Training failed."
    assert monitor.info.text() == "RuntimeError: CUDA error: an illegal memory access was encountered"
    assert monitor.log.isVisible() and "Traceback" in monitor.log.toPlainText()
    assert point_count(monitor.plot) == 1 and not dialog.use_button.isVisible() and dialog.start_button.isEnabled()



def test_closing_the_dialog_while_training_asks_and_stops(qtbot, window, dialogs, tmp_path: Path) -> None:  # noqa: ANN001
    dialog = open_dialog(qtbot, window, tmp_path)
    use_fake_trainer(dialog, "--fake-delay", "0.1")
    with qtbot.waitSignal(dialog.process.stepped, timeout=20_000):
        qtbot.mouseClick(dialog.start_button, LEFT)
    dialogs.answers = [YES]
    with qtbot.waitSignal(dialog.runFinished, timeout=20_000):
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
        assert not dialog.isVisible()
    assert dialogs.kinds() == ["question"]
    assert dialog.outcome.ending is Ending.STOPPED and dialog.outcome.checkpoint in model_entries(window)
    dialog = open_dialog(qtbot, window)  # the same dialog, showing how the run ended
    assert "stopped" in dialog.monitor.phase.text()
    dialog.close()  # idle: no question
    assert dialogs.kinds() == ["question"] and not dialog.isVisible()


def test_closing_the_window_while_training_asks_then_closes_once_stopped(qtbot, window, dialogs, tmp_path: Path) -> None:  # noqa: ANN001
    dialog = open_dialog(qtbot, window, tmp_path)
    use_fake_trainer(dialog, "--fake-delay", "0.1")
    with qtbot.waitSignal(dialog.process.stepped, timeout=20_000):
        qtbot.mouseClick(dialog.start_button, LEFT)
    dialogs.answers = [NO]
    window.close()
    assert window.isVisible() and dialog.is_running()
    dialogs.answers = [YES]
    with qtbot.waitSignal(dialog.runFinished, timeout=20_000):
        window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)
    assert dialogs.kinds() == ["question", "question"]
    assert dialog.outcome.checkpoint in window.settings.checkpoints()
