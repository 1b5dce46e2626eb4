"""The training dialog's live view: phase, progress with ETA, loss plot, metrics, preview, log.

It shows the events a ``TrainingProcess`` emits and keeps nothing else; ``reset`` starts a new run.
"""

from __future__ import annotations

import math
import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.training_protocol import StartEvent, StepEvent, ValidationEvent
from harmonizer_gui.training.loss_plot import LossPlot
from harmonizer_gui.training.process import Ending, Outcome

METRICS = (("mse", "MSE", "{:.1f}", False), ("psnr", "PSNR (dB)", "{:.2f}", True), ("fmse", "fMSE", "{:.1f}", False))
_PHASE_COLOURS = {"failed": "#e06c6c", "stopped": "#e0b050", "finished": "#6cc07a"}
_BETTER, _WORSE = QColor(108, 192, 122), QColor(224, 160, 80)


def format_duration(seconds: float) -> str:
    """``83`` -> ``1:23``, ``4000`` -> ``1:06:40``."""
    if not math.isfinite(seconds) or seconds < 0:
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _Preview(QLabel):
    """A picture scaled to fit, keeping its aspect ratio (tiny previews are enlarged)."""

    def __init__(self) -> None:
        super().__init__("No preview yet: one comes with each validation.")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.image = QImage()

    def set_image(self, image: QImage) -> None:
        self.image = image
        self._rescale()

    def clear_image(self, text: str) -> None:
        self.image = QImage()
        self.clear()
        self.setText(text)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self.image.isNull():
            return
        mode = Qt.TransformationMode.SmoothTransformation
        size = self.contentsRect().size()
        if self.image.width() * 3 <= size.width() and self.image.height() * 3 <= size.height():
            mode = Qt.TransformationMode.FastTransformation  # tiny working sizes: show the pixels
        scaled = self.image.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, mode)
        self.setPixmap(QPixmap.fromImage(scaled))


class TrainingMonitor(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.phase = QLabel("Choose your photos and press Start.")
        font = self.phase.font()
        font.setBold(True)
        self.phase.setFont(font)
        self.phase.setWordWrap(True)
        self.phase.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%p %")
        self.details = QLabel("")
        self.plot = LossPlot()
        self.log_scale = QCheckBox("Log scale", checked=True)
        self.metrics = QTableWidget(len(METRICS), 3)
        self.metrics_caption = QLabel("Validation: none yet")
        self.preview = _Preview()
        self.preview_caption = QLabel("composite · harmonized · real")
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(200)
        self.log.setVisible(False)
        self._started_at: float | None = None
        self._clock = QTimer(self, interval=1000)
        self._clock.timeout.connect(self._tick)
        self._last_step: StepEvent | None = None
        self._step_at = 0.0
        self._stopping = False
        self._build()
        self.log_scale.toggled.connect(self.plot.set_log_scale)

    def _build(self) -> None:
        table = self.metrics
        table.setHorizontalHeaderLabels(["", "Model", "Composite"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        table.setShowGrid(False)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setHighlightSections(False)
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.metrics_note = QLabel("Lower MSE and fMSE and higher PSNR are better. Green: the model beats the "
                                   "unharmonized composite; orange: not yet.")
        self.metrics_note.setWordWrap(True)
        self.metrics_note.setEnabled(False)
        self.metrics_note.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        table.setFixedWidth(270)
        for row, (_, title, _, _) in enumerate(METRICS):
            table.setItem(row, 0, QTableWidgetItem(title))
        self._clear_metrics()
        rows_height = table.verticalHeader().length()
        table.setFixedHeight(table.horizontalHeader().sizeHint().height() + rows_height + 2 * table.frameWidth())
        header = QHBoxLayout()
        header.addWidget(QLabel("Loss"))
        header.addStretch(1)
        header.addWidget(self.log_scale)
        bottom = QGridLayout()
        bottom.addWidget(self.metrics_caption, 0, 0)
        bottom.addWidget(self.preview_caption, 0, 1)
        bottom.addWidget(table, 1, 0, Qt.AlignmentFlag.AlignTop)
        bottom.addWidget(self.preview, 1, 1, 2, 1)
        bottom.addWidget(self.metrics_note, 2, 0)
        bottom.setRowStretch(2, 1)
        bottom.setColumnStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.phase)
        layout.addWidget(self.info)
        layout.addWidget(self.progress)
        layout.addWidget(self.details)
        layout.addLayout(header)
        layout.addWidget(self.plot, 5)
        layout.addLayout(bottom, 4)
        layout.addWidget(self.log, 2)

    def _clear_metrics(self) -> None:
        for row in range(len(METRICS)):
            for column in (1, 2):
                item = QTableWidgetItem("–")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.metrics.setItem(row, column, item)

    # -- a run's life ----------------------------------------------------------------------
    def reset(self, out: str) -> None:
        self.set_phase("Starting: loading the data and the model…")
        self.info.setText(f"Run folder: {out}")
        self.info.setToolTip(out)
        self.progress.setRange(0, 0)  # busy until the trainer says how many steps
        self.details.setText("")
        self.plot.clear()
        self._clear_metrics()
        self.metrics_caption.setText("Validation: none yet")
        self.preview.clear_image("No preview yet: one comes with each validation.")
        self.log.clear()
        self.log.setVisible(False)
        self._last_step, self._stopping = None, False
        self._started_at = time.monotonic()
        self._clock.start()

    def set_phase(self, text: str, kind: str = "") -> None:
        self.phase.setText(text)
        colour = _PHASE_COLOURS.get(kind)
        self.phase.setStyleSheet(f"color: {colour};" if colour else "")

    def on_start(self, event: StartEvent) -> None:
        if not self._stopping:
            self.set_phase("Training…")
        lines = ["; ".join(event.data),
                 f"Training on {event.train_images:,} images, validating on {event.val_images:,}, on {event.device.upper()}."]
        if event.style_features:
            lines.append(f"Style features: {event.style_features}")
        self.info.setText("\n".join(line for line in lines if line))
        self.progress.setRange(0, max(event.total_steps, 1))
        self.progress.setValue(event.step)
        self._tick()

    def on_step(self, event: StepEvent) -> None:
        self._last_step, self._step_at = event, time.monotonic()
        self.progress.setRange(0, max(event.total_steps, 1))
        self.progress.setValue(min(event.step, event.total_steps))
        self.plot.add(event.step, event.losses)
        self._tick()

    def on_validation(self, event: ValidationEvent) -> None:
        for row, (key, _, fmt, higher_is_better) in enumerate(METRICS):
            model, composite = event.metrics.get(key), event.composite.get(key)
            for column, value in ((1, model), (2, composite)):
                self.metrics.item(row, column).setText("–" if value is None else fmt.format(value))
            if model is not None and composite is not None:
                better = model > composite if higher_is_better else model < composite
                self.metrics.item(row, 1).setForeground(_BETTER if better else _WORSE)
        self.metrics_caption.setText(f"Validation at step {event.step}" + (" (best so far)" if event.best else ""))
        image = QImage(event.preview) if event.preview else QImage()
        if image.isNull():
            self.preview.clear_image("The preview picture could not be read.")
        else:
            self.preview.set_image(image)
            self.preview.setToolTip(event.preview)

    def on_stopping(self) -> None:
        self._stopping = True
        self.set_phase("Stopping after the current step (the last checkpoint is kept)…", "stopped")

    def show_outcome(self, outcome: Outcome) -> None:
        self._clock.stop()
        self._tick()
        if self.progress.maximum() == 0:  # ended before the trainer said how long it would be
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
        self.set_phase(outcome.title, outcome.ending.value)
        if outcome.ending is not Ending.FAILED:
            return
        if outcome.reason:
            self.info.setText(outcome.reason)
        # Standard error's last lines, unless they only repeat the reason (a traceback is worth seeing).
        extra = [line for line in outcome.log_tail if outcome.reason not in line or not outcome.reason]
        if extra:
            self.log.setPlainText("\n".join(outcome.log_tail))
            self.log.setVisible(True)

    def _tick(self) -> None:
        elapsed = time.monotonic() - self._started_at if self._started_at is not None else 0.0
        event = self._last_step
        running = self._clock.isActive()
        if event is None:
            self.details.setText(f"Elapsed {format_duration(elapsed)}")
            return
        self.details.setText(
            f"Step {event.step:,} / {event.total_steps:,} · {event.images_per_s:.1f} images/s · "
            + (f"ETA {format_duration(max(event.eta_s - (time.monotonic() - self._step_at), 0))} · " if running else "")
            + f"elapsed {format_duration(elapsed)} · "
            f"loss {event.losses.get('total', float('nan')):.4g}"
        )
