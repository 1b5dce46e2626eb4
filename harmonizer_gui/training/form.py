"""The training dialog's settings: data folder, starting point, length, batch, device, advanced.

A form that knows nothing about processes: it checks its inputs lightly and turns them into a
``TrainingRequest`` for a given run folder.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QLocale, Qt, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.devices import available_devices
from harmonizer_gui.training.estimate import LONG_RUN_S, duration_text, estimate_run
from harmonizer_gui.training.process import DEFAULT_BATCH, DEFAULT_LENGTHS, TrainingRequest
from harmonizer_gui.training.runs import DEFAULT_RUN_NAME, FolderCheck, check_data_folder

VGG_FILTER = "Weights (*.pth *.pt *.safetensors);;All files (*)"


def _hint(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 0.9)
    label.setFont(font)
    return label


class TrainingForm(QWidget):
    """Signals: changed() whenever something that decides whether Start is possible changed."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._current: str | None = None
        self._check = FolderCheck(False, "")
        self.name = QLineEdit(DEFAULT_RUN_NAME)
        self.name.setToolTip("The run's folder and its entry in the Model menu are named after it")
        self.data = QLineEdit()
        self.data.setPlaceholderText("Folder of training photos")
        self.data.setToolTip("images/ + masks/, RGBA cut-outs, manifest.csv, plain photos, or an iHarmony4 folder")
        self.browse = QPushButton("Browse…")
        self.data_check = _hint()
        self.from_current = QRadioButton("The current model")
        self.from_scratch = QRadioButton("Scratch (a new network)")
        self.start_from = QButtonGroup(self)
        self.start_from.addButton(self.from_current)
        self.start_from.addButton(self.from_scratch)
        self.start_note = _hint()
        self.length = QSpinBox(minimum=1, maximum=10_000_000, value=DEFAULT_LENGTHS["steps"], singleStep=50)
        self.length.setGroupSeparatorShown(True)
        self.unit = QComboBox()
        self.unit.addItems(["steps", "epochs"])
        self.unit.setToolTip("Steps: optimisation steps of one batch each. Epochs: passes over the training photos.")
        self.batch = QSpinBox(minimum=1, maximum=512, value=DEFAULT_BATCH)
        self.batch.setToolTip("Photos per step; lower it if the device runs out of memory")
        self.batch_note = _hint()
        self.estimate = _hint()
        self.estimate.setToolTip(
            "From the number of photos, their size, the steps, the batch and the device, with constants\n"
            "measured on one machine; the progress bar's remaining time replaces it once training runs."
        )
        self.device = QComboBox()
        for name in ["auto", *available_devices()]:
            self.device.addItem({"auto": f"Automatic ({available_devices()[0].upper()})", "cpu": "CPU"}.get(name, name.upper()),
                                name)
        self.advanced_toggle = QToolButton(text="Advanced", checkable=True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.setAutoRaise(True)
        self.style_weight = QLineEdit()
        self.style_weight.setPlaceholderText("trainer default")
        validator = QDoubleValidator(0.0, 1000.0, 6, self)
        validator.setLocale(QLocale.c())
        self.style_weight.setValidator(validator)
        self.style_weight.setToolTip("Weight of the style contrastive terms (lambda); empty: the trainer's default")
        self.vgg = QLineEdit()
        self.vgg.setPlaceholderText("auto")
        self.vgg.setToolTip("VGG-16 weights file for the style features; empty: cached ImageNet weights, else random")
        self.vgg_browse = QPushButton("Browse…")
        self._steps_value, self._epochs_value = DEFAULT_LENGTHS["steps"], DEFAULT_LENGTHS["epochs"]
        self._build()
        self.data.textChanged.connect(self.refresh_check)
        self.browse.clicked.connect(self._choose_data)
        self.vgg_browse.clicked.connect(self._choose_vgg)
        self.unit.currentTextChanged.connect(self._unit_changed)
        self.length.valueChanged.connect(self._update_run_notes)
        self.batch.valueChanged.connect(self._update_run_notes)
        self.device.currentIndexChanged.connect(self._update_run_notes)
        self.advanced_toggle.toggled.connect(self._show_advanced)
        self.refresh_check()
        self.set_current_model(None, "")

    def _build(self) -> None:
        data = QGroupBox("Training photos")
        data_row = QHBoxLayout()
        data_row.addWidget(self.data, 1)
        data_row.addWidget(self.browse)
        data_layout = QVBoxLayout(data)
        data_layout.addLayout(data_row)
        data_layout.addWidget(self.data_check)
        start = QGroupBox("Start from")
        start_layout = QVBoxLayout(start)
        start_layout.addWidget(self.from_current)
        start_layout.addWidget(self.from_scratch)
        start_layout.addWidget(self.start_note)
        run = QGroupBox("Run")
        form = QFormLayout(run)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Name:", self.name)
        length_row = QHBoxLayout()
        length_row.addWidget(self.length, 1)
        length_row.addWidget(self.unit)
        form.addRow("Length:", length_row)
        form.addRow("Batch size:", self.batch)
        form.addRow(self.batch_note)
        form.addRow("Device:", self.device)
        form.addRow(self.estimate)
        form.addRow(self.advanced_toggle)
        self.advanced = QWidget()
        advanced = QFormLayout(self.advanced)
        advanced.setContentsMargins(0, 0, 0, 0)
        advanced.addRow("Style weight:", self.style_weight)
        vgg_row = QHBoxLayout()
        vgg_row.addWidget(self.vgg, 1)
        vgg_row.addWidget(self.vgg_browse)
        advanced.addRow("VGG weights:", vgg_row)
        self.advanced.setVisible(False)
        form.addRow(self.advanced)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for group in (data, start, run):
            layout.addWidget(group)
        layout.addStretch(1)

    # -- state -----------------------------------------------------------------------------
    def set_current_model(self, checkpoint: str | None, label: str) -> None:
        """The model in use: a checkpoint can be fine-tuned; anything else means from scratch."""
        was_available, self._current = self._current is not None, checkpoint
        self.from_current.setEnabled(checkpoint is not None)
        if checkpoint is None:
            self.from_current.setText("The current model")
            self.from_scratch.setChecked(True)
            self.start_note.setText(
                f"The current model ({label or 'none'}) is not a trained network, so training starts from scratch. "
                "To fine-tune one, choose a checkpoint in the Model menu first."
            )
        else:
            self.from_current.setText(f"The current model: {label}")
            self.from_current.setToolTip(checkpoint)
            if not was_available:
                self.from_current.setChecked(True)
            self.start_note.setText("Fine-tuning keeps the current model's architecture and starts from its weights.")

    @property
    def init_checkpoint(self) -> str | None:
        return self._current if self.from_current.isChecked() and self.from_current.isEnabled() else None

    def check(self) -> FolderCheck:
        """The look at the data folder as it is typed now (cached: it reads the disk)."""
        return self._check

    def data_folder(self) -> str:
        return os.path.abspath(os.path.expanduser(self.data.text().strip()))

    def set_data_folder(self, path: str) -> None:
        self.data.setText(path)

    def batch_size(self) -> int:
        """The batch a run uses: the one chosen, or fewer when there are fewer training photos."""
        photos = self._check.training_photos
        return min(self.batch.value(), photos) if photos else self.batch.value()

    def device_name(self) -> str:
        """The chosen device, ``auto`` resolved to the one it picks."""
        name = self.device.currentData()
        return available_devices()[0] if name == "auto" else name

    def request(self, out: str, extra: tuple[str, ...] = ()) -> TrainingRequest:
        weight = self.style_weight.text().strip()
        return TrainingRequest(
            data=self.data_folder(),
            out=out,
            length=self.length.value(),
            unit=self.unit.currentText(),
            batch_size=self.batch_size(),
            device=self.device.currentData(),
            init=self.init_checkpoint,
            style_weight=float(weight) if weight else None,
            vgg_weights=self.vgg.text().strip(),
            extra=extra,
        )

    # -- reactions -------------------------------------------------------------------------
    def refresh_check(self) -> None:
        """Look at the data folder again (typed, chosen, or changed on disk since)."""
        result = self._check = check_data_folder(self.data.text())
        self.data_check.setText(result.text)
        self.data_check.setStyleSheet("" if result.usable or not self.data.text().strip() else "color: #e06c6c;")
        self._update_run_notes()
        self.changed.emit()

    def _update_run_notes(self) -> None:
        """Say when the batch is fitted to the photos, and how long the run will take."""
        check, batch = self._check, self.batch_size()
        note = ""
        if check.photos is not None and batch < self.batch.value():
            note = (f"{check.photos} photos, {check.photos - batch} of them kept for validation: each step trains "
                    f"on all the other {batch}.")
        self.batch_note.setText(note)
        self.batch_note.setVisible(bool(note))
        estimate = None
        if check.photos and check.training_photos and check.megapixels is not None:
            run = TrainingRequest("", "", self.length.value(), self.unit.currentText(), batch)
            estimate = estimate_run(run, check.training_photos, check.photos - check.training_photos, check.megapixels,
                                    self.device_name())
        if estimate is None:
            self.estimate.setText("Time: no estimate without photos to count." if check.usable else "")
            self.estimate.setStyleSheet("")
            return
        text = (f"Estimated time: {duration_text(estimate.seconds)} for {estimate.steps:,} steps of {batch} "
                f"photos of {check.megapixels:.1f} MP on the {self.device_name().upper()} (an estimate).")
        long = estimate.seconds > LONG_RUN_S
        if long:
            text += " Fewer steps, or smaller copies of the photos, train faster."
        self.estimate.setText(text)
        self.estimate.setStyleSheet("color: #e0a040;" if long else "")

    def _choose_data(self) -> None:
        start = self.data.text().strip() or os.path.expanduser("~")
        path = QFileDialog.getExistingDirectory(self, "Training Photos", start)
        if path:
            self.data.setText(path)

    def _choose_vgg(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "VGG-16 Weights", os.path.expanduser("~"), VGG_FILTER)
        if path:
            self.vgg.setText(path)

    def _unit_changed(self, unit: str) -> None:
        if unit == "epochs":
            self._steps_value = self.length.value()
            self.length.setValue(self._epochs_value)
            self.length.setSingleStep(1)
        else:
            self._epochs_value = self.length.value()
            self.length.setValue(self._steps_value)
            self.length.setSingleStep(50)

    def _show_advanced(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        self.advanced_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
