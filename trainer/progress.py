"""Training progress for people (a progress bar) and for programs (JSON lines).

Every event is one JSON object with an ``event`` field, appended to ``progress.jsonl`` in the
run's folder and, with ``--progress json``, printed on standard output (the GUI reads those):

- ``start``: total_steps, step (where a resumed run starts), out, device, world_size,
  train_images, val_images, data, style_features
- ``step``: step, total_steps, epoch, losses {total, reconstruction, self_style, consistency},
  lr, images_per_s, eta_s
- ``validation``: step, epoch, metrics {mse, psnr, fmse}, composite {mse, psnr, fmse},
  preview (PNG path), best (bool)
- ``checkpoint``: step, kind (``last``/``best``), path
- ``done``: step, stopped (bool: cancelled before the end), best, last, metrics
- ``error``: message
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

PROGRESS_MODES = ("auto", "bar", "json", "none")


class Reporter:
    """Writes events; only the writing process (rank 0) passes ``enabled=True``."""

    def __init__(self, log_file: Path | None, mode: str = "auto", enabled: bool = True, stream: TextIO | None = None) -> None:
        if mode not in PROGRESS_MODES:
            raise ValueError(f"progress mode must be one of {PROGRESS_MODES}, got {mode!r}")
        self.enabled = enabled
        self.stream = stream or sys.stdout
        self.mode = ("bar" if sys.stderr.isatty() else "none") if mode == "auto" else mode
        self.log_file = log_file
        self._bar: tqdm | None = None

    def emit(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        record = {"event": event, "time": round(time.time(), 3), **fields}
        line = json.dumps(record, default=str)
        if self.log_file is not None:
            with open(self.log_file, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        if self.mode == "json":
            self.stream.write(line + "\n")
            self.stream.flush()
        elif self.mode == "bar":
            self._show(record)

    def _show(self, record: dict[str, Any]) -> None:
        event = record["event"]
        if event == "start":
            self._bar = tqdm(total=record["total_steps"], initial=record["step"], unit="step", desc="training", dynamic_ncols=True)
        elif event == "step" and self._bar is not None:
            self._bar.update(record["step"] - self._bar.n)
            losses = record["losses"]
            self._bar.set_postfix(loss=f"{losses['total']:.4f}", img_s=f"{record['images_per_s']:.1f}", refresh=False)
        elif event == "validation":
            m, c = record["metrics"], record["composite"]
            tqdm.write(
                f"step {record['step']}: validation fMSE {m['fmse']:.1f} (composite {c['fmse']:.1f}), "
                f"PSNR {m['psnr']:.2f} dB (composite {c['psnr']:.2f}){'  best' if record['best'] else ''}",
                file=sys.stderr,
            )
        elif event in ("done", "error"):
            if self._bar is not None:
                self._bar.close()
            message = record.get("message") or f"finished at step {record['step']}; best model: {record.get('best')}"
            print(("error: " if event == "error" else "") + message, file=sys.stderr)
