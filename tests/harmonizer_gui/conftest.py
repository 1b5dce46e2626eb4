"""Fixtures for driving the real GUI headless: tiny images, a window, dialogs, drops, strokes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QAction, QDragEnterEvent, QDragMoveEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMenu, QMessageBox

from engine.data_location import data_root
from harmonizer_gui.training.loss_plot import LossPlot
from harmonizer_gui.window.main_window import MainWindow
from harmonizer_gui.services.settings import Settings

BG_SIZE = (120, 80)  # width, height
FG_SIZE = (40, 30)


def make_background(width: int = BG_SIZE[0], height: int = BG_SIZE[1], dtype: type = np.uint8) -> np.ndarray:
    """A warm, textured stand-in for a photo."""
    rng = np.random.default_rng(1)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([0.75 - 0.2 * ys / height, 0.5 + 0.1 * xs / width, 0.25 + 0.05 * ys / height], axis=-1)
    base += rng.normal(0, 0.03, base.shape)
    top = np.iinfo(dtype).max
    return np.clip(np.rint(base * top), 0, top).astype(dtype)


def make_foreground(width: int = FG_SIZE[0], height: int = FG_SIZE[1]) -> tuple[np.ndarray, np.ndarray]:
    """A cold blue object (RGB) and its elliptical alpha (uint8)."""
    rng = np.random.default_rng(2)
    rgb = np.clip(np.rint(np.array([60, 110, 220]) + rng.normal(0, 12, (height, width, 3))), 0, 255).astype(np.uint8)
    alpha = np.zeros((height, width), np.uint8)
    cv2.ellipse(alpha, (width // 2, height // 2), (width // 2 - 3, height // 2 - 3), 0, 0, 360, 255, -1)
    return rgb, alpha


def write_rgb(path: Path, rgb: np.ndarray, alpha: np.ndarray | None = None) -> Path:
    pixels = rgb[:, :, ::-1] if alpha is None else np.dstack([rgb[:, :, ::-1], alpha])
    assert cv2.imwrite(str(path), pixels)
    return path


def read_png(path: Path) -> np.ndarray:
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert pixels is not None, path
    return pixels[:, :, ::-1] if pixels.ndim == 3 else pixels


def model_entries(window: MainWindow) -> dict[str, QAction]:
    """The Model menu's model entries by what they choose (``default``, ``classical``, checkpoint paths), in menu order."""
    return {action.data(): action for action in window.menus["model"].actions() if action.isCheckable()}


def device_names(window: MainWindow) -> list[str]:
    """The devices the Model menu's Device submenu offers."""
    (devices,) = window.menus["model"].findChildren(QMenu)
    return [action.data() for action in devices.actions()]


def point_count(plot: LossPlot, key: str = "total") -> int:
    """How many points the loss plot holds for one series."""
    return len(plot._points[key])


@dataclass
class Dialogs:
    """Records message boxes instead of showing them; ``answers`` are given to questions in turn."""

    shown: list[tuple[str, str, str]] = field(default_factory=list)
    answers: list[QMessageBox.StandardButton] = field(default_factory=list)
    save_path: str = ""

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.shown]


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> Dialogs:
    record = Dialogs()

    def message(kind: str) -> Callable[..., QMessageBox.StandardButton]:
        def show(parent, title, text, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
            record.shown.append((kind, title, text))
            if kind == "question":
                return record.answers.pop(0) if record.answers else QMessageBox.StandardButton.No
            return QMessageBox.StandardButton.Ok

        return show

    for kind in ("warning", "critical", "information", "question", "about"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(message(kind)))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (record.save_path, "")))
    return record


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    store = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    store.set_runs_folder(tmp_path / "runs")  # training runs never land in the real data folder
    return store


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    """Tiny test images on disk: background, foreground with alpha, a second background, junk."""
    fg_rgb, fg_alpha = make_foreground()
    junk = tmp_path / "broken.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    return {
        "background": write_rgb(tmp_path / "background.png", make_background()),
        "background2": write_rgb(tmp_path / "background2.png", make_background(100, 70)[:, ::-1].copy()),
        "foreground": write_rgb(tmp_path / "foreground.png", fg_rgb, fg_alpha),
        "broken": junk,
    }


@pytest.fixture
def window(qtbot, settings: Settings, dialogs: Dialogs) -> Iterator[MainWindow]:
    win = MainWindow(settings, model="classical", device="cpu")
    qtbot.addWidget(win)
    win.resize(900, 640)
    win.show()
    qtbot.waitUntil(lambda: win._model_info is not None, timeout=10_000)
    yield win
    win.undo_stack.setClean()
    win.close()
    win.shutdown()


class Driver:
    """Drives the window like a person: drops, clicks, drags; knows where things are on screen."""

    def __init__(self, qtbot, win: MainWindow, images: dict[str, Path]) -> None:  # noqa: ANN001
        self.qtbot, self.win, self.images = qtbot, win, images

    @property
    def viewport(self):  # noqa: ANN201
        return self.win.canvas.viewport()

    def drop(self, paths: list[Path], x_fraction: float = 0.25) -> None:
        """Drag files over the canvas and drop them at ``x_fraction`` of its width."""
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
        pos = QPointF(self.viewport.width() * x_fraction, self.viewport.height() / 2)
        buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        QApplication.sendEvent(self.viewport, QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, buttons, mods))
        QApplication.sendEvent(self.viewport, QDragMoveEvent(pos, Qt.DropAction.CopyAction, mime, buttons, mods))
        QApplication.sendEvent(self.viewport, QDropEvent(pos, Qt.DropAction.CopyAction, mime, buttons, mods))

    def drop_and_wait(self, path: Path, x_fraction: float = 0.25) -> None:
        with self.qtbot.waitSignal(self.win.imageLoaded, timeout=10_000):
            self.drop([path], x_fraction)

    def load_both(self) -> None:
        """Drop the background, then the foreground on the right half; wait for the first preview."""
        self.drop_and_wait(self.images["background"])
        with self.qtbot.waitSignal(self.win.previewShown, timeout=10_000):
            self.drop_and_wait(self.images["foreground"], x_fraction=0.75)

    def wait_preview(self) -> object:
        """Wait until the preview of the document as it is now is displayed."""
        self.qtbot.waitUntil(
            lambda: self.win.last_preview is not None and self.win.last_preview.request_id == self.win._preview_id, timeout=10_000
        )
        return self.win.last_preview

    def layer_point(self, x: float, y: float) -> QPoint:
        """Where a point of the layer (its own pixel coordinates) is on the viewport."""
        item = self.win.canvas.layer_item
        return self.win.canvas.mapFromScene(item.mapToScene(QPointF(x, y)))

    def scene_point(self, x: float, y: float) -> QPoint:
        return self.win.canvas.mapFromScene(QPointF(x, y))

    def mouse(
        self, kind: QEvent.Type, point: QPoint, button: Qt.MouseButton, buttons: Qt.MouseButton, modifier: Qt.KeyboardModifier
    ) -> None:
        local = QPointF(point)
        event = QMouseEvent(kind, local, QPointF(self.viewport.mapToGlobal(point)), button, buttons, modifier)
        QApplication.sendEvent(self.viewport, event)

    def drag(
        self,
        start: QPoint,
        end: QPoint,
        steps: int = 5,
        button: Qt.MouseButton = Qt.MouseButton.LeftButton,
        modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
    ) -> None:
        """Press at ``start``, move in ``steps`` to ``end`` (holding ``modifier``), release."""
        self.mouse(QEvent.Type.MouseButtonPress, start, button, button, modifier)
        for index in range(1, steps + 1):
            point = start + (end - start) * (index / steps)
            self.mouse(QEvent.Type.MouseMove, point, Qt.MouseButton.NoButton, button, modifier)
        self.mouse(QEvent.Type.MouseButtonRelease, end, button, Qt.MouseButton.NoButton, modifier)

    def key(self, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
        self.qtbot.keyClick(self.win.canvas, key, modifier)


@pytest.fixture
def driver(qtbot, window: MainWindow, images: dict[str, Path]) -> Driver:  # noqa: ANN001
    window.canvas.setFocus()
    return Driver(qtbot, window, images)


@pytest.fixture
def shared_data() -> Path:
    """The real photos and cut-outs of the data folder; skips, saying where it looked, where absent."""
    root = data_root()
    if not (root / "backgrounds").is_dir() or not (root / "cutouts").is_dir():
        pytest.skip(f"needs the real data: backgrounds/ and cutouts/ are absent from {root} (set HARMONIZER_DATA)")
    return root
