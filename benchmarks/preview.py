"""Live-preview latency: from an edit to harmonized preview pixels ready for the canvas; prints JSON.

    python benchmarks/preview.py [--runs N] [--model default] [--device cpu]

Each edit goes through the app's own path: the document setter a command calls, the snapshot the
main window takes, the harmonization worker on its thread (``PreviewRenderer`` at the app's preview
size), and the ``previewReady`` signal back on the main thread, whose result carries the layer
texture the canvas paints. Edits: ``paste`` (a new foreground layer), ``drag`` (move),
``scale``, ``stroke`` (a brush dab on the mask) and ``slider`` (strength).

- ``latency_ms``: per edit kind, ``median`` and ``p90`` of edit -> ``previewReady`` delivered.
- ``render_ms``: per edit kind, the median time the worker spent rendering (``PreviewResult.seconds``).
- ``first_preview_ms``: the first preview after the model loaded (one-off costs included).
- ``preview_pixels``: pixels of the preview the harmonizer sees; ``background`` and ``layer`` sizes.
The background is a photo from ``backgrounds/`` of the data folder (``$HARMONIZER_DATA``, else ``data/``) and the layer a cut-out from
``cutouts/`` when that folder exists, synthetic pictures otherwise.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

import cv2
import numpy as np
from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer


from engine.box import Box
from engine.data_location import data_root
from engine.imageio import LoadedImage, read_image
from harmonizer_gui.document.compose import fitted_size
from harmonizer_gui.document.document import Document, Layer
from harmonizer_gui.document.render import PREVIEW_MAX_PIXELS, PreviewResult
from harmonizer_gui.workers.harmonize import HarmonizeWorker

DATA = data_root()
TIMEOUT_MS = 120_000


def load_pictures() -> tuple[LoadedImage, list[LoadedImage], str]:
    """A background photo and two cut-outs to paste in turn."""
    backgrounds = sorted((DATA / "backgrounds").glob("*.jpg"))
    cutouts = sorted((DATA / "cutouts").glob("*.png"))
    if backgrounds and cutouts:
        picks = [cutouts[len(cutouts) // 2], cutouts[len(cutouts) // 3]]
        return read_image(backgrounds[0]), [read_image(p) for p in picks], "data-folder photo and cut-outs"
    rng = np.random.default_rng(0)
    background = cv2.resize(rng.integers(0, 256, (150, 200, 3), dtype=np.uint8), (4000, 3000))
    layers = []
    for colour in ((200, 80, 60), (60, 160, 90)):
        alpha = np.zeros((300, 300), np.uint8)
        cv2.circle(alpha, (150, 150), 140, 255, -1)
        layers.append(LoadedImage(rgb=np.full((300, 300, 3), colour, np.uint8), alpha=alpha, source="synthetic"))
    return LoadedImage(rgb=background, alpha=None, source="synthetic"), layers, "synthetic"


class PreviewProbe:
    """Applies edits to a document and waits for the worker's preview of each."""

    def __init__(self, document: Document, worker: HarmonizeWorker) -> None:
        self.document = document
        self.worker = worker
        self.request_id = 0
        self._result: PreviewResult | None = None
        self._loop = QEventLoop()
        worker.previewReady.connect(self._on_ready)
        worker.previewFailed.connect(lambda _id, message: sys.exit(f"preview failed: {message}"))

    def _on_ready(self, result: PreviewResult) -> None:
        if result.request_id == self.request_id:
            self._result = result
            self._loop.quit()

    def measure(self, edit: Callable[[], None]) -> tuple[float, float]:
        """Seconds from the edit to the preview delivered, and the worker's render seconds."""
        self._result = None
        start = time.perf_counter()
        edit()
        self.request_id += 1
        scene = self.document.snapshot(self.request_id)
        assert scene is not None
        self.worker.request_preview(scene)
        QTimer.singleShot(TIMEOUT_MS, self._loop.quit)
        if self._result is None:
            self._loop.exec()
        if self._result is None:
            sys.exit("no preview arrived in time")
        return time.perf_counter() - start, self._result.seconds


def wait_for_model(worker: HarmonizeWorker, spec: str, device: str) -> None:
    loop = QEventLoop()
    worker.modelReady.connect(lambda _info: loop.quit())
    worker.modelFailed.connect(lambda _spec, message: sys.exit(f"cannot load {spec}: {message}"))
    worker.load_model(spec, device)
    loop.exec()


def edits(document: Document, layers: list[LoadedImage], runs: int) -> dict[str, list[Callable[[], None]]]:
    """``runs`` edits of each kind, as the app's commands make them."""
    width, height = document.background_size or (1, 1)

    def paste(image: LoadedImage) -> Callable[[], None]:
        return lambda: document.set_layer(Layer.from_image(image, document.placement_for(image)))

    def drag(step: int) -> Callable[[], None]:
        sign = 1 if step % 2 == 0 else -1
        return lambda: document.set_transform(document.layer.transform.moved(sign * width * 0.02, sign * height * 0.01))

    def scale(step: int) -> Callable[[], None]:
        return lambda: document.set_transform(document.layer.transform.scaled(1.05 if step % 2 == 0 else 1 / 1.05))

    def stroke(step: int) -> Callable[[], None]:
        def dab() -> None:
            mask = document.layer.mask
            radius = max(2, min(mask.shape) // 20)
            centre = (mask.shape[1] // 2 + (step % 5 - 2) * radius, mask.shape[0] // 2)
            top, left = max(centre[1] - radius, 0), max(centre[0] - radius, 0)
            bottom, right = min(centre[1] + radius, mask.shape[0]), min(centre[0] + radius, mask.shape[1])
            patch = mask[top:bottom, left:right].copy()
            disc = np.zeros(patch.shape, np.uint8)
            cv2.circle(disc, (centre[0] - left, centre[1] - top), radius, 1, -1)
            patch[disc > 0] = 0.0 if step % 2 == 0 else 1.0
            document.swap_patch("mask", Box(top, left, bottom, right), patch)

        return dab

    def slider(step: int) -> Callable[[], None]:
        return lambda: document.set_strength(0.5 + 0.05 * (step % 10))

    return {
        "paste": [paste(layers[step % len(layers)]) for step in range(runs)],
        "drag": [drag(step) for step in range(runs)],
        "scale": [scale(step) for step in range(runs)],
        "stroke": [stroke(step) for step in range(runs)],
        "slider": [slider(step) for step in range(runs)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="edits of each kind")
    parser.add_argument("--model", default="default", help="default, classical or a checkpoint path")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    app = QCoreApplication.instance() or QCoreApplication([])
    background, layers, source = load_pictures()
    document = Document()
    worker = HarmonizeWorker()
    try:
        wait_for_model(worker, args.model, args.device)
        probe = PreviewProbe(document, worker)
        document.set_background(background)
        first, _ = probe.measure(lambda: document.set_layer(Layer.from_image(layers[0], document.placement_for(layers[0]))))
        latency: dict[str, dict[str, float]] = {}
        render: dict[str, float] = {}
        for kind, steps in edits(document, layers, args.runs).items():
            times = [probe.measure(step) for step in steps]
            waits = sorted(t for t, _ in times)
            latency[kind] = {
                "median": round(statistics.median(waits) * 1000, 1),
                "p90": round(waits[int(0.9 * (len(waits) - 1))] * 1000, 1),
            }
            render[kind] = round(statistics.median(r for _, r in times) * 1000, 1)
    finally:
        worker.stop()
    report = {
        "model": args.model,
        "device": args.device,
        "composite_source": source,
        "background": f"{background.width}x{background.height}",
        "layer": f"{layers[0].width}x{layers[0].height}",
        "preview_pixels": int(np.prod(fitted_size(background.width, background.height, PREVIEW_MAX_PIXELS))),
        "runs": args.runs,
        "first_preview_ms": round(first * 1000, 1),
        "latency_ms": latency,
        "render_ms": render,
    }
    print(json.dumps(report, indent=2))
    app.quit()


if __name__ == "__main__":
    main()
