"""The trainer's child process: JSON-lines parsing, arguments, endings, cancel and kill (a fake trainer)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harmonizer_gui.training.process import (
    CheckpointEvent,
    DoneEvent,
    Ending,
    JsonLines,
    StartEvent,
    StepEvent,
    TrainingProcess,
    TrainingRequest,
    ValidationEvent,
    parse_event,
)

FAKE_TRAINER = Path(__file__).with_name("fake_trainer.py")


def test_lines_arriving_in_pieces_are_joined_and_strangers_set_aside() -> None:
    lines = JsonLines()
    step = json.dumps({"event": "step", "step": 1}).encode()
    assert lines.feed(b'{"event": "start", "total') == []
    assert lines.feed(b'_steps": 4}\nWarning: something\n' + step[:5]) == [{"event": "start", "total_steps": 4}]
    assert lines.feed(step[5:] + b"\n\n[1, 2]\n") == [{"event": "step", "step": 1}]
    assert lines.feed(b'{"event": "done", "step": 4}') == []  # no newline yet
    assert lines.flush() == [{"event": "done", "step": 4}]
    assert lines.strangers == ["Warning: something", "[1, 2]"]


def test_undecodable_bytes_do_not_break_the_stream() -> None:
    lines = JsonLines()
    assert lines.feed(b"\xff\xfe garbage\n" + b'{"event": "error", "message": "x"}\n') == [{"event": "error", "message": "x"}]
    assert len(lines.strangers) == 1


def test_events_are_typed_and_malformed_ones_dropped() -> None:
    start = parse_event({"event": "start", "total_steps": 10, "step": 0, "device": "cpu", "train_images": 9,
                         "val_images": 1, "data": ["photos"], "style_features": "random"})
    assert start == StartEvent(10, 0, "cpu", 9, 1, ("photos",), "random")
    step = parse_event({"event": "step", "step": 2, "total_steps": 10, "epoch": 0, "losses": {"total": 0.5},
                        "images_per_s": 3.5, "eta_s": 8})
    assert isinstance(step, StepEvent) and step.losses == {"total": 0.5} and step.eta_s == 8.0
    validation = parse_event({"event": "validation", "step": 2, "metrics": {"mse": 1, "psnr": 30, "fmse": 9},
                              "composite": {"mse": 2, "psnr": 25, "fmse": 20}, "preview": "/p.png", "best": True})
    assert isinstance(validation, ValidationEvent) and validation.best and validation.metrics["psnr"] == 30.0
    assert parse_event({"event": "checkpoint", "step": 2, "kind": "last", "path": "/r/last.safetensors"}) == \
        CheckpointEvent(2, "last", "/r/last.safetensors")
    assert parse_event({"event": "done", "step": 2, "stopped": True, "best": None, "last": "/l"}) == DoneEvent(2, True, None, "/l")
    assert parse_event({"event": "step", "step": "two"}) is None
    assert parse_event({"event": "validation", "step": 1, "metrics": None}) is None
    assert parse_event({"event": "something new"}) is None


def test_request_arguments() -> None:
    plain = TrainingRequest(data="/d", out="/o", length=50, unit="steps", batch_size=4, device="cpu")
    assert plain.arguments() == ["--data", "/d", "--out", "/o", "--steps", "50", "--batch-size", "4", "--device", "cpu",
                                 "--progress", "json", "--log-every", "1", "--val-every", "10"]
    long = TrainingRequest(data="/d", out="/o", length=50_000).arguments()
    assert long[long.index("--log-every") + 1] == "10" and long[long.index("--val-every") + 1] == "5000"
    tuned = TrainingRequest(data="/d", out="/o", length=3, unit="epochs", init="/m.safetensors", style_weight=0.25,
                            vgg_weights="/vgg.pth", extra=("--size", "32"))
    args = tuned.arguments()
    assert args[4:6] == ["--epochs", "3"]
    assert args[args.index("--init") + 1] == "/m.safetensors"
    assert args[args.index("--style-weight") + 1] == "0.25"
    assert args[args.index("--vgg-weights") + 1] == "/vgg.pth"
    assert args[-2:] == ["--size", "32"]


def _fake(qtbot, *extra: str) -> TrainingProcess:  # noqa: ANN001
    process = TrainingProcess(command=(sys.executable, str(FAKE_TRAINER)))
    process.extra_arguments = list(extra)
    return process


def test_a_run_reports_every_event_in_order_even_when_lines_are_split(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    process = _fake(qtbot, "--fake-split")
    seen: list[str] = []
    for signal, name in ((process.started, "start"), (process.stepped, "step"), (process.checkpointSaved, "checkpoint"),
                         (process.done, "done")):
        signal.connect(lambda _event, name=name: seen.append(name))
    with qtbot.waitSignal(process.finished, timeout=20_000) as blocker:
        process.start(TrainingRequest(data=str(tmp_path), out=str(tmp_path / "run"), length=3))
    outcome = blocker.args[0]
    assert seen == ["start", "step", "step", "step", "checkpoint", "done"]
    assert outcome.ending is Ending.FINISHED and outcome.exit_code == 0 and outcome.last_step == 3
    assert outcome.checkpoint == str(tmp_path / "run" / "last.safetensors")
    assert "a library says hello on stdout" in outcome.log_tail and "fake trainer: done" in outcome.log_tail
    assert not process.is_running()


def test_cancel_stops_after_the_step_and_keeps_the_checkpoint(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    process = _fake(qtbot, "--fake-delay", "0.2")
    with qtbot.waitSignal(process.stepped, timeout=20_000):
        process.start(TrainingRequest(data=str(tmp_path), out=str(tmp_path / "run"), length=1000))
    with qtbot.waitSignal(process.finished, timeout=20_000) as blocker:
        process.cancel()
        process.cancel()  # a second click does nothing more
    outcome = blocker.args[0]
    assert outcome.ending is Ending.STOPPED and outcome.exit_code == 130
    assert "last checkpoint is kept" in outcome.message and outcome.checkpoint


def test_a_trainer_that_ignores_the_request_is_killed_after_the_grace_period(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    process = _fake(qtbot, "--fake-ignore-term", "--fake-delay", "0.2")
    process.stop_grace_ms = 300
    with qtbot.waitSignal(process.stepped, timeout=20_000):
        process.start(TrainingRequest(data=str(tmp_path), out=str(tmp_path / "run"), length=1000))
    with qtbot.waitSignal(process.finished, timeout=20_000) as blocker:
        process.cancel()
    outcome = blocker.args[0]
    assert outcome.ending is Ending.STOPPED and outcome.exit_code is None
    assert "killed" in outcome.message and outcome.checkpoint is None


def test_a_program_that_cannot_start_is_a_failure_not_a_hang(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    process = TrainingProcess(command=(str(tmp_path / "no-such-python"),))
    with qtbot.waitSignal(process.finished, timeout=10_000) as blocker:
        process.start(TrainingRequest(data=str(tmp_path), out=str(tmp_path / "run")))
    outcome = blocker.args[0]
    assert outcome.ending is Ending.FAILED and "could not be started" in outcome.message
    assert not process.is_running()


def test_only_one_run_at_a_time(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    process = _fake(qtbot, "--fake-delay", "0.2")
    request = TrainingRequest(data=str(tmp_path), out=str(tmp_path / "run"), length=1000)
    process.start(request)
    try:
        with pytest.raises(RuntimeError):
            process.start(request)
    finally:
        process.stop_and_wait(5000)
    assert not process.is_running()
