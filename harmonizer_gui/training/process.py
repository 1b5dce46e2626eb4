"""Running the trainer's command line as a child process and reading its JSON-lines progress.

The GUI never imports the trainer: it starts ``python -m harmonizer_cli train ... --progress
json`` with QProcess, turns each stdout line into a typed event (:mod:`engine.training_protocol`)
and emits it as a Qt signal. Lines may arrive in pieces or not be JSON at all (a library printing); pieces
are joined, strangers are kept with standard error's last lines, which explain a failure. An
event that does not match the protocol is logged as a warning and kept with those lines.
Cancelling sends SIGTERM: the trainer finishes its step, writes its last checkpoint and exits 130;
after a grace period it is killed.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from engine.exit_codes import EXIT_FAILED, EXIT_INPUT, EXIT_MODEL, EXIT_OK, EXIT_STOPPED
from engine.training_protocol import (
    JSON_PROGRESS,
    CheckpointEvent,
    DoneEvent,
    ErrorEvent,
    ProtocolError,
    StartEvent,
    StepEvent,
    ValidationEvent,
    parse_event,
)
from harmonizer_gui.training.runs import run_checkpoint

log = logging.getLogger(__name__)

# The folder holding the packages: the trainer's working directory, so that a checkout that was
# never installed still finds ``harmonizer_cli``.
PACKAGES_ROOT = Path(__file__).resolve().parents[2]
TRAINER_COMMAND = (sys.executable, "-m", "harmonizer_cli", "train")
STOP_GRACE_MS = 20_000
LOG_LINES = 12
# The dialog's proposals for a run: a fine-tuning run sized for a laptop, so its own numbers (it
# always passes them), not the trainer's defaults for a full training run.
DEFAULT_LENGTHS = {"steps": 300, "epochs": 10}
DEFAULT_BATCH = 8


@dataclass(frozen=True)
class TrainingRequest:
    """One run's settings, turned into trainer arguments by ``arguments()``.

    ``length`` counts ``unit`` (``steps`` or ``epochs``). Empty ``style_weight``/``vgg_weights``
    leave the trainer's defaults. ``extra`` is appended last, so it overrides (tests use it).
    """

    data: str
    out: str
    length: int = DEFAULT_LENGTHS["steps"]
    unit: str = "steps"
    batch_size: int = DEFAULT_BATCH
    device: str = "auto"
    init: str | None = None
    style_weight: float | None = None
    vgg_weights: str = ""
    extra: tuple[str, ...] = ()

    @property
    def validation_every(self) -> int | None:
        """Steps between validations (metrics and a preview), about ten a run; None: once per epoch."""
        return max(self.length // 10, 10) if self.unit == "steps" else None

    def arguments(self) -> list[str]:
        args = ["--data", self.data, "--out", self.out, f"--{self.unit}", str(self.length)]
        args += ["--batch-size", str(self.batch_size), "--device", self.device, "--progress", JSON_PROGRESS]
        # Report often enough for a live plot.
        if self.validation_every is not None:
            args += ["--log-every", str(min(max(self.length // 1000, 1), 10)), "--val-every", str(self.validation_every)]
        else:
            args += ["--log-every", "2"]
        if self.init:
            args += ["--init", self.init]
        if self.style_weight is not None:
            args += ["--style-weight", repr(self.style_weight)]
        if self.vgg_weights:
            args += ["--vgg-weights", self.vgg_weights]
        return args + list(self.extra)


class JsonLines:
    """Splits a byte stream into lines; ``feed`` returns the complete lines' decoded JSON objects.

    Lines that are not JSON objects are collected in ``strangers`` instead.
    """

    def __init__(self) -> None:
        self._pending = b""
        self.strangers: list[str] = []

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        return self._decode(lines)

    def flush(self) -> list[dict[str, Any]]:
        """Whatever was left without a final newline."""
        rest, self._pending = self._pending, b""
        return self._decode([rest])

    def _decode(self, lines: list[bytes]) -> list[dict[str, Any]]:
        records = []
        for raw in lines:
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                record = json.loads(text)
            except ValueError:
                record = None
            if isinstance(record, dict) and "event" in record:
                records.append(record)
            else:
                self.strangers.append(text)
        return records


class Ending(Enum):
    FINISHED = "finished"  # exit 0
    STOPPED = "stopped"  # cancelled: exit 130 (or killed after the grace period)
    FAILED = "failed"  # any other exit, a crash, or the program would not start


@dataclass(frozen=True)
class Outcome:
    """How a run ended: a one-line ``title``, the trainer's ``reason`` for a failure, and
    ``checkpoint``, the model the run leaves (best, else last), if any.
    """

    ending: Ending
    exit_code: int | None
    title: str
    checkpoint: str | None
    reason: str = ""
    log_tail: tuple[str, ...] = field(default_factory=tuple)
    last_step: int = 0

    @property
    def message(self) -> str:
        return f"{self.title.rstrip('.')}: {self.reason}" if self.reason else self.title


class TrainingProcess(QObject):
    """One trainer child process at a time.

    Signals: started(StartEvent), stepped(StepEvent), validated(ValidationEvent),
    checkpointSaved(CheckpointEvent), done(DoneEvent), errorReported(str) (the trainer's message),
    stopping() (cancel was asked), finished(Outcome) (always exactly once per ``start``).
    """

    started = Signal(object)
    stepped = Signal(object)
    validated = Signal(object)
    checkpointSaved = Signal(object)
    done = Signal(object)
    errorReported = Signal(str)
    stopping = Signal()
    finished = Signal(object)

    def __init__(self, parent: QObject | None = None, command: tuple[str, ...] = TRAINER_COMMAND) -> None:
        super().__init__(parent)
        self.command = command  # program and leading arguments; tests may point it elsewhere
        self.extra_arguments: list[str] = []  # appended after the request's own arguments
        self.stop_grace_ms = STOP_GRACE_MS
        self.arguments: list[str] = []
        self._process: QProcess | None = None
        self._request: TrainingRequest | None = None
        self._lines = JsonLines()
        self._stderr = JsonLines()
        self._tail: deque[str] = deque(maxlen=LOG_LINES)
        self._error = ""
        self._step = 0
        self._cancelled = self._killed = False
        self._kill_timer = QTimer(self, singleShot=True)
        self._kill_timer.timeout.connect(self._kill)

    def is_running(self) -> bool:
        return self._process is not None

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def start(self, request: TrainingRequest) -> None:
        if self._process is not None:
            raise RuntimeError("a training run is already in progress")
        self._request = request
        self._lines, self._stderr, self._tail = JsonLines(), JsonLines(), deque(maxlen=LOG_LINES)
        self._error, self._step, self._cancelled, self._killed = "", 0, False, False
        process = self._process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert("PYTHONUNBUFFERED", "1")
        process.setProcessEnvironment(environment)
        process.setWorkingDirectory(str(PACKAGES_ROOT))
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        program, *lead = self.command
        self.arguments = [*lead, *request.arguments(), *self.extra_arguments]
        log.info("starting training: %s %s", program, " ".join(self.arguments))
        process.start(program, self.arguments)

    def cancel(self) -> None:
        """Ask the trainer to stop after its current step (SIGTERM); kill it after the grace period."""
        if self._process is None or self._cancelled:
            return
        self._cancelled = True
        self._process.terminate()
        self._kill_timer.start(self.stop_grace_ms)
        self.stopping.emit()

    def stop_and_wait(self, timeout_ms: int | None = None) -> None:
        """Stop synchronously (the application is closing): terminate, wait, kill if need be."""
        process = self._process
        if process is None:
            return
        self.cancel()
        if not process.waitForFinished(self.stop_grace_ms if timeout_ms is None else timeout_ms):
            self._kill()
            process.waitForFinished(3000)

    def _kill(self) -> None:
        if self._process is not None:
            self._killed = True
            self._process.kill()

    # -- reading -------------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        if self._process is not None:
            self._dispatch(self._lines.feed(bytes(self._process.readAllStandardOutput())))
            self._keep_strangers()

    def _read_stderr(self) -> None:
        if self._process is not None:
            self._stderr.feed(bytes(self._process.readAllStandardError()))
            self._keep_strangers()

    def _keep_strangers(self) -> None:
        for parser in (self._lines, self._stderr):
            self._tail.extend(parser.strangers)
            parser.strangers.clear()

    def _dispatch(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            try:
                event = parse_event(record)
            except ProtocolError as error:
                log.warning("the trainer sent an event this GUI does not understand: %s", error)
                self._tail.append(f"unreadable trainer event: {error}")
                continue
            if isinstance(event, ErrorEvent):
                self._error = event.message or "the trainer reported an error"
                self.errorReported.emit(self._error)
            elif isinstance(event, StartEvent):
                self.started.emit(event)
            elif isinstance(event, StepEvent):
                self._step = event.step
                self.stepped.emit(event)
            elif isinstance(event, ValidationEvent):
                self.validated.emit(event)
            elif isinstance(event, CheckpointEvent):
                self.checkpointSaved.emit(event)
            elif isinstance(event, DoneEvent):
                self._step = event.step
                self.done.emit(event)

    # -- ending --------------------------------------------------------------------------------
    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._process is not None:
            self._error = f"the trainer could not be started: {self._process.errorString()}"
            self._on_finished(-1, QProcess.ExitStatus.CrashExit)

    def _on_finished(self, exit_code: int, status: QProcess.ExitStatus) -> None:
        process = self._process
        if process is None:
            return
        self._read_stdout()
        self._read_stderr()
        self._dispatch(self._lines.flush())
        self._stderr.flush()
        self._keep_strangers()
        self._kill_timer.stop()
        self._process = None
        process.deleteLater()
        self.finished.emit(self._outcome(exit_code if status == QProcess.ExitStatus.NormalExit else None))

    def _outcome(self, code: int | None) -> Outcome:
        assert self._request is not None
        checkpoint = run_checkpoint(self._request.out)
        tail = tuple(self._tail)
        if code == EXIT_OK:
            return Outcome(Ending.FINISHED, code, f"Finished after {self._step:,} steps.", checkpoint, "", tail, self._step)
        if code == EXIT_STOPPED or (self._cancelled and code is None):
            how = "killed after not stopping in time" if self._killed else "stopped"
            kept = "the last checkpoint is kept" if checkpoint else "no checkpoint had been written yet"
            return Outcome(Ending.STOPPED, code, f"Training {how} at step {self._step:,}; {kept}.", checkpoint, "", tail,
                           self._step)
        what = {EXIT_INPUT: "The data or settings cannot be used.", EXIT_MODEL: "The checkpoint or device cannot be used.",
                EXIT_FAILED: "Training failed."}.get(
            code, "The trainer crashed." if code is None else f"The trainer exited with code {code}.")
        return Outcome(Ending.FAILED, code, what, checkpoint, self._error or (tail[-1] if tail else ""), tail, self._step)
