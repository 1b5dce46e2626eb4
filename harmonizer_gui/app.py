"""Application start-up: the Qt application and the main window."""
from __future__ import annotations

import sys

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

APP_NAME = "Harmonizer"


class MainWindow(QMainWindow):
    """The main window. The composing canvas is still to come; for now it says how to use the CLI."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self.resize(900, 600)
        notice = QLabel(
            "The interactive editor is on its way.\n\n"
            "Meanwhile, harmonize from the command line:\n"
            "python main.py harmonize COMPOSITE MASK -o OUT.png"
        )
        notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setCentralWidget(notice)
        self.statusBar().showMessage("Ready")


def run_app() -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    window = MainWindow()
    window.show()
    return app.exec()
