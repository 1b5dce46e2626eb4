"""The Model menu, device choice, the training entry, and remembered settings."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QSettings

from engine.harmonizer import DEFAULT_CHECKPOINT
from harmonizer_gui.window.main_window import MainWindow
from harmonizer_gui.services.settings import Settings
from tests.harmonizer_gui.conftest import device_names, model_entries


def test_model_menu_offers_default_classical_checkpoints_and_devices(window) -> None:  # noqa: ANN001
    specs = list(model_entries(window))
    assert specs[:2] == ["default", "classical"]
    assert model_entries(window)["classical"].isChecked()
    assert "auto" in device_names(window) and "cpu" in device_names(window)


def test_add_model_extends_the_menu_once_and_is_remembered(window, tmp_path: Path) -> None:  # noqa: ANN001
    path = str(tmp_path / "mine.safetensors")
    window.add_model(path)
    window.add_model(path)
    assert list(model_entries(window)).count(path) == 1
    assert model_entries(window)[path].text() == "mine.safetensors"
    assert window.settings.checkpoints() == [path]
    assert model_entries(window)["classical"].isChecked()  # offering is not choosing


def test_a_checkpoint_that_cannot_load_is_explained_and_the_model_kept(qtbot, window, dialogs, tmp_path: Path) -> None:  # noqa: ANN001
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    window.add_model(str(bad))
    model_entries(window)[str(bad)].trigger()
    qtbot.waitUntil(lambda: dialogs.kinds() == ["warning"], timeout=10_000)
    assert "broken.safetensors" in dialogs.shown[0][2] or "checkpoint" in dialogs.shown[0][2].lower()
    assert model_entries(window)["classical"].isChecked()
    assert "classical" in window.status.model.text()
    assert window.settings.model == "classical"


def test_default_without_a_bundled_model_says_it_falls_back(qtbot, window) -> None:  # noqa: ANN001
    with qtbot.waitSignal(window.modelChanged, timeout=10_000) as blocker:
        model_entries(window)["default"].trigger()
    info = blocker.args[0]
    assert info.spec == "default"
    assert info.description in window.status.model.text()  # e.g. "... (bundled default model missing)"
    assert window.settings.model == "default"


def test_a_run_model_is_named_after_its_run_in_the_menu_and_the_status_bar(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    run = tmp_path / "runs" / "portraits-20250102-153000"
    run.mkdir(parents=True)
    shutil.copyfile(DEFAULT_CHECKPOINT, run / "best.safetensors")
    with qtbot.waitSignal(window.modelChanged, timeout=20_000):
        window.use_model(str(run / "best.safetensors"))
    assert model_entries(window)[str(run / "best.safetensors")].text() == "portraits (2025-01-02 15:30)"
    assert "portraits (2025-01-02 15:30)" in window.status.model.text()
    assert "best.safetensors" not in window.status.model.text()
    assert "best.safetensors" in window.status.model.toolTip()  # the file and the head stay one hover away


def test_training_is_offered_in_the_tools_menu(window) -> None:  # noqa: ANN001
    actions = window.menus["tools"].actions()
    assert [a.text() for a in actions] == ["&Train Personal Model…"]
    assert actions[0].isEnabled()


def test_settings_survive_a_restart(qtbot, tmp_path: Path, dialogs) -> None:  # noqa: ANN001
    store = str(tmp_path / "prefs.ini")
    first = MainWindow(Settings(QSettings(store, QSettings.Format.IniFormat)), model="classical", device="cpu")
    qtbot.addWidget(first)
    qtbot.waitUntil(lambda: first._model_info is not None, timeout=10_000)
    first.strength_control.slider.setValue(65)
    first.state.set_brush_size(77)
    first.add_model(str(tmp_path / "a.safetensors"))
    first.close()
    second = MainWindow(Settings(QSettings(store, QSettings.Format.IniFormat)))
    qtbot.addWidget(second)
    qtbot.waitUntil(lambda: second._model_info is not None, timeout=10_000)
    try:
        assert second.document.strength == 0.65 and second.strength_control.slider.value() == 65
        assert second.state.brush_size == 77 and second.tool_controls.size.value() == 77
        assert second._model_info.spec == "classical"
        assert str(tmp_path / "a.safetensors") in model_entries(second)
    finally:
        second.close()
