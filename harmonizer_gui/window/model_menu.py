"""The Model menu: bundled default, classical, checkpoint files, and the device to run on.

It only offers choices and reports them (``modelChosen``, ``deviceChosen``); the main window asks
the worker to load, and calls ``set_current`` once a model is really in use (or to roll back).
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from engine.devices import available_devices
from harmonizer_gui.training.runs import BUILT_IN_MODELS, run_label

CHECKPOINT_FILTER = "SCS-Co checkpoints (*.safetensors);;All files (*)"
_BUILT_IN = (("default", "&Default (bundled SCS-Co)"), ("classical", "&Classical (Lab statistics transfer)"))


class ModelMenu(QObject):
    """Signals: modelChosen(str) with ``default``, ``classical`` or a path; deviceChosen(str)."""

    modelChosen = Signal(str)
    deviceChosen = Signal(str)
    checkpointAdded = Signal(str)

    def __init__(self, menu: QMenu, parent: QWidget) -> None:
        super().__init__(parent)
        self._menu, self._parent = menu, parent
        self._models = QActionGroup(self)
        self._models.triggered.connect(lambda action: self.modelChosen.emit(action.data()))
        self._by_spec: dict[str, QAction] = {}
        for spec, text in _BUILT_IN:
            self._add_model_action(spec, text)
        self._checkpoint_separator = menu.addSeparator()
        self.open_checkpoint = QAction("Open &Checkpoint…", parent)
        self.open_checkpoint.triggered.connect(self._choose_checkpoint)
        menu.addSeparator()
        menu.addAction(self.open_checkpoint)
        menu.addSeparator()
        self._devices = QActionGroup(self)
        self._devices.triggered.connect(lambda action: self.deviceChosen.emit(action.data()))
        device_menu = menu.addMenu("&Device")
        for name in ["auto", *available_devices()]:
            action = device_menu.addAction({"auto": "Automatic (best available)", "cpu": "CPU"}.get(name, name.upper()))
            action.setData(name)
            action.setCheckable(True)
            self._devices.addAction(action)
        self.checkpoint_folder = os.path.expanduser("~")

    def _add_model_action(self, spec: str, text: str) -> QAction:
        action = QAction(text, self._parent)
        action.setData(spec)
        action.setCheckable(True)
        action.setToolTip(spec)
        self._models.addAction(action)
        self._by_spec[spec] = action
        if spec in BUILT_IN_MODELS:
            self._menu.addAction(action)
        else:
            self._menu.insertAction(self._checkpoint_separator, action)
        return action

    def add_model(self, path: str) -> QAction:
        """Offer a checkpoint file in the menu (once); returns its action."""
        spec = os.path.abspath(os.path.expanduser(path))
        if spec in self._by_spec:
            return self._by_spec[spec]
        action = self._add_model_action(spec, run_label(spec).replace("&", "&&"))
        self.checkpointAdded.emit(spec)
        return action

    def set_current(self, spec: str) -> None:
        """Check the menu entry of the model in use, adding a checkpoint entry when needed."""
        action = self._by_spec.get(spec) or (self.add_model(spec) if spec not in BUILT_IN_MODELS else None)
        if action is not None:
            action.setChecked(True)

    def set_device(self, name: str) -> None:
        for action in self._devices.actions():
            action.setChecked(action.data() == name)

    def _choose_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._parent, "Open Checkpoint", self.checkpoint_folder, CHECKPOINT_FILTER)
        if path:
            self.checkpoint_folder = os.path.dirname(path)
            self.add_model(path).setChecked(True)
            self.modelChosen.emit(os.path.abspath(path))
