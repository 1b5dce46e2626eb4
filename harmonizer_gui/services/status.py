"""The status bar's permanent fields: model and device, last preview latency, zoom, busy indicator."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from harmonizer_gui.workers.harmonize import ModelInfo
from harmonizer_gui.training.runs import BUILT_IN_MODELS, run_label


class StatusPanel:
    def __init__(self, bar: QStatusBar) -> None:
        self._bar = bar
        self.busy_label = QLabel()
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # an indeterminate "working" bar
        self.busy.setFixedWidth(110)
        self.busy.setMaximumHeight(14)
        self.busy.setTextVisible(False)
        self.model = QLabel("Model: loading…")
        self.latency = QLabel("Preview: –")
        self.zoom = QLabel("100 %")
        for widget in (self.busy_label, self.busy, self.model, self.latency, self.zoom):
            widget.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(widget)
        self._busy_reasons: dict[str, str] = {}
        self._refresh_busy()

    def show_message(self, text: str, msecs: int = 6000) -> None:
        self._bar.showMessage(text, msecs)

    def set_model(self, info: ModelInfo) -> None:
        """A checkpoint is named as the Model menu names it (a run's name and date); the built-in
        models by their description. The tooltip has the description and the file."""
        name = info.description if info.spec in BUILT_IN_MODELS else run_label(info.spec)
        self.model.setText(f"Model: {name} · {info.device}")
        self.model.setToolTip(f"{info.description}\n{info.name} on {info.device}")

    def set_latency(self, seconds: float | None) -> None:
        self.latency.setText("Preview: –" if seconds is None else f"Preview: {seconds * 1000:.0f} ms")

    def set_zoom(self, zoom: float) -> None:
        self.zoom.setText(f"{zoom * 100:.0f} %")

    def set_busy(self, reason: str, text: str | None) -> None:
        """Start (``text``) or end (None) one reason to show the busy indicator."""
        if text is None:
            self._busy_reasons.pop(reason, None)
        else:
            self._busy_reasons[reason] = text
        self._refresh_busy()

    def _refresh_busy(self) -> None:
        texts = list(self._busy_reasons.values())
        self.busy.setVisible(bool(texts))
        self.busy_label.setVisible(bool(texts))
        self.busy_label.setText(" · ".join(texts))
