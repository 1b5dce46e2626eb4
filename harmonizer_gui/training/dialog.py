"""Tools > Train personal model: settings on the left, the live run on the right.

The dialog is modeless, so the editor stays usable while a run trains in a separate process.
A run that finishes (or is stopped after its first checkpoint) offers its model: the dialog emits
``checkpointReady`` (the main window adds it to the Model menu) and enables "Use this model".
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QMessageBox, QPushButton, QVBoxLayout, QWidget

from engine.training_protocol import StepEvent
from harmonizer_gui.training.form import TrainingForm
from harmonizer_gui.training.monitor import TrainingMonitor
from harmonizer_gui.training.process import Ending, Outcome, TrainingProcess
from harmonizer_gui.training.runs import new_run_folder, run_label, safe_run_name


def breakable_path(path: Path) -> str:
    """The whole path, with a zero-width space after each separator so a word-wrapped label can
    break a long path between folders instead of cutting it."""
    return str(path).replace(os.sep, os.sep + "\u200b")


class TrainingDialog(QDialog):
    """Signals:
    checkpointReady(str): a run left a model (best, else last checkpoint) at this path.
    useModelRequested(str): the person asked to use that model now.
    activity(str): a one-line summary while training ("" once it ended), for the status bar.
    runFinished(Outcome): a run ended, however it ended.
    """

    checkpointReady = Signal(str)
    useModelRequested = Signal(str)
    activity = Signal(str)
    runFinished = Signal(object)

    def __init__(self, runs_folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train Personal Model")
        self.setModal(False)
        self.runs_folder = Path(runs_folder)
        self.process = TrainingProcess(self)
        self.form = TrainingForm()
        self.monitor = TrainingMonitor()
        self.use_button = QPushButton("Use This Model")
        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel Training")
        self.close_button = QPushButton("Close")
        self.run_folder: Path | None = None
        self.checkpoint: str | None = None  # the model the last run left
        self.checkpoint_used = False
        self.outcome: Outcome | None = None
        self._build()
        self._connect()
        self._update_buttons()
        self.resize(1000, 680)

    def _build(self) -> None:
        self.form.setFixedWidth(380)
        where = self.where = QLabel(f"Runs are saved in {breakable_path(self.runs_folder)}")
        where.setToolTip(str(self.runs_folder))
        where.setEnabled(False)
        where.setWordWrap(True)
        where.setFixedWidth(380)
        left = QVBoxLayout()
        left.addWidget(self.form, 1)
        left.addWidget(where)
        body = QHBoxLayout()
        body.addLayout(left)
        body.addSpacing(12)
        body.addWidget(self.monitor, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.use_button)
        buttons.addStretch(1)
        for button in (self.start_button, self.cancel_button, self.close_button):
            button.setAutoDefault(False)
            buttons.addWidget(button)
        self.use_button.setAutoDefault(False)
        self.start_button.setDefault(True)
        self.cancel_button.setToolTip("Stop after the current step; the last checkpoint is kept")
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addLayout(buttons)

    def _connect(self) -> None:
        process, monitor = self.process, self.monitor
        process.started.connect(monitor.on_start)
        process.stepped.connect(monitor.on_step)
        process.stepped.connect(self._report_step)
        process.validated.connect(monitor.on_validation)
        process.stopping.connect(monitor.on_stopping)
        process.stopping.connect(self._update_buttons)
        process.stopping.connect(lambda: self.activity.emit("Training: stopping…"))
        process.finished.connect(self._on_finished)
        self.form.changed.connect(self._update_buttons)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        self.use_button.clicked.connect(self._use_model)

    # -- public ----------------------------------------------------------------------------
    @property
    def extra_arguments(self) -> list[str]:
        """Trainer arguments appended after the form's (they win); not shown in the dialog."""
        return self.process.extra_arguments

    @extra_arguments.setter
    def extra_arguments(self, values: list[str]) -> None:
        self.process.extra_arguments = list(values)

    def is_running(self) -> bool:
        return self.process.is_running()

    def set_current_model(self, checkpoint: str | None, label: str) -> None:
        """What "start from the current model" would start from (None: not a checkpoint)."""
        self.form.set_current_model(checkpoint, label)  # a running run already has its arguments

    def start(self) -> None:
        if self.is_running():
            return
        self.form.refresh_check()
        if not self.form.check().usable:
            return
        self.run_folder = new_run_folder(self.runs_folder, self.form.name.text())
        self.form.name.setText(safe_run_name(self.form.name.text()))
        self.checkpoint, self.outcome, self.checkpoint_used = None, None, False
        request = self.form.request(str(self.run_folder))
        self.monitor.reset(str(self.run_folder))
        self.process.start(request)
        self.activity.emit("Training: starting…")
        self._update_buttons()

    def cancel(self) -> None:
        self.process.cancel()

    def ask_to_stop(self) -> bool:
        """While training, ask whether to stop it; True when it may be stopped (or is not running)."""
        if not self.is_running():
            return True
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self.window() if self.isVisible() else self.parentWidget() or self,
            "Training in Progress",
            "A personal model is being trained.\nStop training? The last checkpoint is kept and added to the Model menu.",
            buttons.Yes | buttons.No,
            buttons.No,
        )
        return answer == buttons.Yes

    def shutdown(self) -> None:
        """The application is closing: stop any run now, waiting for its last checkpoint."""
        self.process.stop_and_wait()

    def showEvent(self, event: QShowEvent) -> None:
        if not self.is_running():
            self.form.refresh_check()  # the folder may have appeared or gone while the dialog was hidden
        super().showEvent(event)

    # -- closing ---------------------------------------------------------------------------
    def reject(self) -> None:  # Esc, Close and the title bar's close box (via QDialog.closeEvent) come here
        if self.is_running():
            if not self.ask_to_stop():
                return
            self.cancel()
        super().reject()

    # -- reactions -------------------------------------------------------------------------
    def _report_step(self, event: StepEvent) -> None:
        percent = 100 * event.step // max(event.total_steps, 1)
        self.activity.emit(f"Training: step {event.step:,}/{event.total_steps:,} ({percent} %)")

    def _on_finished(self, outcome: Outcome) -> None:
        self.outcome = outcome
        if outcome.ending is Ending.FAILED and outcome.checkpoint is None and self.run_folder is not None:
            shutil.rmtree(self.run_folder, ignore_errors=True)  # a new folder of this run's, with nothing usable in it
        self.monitor.show_outcome(outcome)
        if outcome.ending in (Ending.FINISHED, Ending.STOPPED) and outcome.checkpoint:
            self.checkpoint = outcome.checkpoint
            self.use_button.setToolTip(f"Harmonize with “{run_label(outcome.checkpoint)}” now")
            self.checkpointReady.emit(outcome.checkpoint)
            self.monitor.set_phase(f"{outcome.title} “{run_label(outcome.checkpoint)}” is in the Model menu.",
                                   outcome.ending.value)
        self.activity.emit("")
        self._update_buttons()
        self.runFinished.emit(outcome)

    def _use_model(self) -> None:
        if self.checkpoint:
            self.checkpoint_used = True
            self.useModelRequested.emit(self.checkpoint)
            self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.is_running()
        self.form.setEnabled(not running)
        self.start_button.setEnabled(not running and self.form.check().usable)
        self.start_button.setText("Start Again" if self.outcome is not None and not running else "Start")
        self.cancel_button.setEnabled(running and not self.process.cancelled)
        self.cancel_button.setText("Stopping…" if running and self.process.cancelled else "Cancel Training")
        self.use_button.setVisible(self.checkpoint is not None)
        self.use_button.setEnabled(self.checkpoint is not None and not running and not self.checkpoint_used)
        self.use_button.setText("In Use" if self.checkpoint_used else "Use This Model")
        self.close_button.setEnabled(True)
        self.close_button.setDefault(not running and self.checkpoint is not None)
