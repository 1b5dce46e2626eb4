"""The main window: wires the document, canvas, actions, worker and settings together.

Handlers here turn user intent into commands on the undo stack or requests to the worker; they
hold no picture state of their own.
"""

from __future__ import annotations

import os
from functools import partial

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QCloseEvent, QUndoStack
from PySide6.QtWidgets import QMainWindow, QMessageBox

from engine.pipeline import mask_coverage_note
from harmonizer_gui.document import commands
from harmonizer_gui.window.actions import Actions, build_menus, shortcuts_html
from harmonizer_gui.canvas.view import Canvas
from harmonizer_gui.document.compose import LayerTransform, default_placement
from harmonizer_gui.document.document import Document
from harmonizer_gui.services.editor_state import EditorState, Tool, ViewMode
from harmonizer_gui.files.export import Exporter
from harmonizer_gui.workers.harmonize import ExportOutcome, HarmonizeWorker, ModelInfo
from harmonizer_gui.masking.editing import MaskEditor
from harmonizer_gui.window.model_menu import ModelMenu
from harmonizer_gui.files.opening import ImageOpener
from harmonizer_gui.document.render import PreviewResult
from harmonizer_gui.services.settings import Settings
from harmonizer_gui.services.status import StatusPanel
from harmonizer_gui.window.toolbar import build_toolbars
from harmonizer_gui.training.dialog import TrainingDialog
from harmonizer_gui.training.process import Outcome
from harmonizer_gui.training.runs import start_point

APP_NAME = "Harmonizer"
SCALE_STEP = 1.05
ROTATE_STEP = 1.0


class MainWindow(QMainWindow):
    """Signals (for tests and embedding):
    previewShown(PreviewResult): a preview was displayed (stale ones never are).
    imageLoaded(str): a background or foreground was loaded and applied.
    imageFailed(str): an image could not be read; the message was shown.
    grabcutDone(): a GrabCut result was applied to the mask (or failed and was reported).
    modelChanged(ModelInfo): a model is loaded and in use.
    """

    previewShown = Signal(object)
    imageLoaded = Signal(str)
    imageFailed = Signal(str)
    grabcutDone = Signal()
    modelChanged = Signal(object)

    def __init__(self, settings: Settings | None = None, model: str | None = None, device: str | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.document = Document(self)
        self.state = EditorState(self)
        self.undo_stack = QUndoStack(self)
        self.worker = HarmonizeWorker()
        self.canvas = Canvas(self.document, self.state, self.undo_stack, self)
        self.setCentralWidget(self.canvas)
        self.actions = Actions(self)
        undo = self.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut("Ctrl+Z")
        redo = self.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcuts(["Ctrl+Shift+Z", "Ctrl+Y"])
        undo.setIconText("Undo")  # the menu text names the command ("Undo Move Layer"); lists need the plain name
        redo.setIconText("Redo")
        self.menus = build_menus(self, self.actions, undo, redo)
        self.tool_controls, self.strength_control = build_toolbars(self, self.actions, self.state, self.document)
        self.model_menu = ModelMenu(self.menus["model"], self)
        self.status = StatusPanel(self.statusBar())
        self.exporter = Exporter(self, self.document, self.worker, self.settings)
        self.opener = ImageOpener(self, self.document, self.undo_stack, self.settings, self.status, self.menus["recent"])
        self.masks = MaskEditor(self, self.document, self.undo_stack, self.status)
        self.last_preview: PreviewResult | None = None
        self._mask_note: str | None = None  # said once in the status bar, until the mask changes
        self._preview_id = 0
        self._model_info: ModelInfo | None = None
        self._close_after_export = False
        self._close_after_training = False
        self.training_dialog: TrainingDialog | None = None
        self._shut_down = False
        self._requested_model = ("classical", "cpu")
        self._preview_timer = QTimer(self, singleShot=True, interval=0)
        self._preview_timer.timeout.connect(self.request_preview)
        self.resize(1280, 820)
        self._restore_settings()
        self._connect()
        self._update_title()
        self._update_enabled()
        self._select_model(model or self.settings.model, device or self.settings.device)
        self.canvas.setFocus()

    # -- set-up ------------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        self.document.set_strength(self.settings.strength)
        self.state.set_brush_size(self.settings.brush_size)
        self.state.set_hardness(self.settings.hardness)
        for path in self.settings.checkpoints():
            self.model_menu.add_model(path)
        self.model_menu.set_device(self.settings.device)
        geometry = self.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)

    def _connect(self) -> None:
        doc = self.document
        doc.edited.connect(self._preview_timer.start)
        for signal in (doc.backgroundChanged, doc.layerChanged):
            signal.connect(self._update_title)
            signal.connect(self._update_enabled)
        self.undo_stack.cleanChanged.connect(self._update_title)
        # Worker signals go to methods of this window (not lambdas), so they run on the UI thread.
        self.worker.previewReady.connect(self._on_preview)
        self.worker.previewFailed.connect(self._on_preview_failed)
        self.worker.modelReady.connect(self._on_model_ready)
        self.worker.modelFailed.connect(self._on_model_failed)
        self.exporter.started.connect(lambda _job: self.status.set_busy("export", "Exporting…"))
        self.exporter.finished.connect(self._on_export_finished)
        self.opener.loaded.connect(self.imageLoaded)
        self.opener.failed.connect(self.imageFailed)
        self.masks.grabcutDone.connect(self.grabcutDone)
        self.canvas.dropped.connect(self.opener.drop)
        self.canvas.zoomChanged.connect(self.status.set_zoom)
        self.canvas.strokeFinished.connect(self._on_stroke_finished)
        for spin in (self.tool_controls.size, self.tool_controls.feather):
            spin.editingFinished.connect(self.canvas.setFocus)  # shortcuts work again after typing
        self.model_menu.modelChosen.connect(lambda spec: self._select_model(spec, self.settings.device))
        self.model_menu.deviceChosen.connect(lambda name: self._select_model(self._current_spec(), name))
        self.model_menu.checkpointAdded.connect(self.settings.add_checkpoint)
        self._connect_file_actions()
        self._connect_layer_actions()
        self._connect_mask_actions()
        self._connect_view_actions()

    def _connect_file_actions(self) -> None:
        a = self.actions
        a.open_background.triggered.connect(partial(self.opener.ask_open, "background"))
        a.open_foreground.triggered.connect(partial(self.opener.ask_open, "foreground"))
        a.paste.triggered.connect(partial(self.opener.paste, None))
        a.paste_background.triggered.connect(partial(self.opener.paste, "background"))
        a.paste_foreground.triggered.connect(partial(self.opener.paste, "foreground"))
        a.export_harmonized.triggered.connect(partial(self.exporter.ask_and_export, "harmonized"))
        a.export_composite.triggered.connect(partial(self.exporter.ask_and_export, "composite"))
        a.export_mask.triggered.connect(partial(self.exporter.ask_and_export, "mask"))
        a.quit.triggered.connect(self.close)

    def _connect_layer_actions(self) -> None:
        a, move = self.actions, self._transform_layer
        a.flip.triggered.connect(lambda: move(lambda t: t.flipped(), "Flip Layer"))
        a.rotate_cw.triggered.connect(lambda: move(lambda t: t.rotated(ROTATE_STEP), "Rotate Layer"))
        a.rotate_ccw.triggered.connect(lambda: move(lambda t: t.rotated(-ROTATE_STEP), "Rotate Layer"))
        a.scale_up.triggered.connect(lambda: move(lambda t: t.scaled(SCALE_STEP), "Scale Layer"))
        a.scale_down.triggered.connect(lambda: move(lambda t: t.scaled(1 / SCALE_STEP), "Scale Layer"))
        a.centre_layer.triggered.connect(self._centre_layer)
        for (dx, dy), action in a.nudges.items():
            action.triggered.connect(partial(move, lambda t, dx=dx, dy=dy: t.moved(dx, dy), "Move Layer"))

    def _connect_mask_actions(self) -> None:
        a, state, masks = self.actions, self.state, self.masks
        for tool, action in a.tool_actions.items():
            action.triggered.connect(partial(self._choose_tool, tool))
        state.toolChanged.connect(lambda tool: a.tool_actions[tool].setChecked(True))
        a.brush_smaller.triggered.connect(lambda: state.grow_brush(1 / 1.2))
        a.brush_bigger.triggered.connect(lambda: state.grow_brush(1.2))
        a.brush_softer.triggered.connect(lambda: state.set_hardness(state.hardness - 0.1))
        a.brush_harder.triggered.connect(lambda: state.set_hardness(state.hardness + 0.1))
        a.overlay.toggled.connect(state.set_show_overlay)
        state.overlayChanged.connect(a.overlay.setChecked)
        a.feather.triggered.connect(lambda: masks.feather(state.feather_radius))
        a.invert.triggered.connect(masks.invert)
        a.clear.triggered.connect(masks.clear)
        a.fill.triggered.connect(masks.fill)
        a.reset_mask.triggered.connect(masks.reset)
        a.grabcut.triggered.connect(masks.run_grabcut)
        a.clear_marks.triggered.connect(masks.clear_marks)

    def _connect_view_actions(self) -> None:
        a, canvas = self.actions, self.canvas
        a.fit.triggered.connect(canvas.fit)
        a.actual_size.triggered.connect(lambda: canvas.set_zoom(1.0))
        a.zoom_in.triggered.connect(lambda: canvas.zoom_by(1.25))
        a.zoom_out.triggered.connect(lambda: canvas.zoom_by(1 / 1.25))
        a.compare.toggled.connect(self._sync_view_mode)
        a.split.toggled.connect(self._sync_view_mode)
        a.shortcuts.triggered.connect(lambda: QMessageBox.information(self, "Keyboard Shortcuts", shortcuts_html(a)))
        a.about.triggered.connect(self._about)
        a.train.triggered.connect(self.open_training)

    def add_model(self, path: str) -> None:
        """Offer a checkpoint in the Model menu (the training dialog calls this); not selected."""
        self.model_menu.add_model(path)

    def use_model(self, spec: str) -> None:
        """Harmonize with this model (``default``, ``classical`` or a checkpoint) on the chosen device."""
        self._select_model(spec, self.settings.device)

    # -- training ----------------------------------------------------------------------------
    def open_training(self) -> TrainingDialog:
        """Tools > Train Personal Model: show the training dialog (one per window, kept while open)."""
        dialog = self.training_dialog
        if dialog is None:
            dialog = self.training_dialog = TrainingDialog(self.settings.runs_folder(), self)
            dialog.form.set_data_folder(self.settings.training_data)
            dialog.checkpointReady.connect(self.add_model)
            dialog.useModelRequested.connect(self.use_model)
            dialog.activity.connect(self._on_training_activity)
            dialog.runFinished.connect(self._on_training_finished)
        dialog.set_current_model(*start_point(self._current_spec()))
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def _on_training_activity(self, text: str) -> None:
        self.status.set_busy("training", text or None)

    def _on_training_finished(self, outcome: Outcome) -> None:
        if self.training_dialog is not None:
            self.settings.training_data = self.training_dialog.form.data.text()
        self.status.show_message(outcome.message, 10000)
        if self._close_after_training:
            self._close_after_training = False
            self.close()

    # -- titles and enabled states -----------------------------------------------------------
    def _update_title(self) -> None:
        names = [
            os.path.basename(image.source)
            for image in (self.document.background, self.document.layer and self.document.layer.image)
            if image
        ]
        self.setWindowTitle(" + ".join(names) + f"[*] — {APP_NAME}" if names else APP_NAME)
        self.setWindowModified(self.has_unexported_work())

    def _update_enabled(self) -> None:
        a, complete, layer = self.actions, self.document.is_complete(), self.document.layer is not None
        for action in (a.export_harmonized, a.export_composite, a.export_mask, a.centre_layer):
            action.setEnabled(complete)
        for action in (a.flip, a.rotate_cw, a.rotate_ccw, a.scale_up, a.scale_down, *a.nudges.values()):
            action.setEnabled(layer)
        for action in (a.feather, a.invert, a.clear, a.fill, a.reset_mask, a.grabcut, a.clear_marks):
            action.setEnabled(layer)

    def has_unexported_work(self) -> bool:
        return self.document.is_complete() and not self.undo_stack.isClean()

    # -- layer and mask edits ----------------------------------------------------------------
    def _transform_layer(self, change, text: str) -> None:  # noqa: ANN001 - LayerTransform -> LayerTransform
        layer = self.document.layer
        if layer is not None:
            self.undo_stack.push(commands.TransformCommand(self.document, change(layer.transform), text))

    def _centre_layer(self) -> None:
        layer, size = self.document.layer, self.document.background_size
        if layer is not None and size is not None:
            placed = default_placement(layer.size, size)
            self._transform_layer(lambda t: LayerTransform(placed.x, placed.y, t.scale, t.angle, t.flip), "Centre Layer")

    def _choose_tool(self, tool: Tool) -> None:
        self.state.set_tool(tool)
        if tool.marks:
            self.state.set_show_overlay(True)

    def _on_stroke_finished(self, tool: Tool) -> None:
        if tool.marks:
            self.masks.run_grabcut()

    def _sync_view_mode(self) -> None:
        mode = (
            ViewMode.ORIGINAL
            if self.actions.compare.isChecked()
            else ViewMode.SPLIT
            if self.actions.split.isChecked()
            else ViewMode.HARMONIZED
        )
        self.state.set_view_mode(mode)

    # -- harmonizing -------------------------------------------------------------------------
    def request_preview(self) -> int:
        """Ask the worker for a preview of the document as it is now; returns the request id."""
        self._preview_id += 1
        scene = self.document.snapshot(self._preview_id)
        if scene is not None:
            self.worker.request_preview(scene)
        return self._preview_id

    def _on_preview(self, result: PreviewResult) -> None:
        if result.request_id != self._preview_id:  # a newer edit is already on its way
            return
        self.last_preview = result
        self.canvas.layer_item.set_texture(result.texture)
        self.status.set_latency(result.seconds)
        self.strength_control.set_model_share(result.share)
        note = mask_coverage_note(result.mask)
        if note and note != self._mask_note:
            self.status.show_message(note.capitalize() + ".")
        self._mask_note = note
        self.previewShown.emit(result)

    def _on_preview_failed(self, request_id: int, message: str) -> None:
        if request_id == self._preview_id:
            self.status.show_message(f"Preview failed: {message}")

    def _current_spec(self) -> str:
        return self._model_info.spec if self._model_info else self.settings.model

    def _select_model(self, spec: str, device: str) -> None:
        self.status.model.setText(f"Model: loading {os.path.basename(spec)}…")
        self.model_menu.set_current(spec)
        self.model_menu.set_device(device)
        self._requested_model = (spec, device)
        self.worker.load_model(spec, device)

    def _on_model_ready(self, info: ModelInfo) -> None:
        self._model_info = info
        self.settings.model, self.settings.device = self._requested_model
        self.status.set_model(info)
        self.model_menu.set_current(info.spec)
        self.request_preview()
        if self.training_dialog is not None:
            self.training_dialog.set_current_model(*start_point(self._current_spec()))
        self.modelChanged.emit(info)

    def _on_model_failed(self, spec: str, message: str) -> None:
        QMessageBox.warning(self, "Cannot Use Model", f"{message}\n\nKeeping the model in use.")
        if self._model_info is None:
            self._select_model("classical", "cpu")
            return
        self.model_menu.set_current(self._model_info.spec)
        self.model_menu.set_device(self.settings.device)
        self.status.set_model(self._model_info)

    def _on_export_finished(self, outcome: ExportOutcome) -> None:
        if self.exporter.running == 0:
            self.status.set_busy("export", None)
        if outcome.error is None:
            bits = 16 if outcome.job.scene.background.dtype == np.uint16 else 8
            size = f"{outcome.shape[1]}×{outcome.shape[0]}" if len(outcome.shape) >= 2 else ""
            self.status.show_message(
                f"Exported {os.path.basename(outcome.job.path)} ({size}, {bits}-bit) in {outcome.seconds:.1f} s", 10000
            )
            if outcome.job.kind == "harmonized":
                self.undo_stack.setClean()
        if self._close_after_export:
            self._close_after_export = False
            if outcome.error is None:
                self.close()

    # -- closing -----------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        training = self.training_dialog
        if training is not None and training.is_running():
            if training.ask_to_stop():  # stop, and close once the run has saved its last checkpoint
                self._close_after_training = True
                training.cancel()
                self.status.show_message("Stopping training; the window closes once its last checkpoint is saved…")
            event.ignore()
            return
        if self.has_unexported_work() and not self._confirm_close():
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def _confirm_close(self) -> bool:
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self,
            "Unexported Changes",
            "The harmonized picture has changed since it was last exported.\nExport it before closing?",
            buttons.Save | buttons.Discard | buttons.Cancel,
            buttons.Save,
        )
        if answer == buttons.Save:
            self._close_after_export = self.exporter.ask_and_export("harmonized")
            return False
        return answer == buttons.Discard

    def shutdown(self) -> None:
        """Stop the worker and background jobs and remember the settings (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        self.settings.strength = self.document.strength
        self.settings.brush_size = self.state.brush_size
        self.settings.hardness = self.state.hardness
        self.settings.set_geometry(self.saveGeometry())
        self.settings.sync()
        if self.training_dialog is not None:
            self.training_dialog.shutdown()
        self.worker.stop()
        self.opener.tasks.wait()
        self.masks.tasks.wait()

    def _about(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<b>{APP_NAME}</b><p>Paste a foreground onto a background; the foreground is re-coloured so the "
            "composite looks like one photograph.</p><p>Built on SCS-Co (Hang et al., CVPR 2022).</p>",
        )
