"""The harmonization worker: previews in a thread, newest wins, exports written atomically."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QObject, Qt, Slot

from engine.harmonizer import ClassicalHarmonizer
from harmonizer_gui.workers import harmonize
from harmonizer_gui.document.compose import LayerTransform
from harmonizer_gui.workers.harmonize import ExportJob, HarmonizeWorker
from harmonizer_gui.document.render import Scene, to_display8


class Inbox(QObject):
    """Collects a worker's answers on the UI thread (the worker emits from its own thread)."""

    def __init__(self, worker: HarmonizeWorker) -> None:
        super().__init__()
        self.previews: list = []
        self.exports: list = []
        self.failures: list[tuple[str, str]] = []
        self.models: list = []
        queued = Qt.ConnectionType.QueuedConnection
        worker.previewReady.connect(self.on_preview, queued)
        worker.exportFinished.connect(self.on_export, queued)
        worker.modelFailed.connect(self.on_model_failed, queued)
        worker.modelReady.connect(self.on_model, queued)

    @Slot(object)
    def on_preview(self, result) -> None:  # noqa: ANN001
        self.previews.append(result)

    @Slot(object)
    def on_export(self, outcome) -> None:  # noqa: ANN001
        self.exports.append(outcome)

    @Slot(str, str)
    def on_model_failed(self, spec: str, message: str) -> None:
        self.failures.append((spec, message))

    @Slot(object)
    def on_model(self, info) -> None:  # noqa: ANN001
        self.models.append(info)


class SlowHarmonizer(ClassicalHarmonizer):
    """The classical transfer, pretending to be a heavy model."""

    def predict_mapping(self, composite, mask):  # noqa: ANN001, ANN201
        time.sleep(0.05)
        return super().predict_mapping(composite, mask)


def _scene(request_id: int, x: float = 60.0) -> Scene:
    rng = np.random.default_rng(0)
    background = np.clip(rng.normal(150, 20, (80, 120, 3)), 0, 255).astype(np.uint8)
    background[..., 2] //= 3
    layer = np.zeros((30, 40, 3), np.uint8)
    layer[..., 2] = 220
    mask = np.zeros((30, 40), np.float32)
    mask[5:25, 5:35] = 1.0
    return Scene(background, layer, mask, to_display8(layer), LayerTransform(x, 40.0), 1.0, request_id)


@pytest.fixture
def worker(qtbot, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    monkeypatch.setattr(harmonize, "load_harmonizer", lambda spec, device: SlowHarmonizer(name=spec))
    w = HarmonizeWorker()
    w.inbox = Inbox(w)
    w.load_model("classical", "cpu")
    qtbot.waitUntil(lambda: bool(w.inbox.models), timeout=5000)
    yield w
    w.stop()


def test_a_burst_of_requests_renders_the_newest_and_skips_most(qtbot, worker: HarmonizeWorker) -> None:  # noqa: ANN001
    results = worker.inbox.previews
    for request_id in range(1, 21):
        worker.request_preview(_scene(request_id, x=40.0 + request_id))
    qtbot.waitUntil(lambda: bool(results) and results[-1].request_id == 20, timeout=10_000)
    assert worker.rendered_ids[-1] == 20
    assert len(worker.rendered_ids) <= 3  # the one in flight, perhaps one more, and the newest
    assert worker.rendered_ids == sorted(worker.rendered_ids)


def test_preview_differs_inside_the_mask_and_equals_the_composite_outside(qtbot, worker: HarmonizeWorker) -> None:  # noqa: ANN001
    worker.request_preview(_scene(7))
    qtbot.waitUntil(lambda: bool(worker.inbox.previews), timeout=5000)
    result = worker.inbox.previews[0]
    assert result.request_id == 7 and result.harmonized.shape == (80, 120, 3)
    outside, inside = result.mask == 0, result.mask > 0.99
    assert np.array_equal(result.harmonized[outside], result.composite[outside])
    assert np.abs(result.harmonized[inside].astype(int) - result.composite[inside]).mean() > 10
    assert result.texture.shape == (30, 40, 3) and result.seconds > 0


def test_exports_write_full_size_and_report_failures(qtbot, worker: HarmonizeWorker, tmp_path: Path) -> None:  # noqa: ANN001
    target = tmp_path / "out.png"
    worker.export(ExportJob(_scene(1), str(target), "harmonized", overwrite=False))
    worker.export(ExportJob(_scene(1), str(target), "mask", overwrite=False))
    worker.export(ExportJob(_scene(1), str(tmp_path / "missing" / "out.png"), "composite", overwrite=False))
    qtbot.waitUntil(lambda: len(worker.inbox.exports) == 3, timeout=10_000)
    written, refused, failed = worker.inbox.exports  # exports run in order, none dropped
    assert written.error is None and target.is_file() and written.shape == (80, 120, 3)
    assert "already exists" in refused.error
    assert "does not exist" in failed.error and "nothing was overwritten" in failed.error


def test_a_model_that_cannot_load_is_reported_and_the_old_one_kept(
    qtbot, worker: HarmonizeWorker, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    def refuse(spec: str, device: str):  # noqa: ANN202
        raise ValueError(f"{spec} is not a checkpoint")

    monkeypatch.setattr(harmonize, "load_harmonizer", refuse)
    before = worker.harmonizer
    worker.load_model("/nowhere/model.safetensors", "cpu")
    qtbot.waitUntil(lambda: bool(worker.inbox.failures), timeout=5000)
    assert "not a checkpoint" in worker.inbox.failures[0][1]
    assert worker.harmonizer is before
