"""Application start-up: the Qt application, a dark photo-tool look, and the main window."""

from __future__ import annotations

import os
import sys

import torch
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from harmonizer_gui.window.main_window import MainWindow
from harmonizer_gui.services.settings import APPLICATION, ORGANIZATION


def dark_palette() -> QPalette:
    """A neutral dark palette: photos are judged against grey, not against white."""
    palette = QPalette()
    roles = QPalette.ColorRole
    colours = {
        roles.Window: QColor(45, 45, 48),
        roles.WindowText: QColor(220, 220, 224),
        roles.Base: QColor(30, 30, 32),
        roles.AlternateBase: QColor(52, 52, 56),
        roles.ToolTipBase: QColor(30, 30, 32),
        roles.ToolTipText: QColor(220, 220, 224),
        roles.Text: QColor(220, 220, 224),
        roles.Button: QColor(55, 55, 59),
        roles.ButtonText: QColor(220, 220, 224),
        roles.BrightText: QColor(255, 90, 90),
        roles.Highlight: QColor(64, 156, 255),
        roles.HighlightedText: QColor(255, 255, 255),
        roles.Link: QColor(100, 170, 255),
        roles.PlaceholderText: QColor(140, 140, 146),
    }
    for role, colour in colours.items():
        palette.setColor(role, colour)
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(115, 115, 120))
    return palette


def configure(app: QApplication) -> None:
    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    app.setStyle("Fusion")
    app.setPalette(dark_palette())


def limit_compute_threads() -> None:
    """Leave a core to the UI thread: on a 2-core machine the worker computes on one."""
    torch.set_num_threads(max(1, min(8, (os.cpu_count() or 2) - 1)))


def run_app() -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure(app)
    limit_compute_threads()
    window = MainWindow()
    window.show()
    return app.exec()
