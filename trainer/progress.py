"""Training progress for people (a progress bar) and for programs (JSON lines).

Every event (:mod:`engine.training_protocol`, which lists their fields) is one JSON line,
appended to ``progress.jsonl`` in the run's folder and, with ``--progress json``, printed on
standard output (the GUI reads those).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from engine.training_protocol import JSON_PROGRESS, DoneEvent, Event, StartEvent, StepEvent, ValidationEvent, event_line

PROGRESS_MODES = ("auto", "bar", JSON_PROGRESS, "none")


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

    def emit(self, event: Event) -> None:
        if not self.enabled:
            return
        line = event_line(event, time=round(time.time(), 3))
        if self.log_file is not None:
            with open(self.log_file, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        if self.mode == JSON_PROGRESS:
            self.stream.write(line + "\n")
            self.stream.flush()
        elif self.mode == "bar":
            self._show(event)

    def _show(self, event: Event) -> None:
        if isinstance(event, StartEvent):
            self._bar = tqdm(total=event.total_steps, initial=event.step, unit="step", desc="training", dynamic_ncols=True)
        elif isinstance(event, StepEvent) and self._bar is not None:
            self._bar.update(event.step - self._bar.n)
            self._bar.set_postfix(loss=f"{event.losses['total']:.4f}", img_s=f"{event.images_per_s:.1f}", refresh=False)
        elif isinstance(event, ValidationEvent):
            m, c = event.metrics, event.composite
            tqdm.write(
                f"step {event.step}: validation fMSE {m['fmse']:.1f} (composite {c['fmse']:.1f}), "
                f"PSNR {m['psnr']:.2f} dB (composite {c['psnr']:.2f}){'  best' if event.best else ''}",
                file=sys.stderr,
            )
        elif isinstance(event, DoneEvent):
            if self._bar is not None:
                self._bar.close()
            print(f"finished at step {event.step}; best model: {event.best}", file=sys.stderr)
