"""The harmonization worker: one thread that loads models, renders previews and exports.

Requests come from the UI thread and return through signals. Previews are *latest wins*: a new
preview request replaces one that has not started, so a burst of edits costs one render, not
twenty. Model loads come first, then exports (never dropped), then the newest preview. The UI
thread also drops any preview whose request id is not the newest it asked for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine import mapping_arrays
from engine.harmonizer import Harmonizer, load_harmonizer
from engine.imageio import ImageWriteError, write_png
from harmonizer_gui.document.render import PreviewRenderer, Scene, render_full

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    """The loaded model, for the status bar."""

    spec: str
    name: str
    description: str
    device: str


@dataclass(frozen=True)
class ExportJob:
    scene: Scene
    path: str
    kind: str  # see render.EXPORT_KINDS
    overwrite: bool


@dataclass(frozen=True)
class ExportOutcome:
    job: ExportJob
    error: str | None  # None: written
    seconds: float
    shape: tuple[int, ...] = ()


class HarmonizeWorker(QObject):
    """Signals (all delivered to the UI thread):
    previewReady(PreviewResult)
    previewFailed(int, str): request id and message.
    modelReady(ModelInfo)
    modelFailed(str, str): the requested model and the reason.
    exportFinished(ExportOutcome)
    """

    previewReady = Signal(object)
    previewFailed = Signal(int, str)
    modelReady = Signal(object)
    modelFailed = Signal(str, str)
    exportFinished = Signal(object)
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._preview: Scene | None = None
        self._model_request: tuple[str, str] | None = None
        self._exports: deque[ExportJob] = deque()
        self._harmonizer: Harmonizer | None = None
        self._renderer = PreviewRenderer()
        self.rendered_ids: list[int] = []  # every preview actually rendered (for tests and logs)
        self._thread = QThread()
        self._thread.setObjectName("harmonize-worker")
        self.moveToThread(self._thread)
        self._wake.connect(self._drain)
        self._thread.start()

    # -- requests (UI thread) ----------------------------------------------------------------
    def request_preview(self, scene: Scene) -> None:
        """Render ``scene`` soon; replaces any preview request that has not started yet."""
        with self._lock:
            self._preview = scene
        self._wake.emit()

    def load_model(self, spec: str, device: str) -> None:
        with self._lock:
            self._model_request = (spec, device)
        self._wake.emit()

    def export(self, job: ExportJob) -> None:
        with self._lock:
            self._exports.append(job)
        self._wake.emit()

    @property
    def harmonizer(self) -> Harmonizer | None:
        return self._harmonizer

    def stop(self) -> None:
        """Finish the job in progress (an export is never cut short) and end the thread."""
        with self._lock:
            self._preview = None
        self._thread.quit()
        self._thread.wait()

    # -- work (worker thread) ----------------------------------------------------------------
    @Slot()
    def _drain(self) -> None:
        while True:
            with self._lock:
                model, self._model_request = self._model_request, None
                export = self._exports.popleft() if self._exports and model is None else None
                preview = None
                if model is None and export is None:
                    preview, self._preview = self._preview, None
            if model is not None:
                self._load(*model)
            elif export is not None:
                self._export(export)
            elif preview is not None:
                self._render(preview)
            else:
                return

    def _load(self, spec: str, device: str) -> None:
        try:
            harmonizer = load_harmonizer(spec, device)
        except Exception as err:  # CheckpointError, DeviceError, OSError: all reported, none fatal
            log.warning("cannot load model %s: %s", spec, err)
            self.modelFailed.emit(spec, str(err))
            return
        self._harmonizer = harmonizer
        mapping_arrays.warm_up()  # here, not in the first preview
        self.modelReady.emit(ModelInfo(spec, harmonizer.name, harmonizer.description, str(harmonizer.device)))

    def _render(self, scene: Scene) -> None:
        if self._harmonizer is None:
            self.previewFailed.emit(scene.request_id, "no model is loaded")
            return
        try:
            result = self._renderer.render(self._harmonizer, scene)
        except Exception as err:  # a preview failure is shown, never fatal
            log.exception("preview failed")
            self.previewFailed.emit(scene.request_id, str(err))
            return
        self.rendered_ids.append(scene.request_id)
        self.previewReady.emit(result)

    def _export(self, job: ExportJob) -> None:
        start = time.perf_counter()
        error, shape = None, ()
        try:
            pixels = render_full(self._harmonizer, job.scene, job.kind)
            shape = pixels.shape
            write_png(job.path, np.ascontiguousarray(pixels), overwrite=job.overwrite)
        except FileExistsError:
            error = f'"{job.path}" already exists; it was not replaced'
        except ImageWriteError as err:
            error = str(err)
        except Exception as err:  # out of memory, a model failure: report, keep the app alive
            log.exception("export failed")
            error = f'could not export "{job.path}": {err}'
        self.exportFinished.emit(ExportOutcome(job, error, time.perf_counter() - start, tuple(shape)))
