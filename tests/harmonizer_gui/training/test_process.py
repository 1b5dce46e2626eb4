"""The trainer's child process: JSON-lines parsing, the protocol round trip with the real trainer,
arguments, endings, cancel and kill (a fake trainer)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

import trainer.cli
from engine.training_protocol import EVENTS, CheckpointEvent, ErrorEvent, ProtocolError, event_line, parse_event
from harmonizer_cli import program
from harmonizer_gui.training.process import Ending, JsonLines, TrainingProcess, TrainingRequest
from tests.trainer.conftest import TINY_RUN, make_photo_folder

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


def _trainer_lines(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, list[dict]]:
    """Run ``main.py train`` in this process; its exit code and the records the GUI's reader takes from stdout."""
    code = program.main(["train", *argv, "--progress", "json"])
    lines = JsonLines()
    records = lines.feed(capsys.readouterr().out.encode()) + lines.flush()
    assert not lines.strangers
    return code, records


def test_every_event_the_trainer_emits_comes_back_through_the_guis_parser(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos, out = make_photo_folder(tmp_path / "photos"), tmp_path / "run"
    code, records = _trainer_lines(capsys, "--data", str(photos), "--out", str(out), *TINY_RUN, "--steps", "2",
                                   "--val-every", "1", "--checkpoint-every", "1")
    assert code == 0
    logged = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    assert logged == records  # the log and standard output carry the same lines
    code, refused = _trainer_lines(capsys, "--data", str(photos), "--out", str(tmp_path / "r"), *TINY_RUN, "--steps", "0")
    assert code == 2
    records += refused

    def stopped_at_once(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # a SIGTERM before the loop takes over

    monkeypatch.setattr(trainer.cli, "train", stopped_at_once)
    code, stopped = _trainer_lines(capsys, "--data", str(photos), "--out", str(tmp_path / "s"), *TINY_RUN, "--steps", "1")
    assert code == 130
    records += stopped
    for record in records:
        event = parse_event(record)
        assert json.loads(event_line(event, record.get("time"))) == record
    kinds = [record["event"] for record in records]
    assert set(kinds) == set(EVENTS)
    assert kinds[:2] == ["start", "step"] and kinds[-1] == "done"
    assert {record["kind"] for record in records if record["event"] == "checkpoint"} == {"best", "last"}
    assert parse_event(refused[-1]) == ErrorEvent(refused[-1]["message"]) and "steps=0" in refused[-1]["message"]


def test_a_line_off_the_protocol_is_refused_with_the_reason() -> None:
    record = {"event": "checkpoint", "time": 1.5, "step": 2, "kind": "last", "path": "/r/last.safetensors"}
    assert parse_event(record) == CheckpointEvent(step=2, kind="last", path="/r/last.safetensors")
    for line, reason in (({"event": "something new"}, "unknown event 'something new'"),
                         ({**record, "file": "/r"}, "unexpected: file"),
                         ({key: value for key, value in record.items() if key != "path"}, "missing: path"),
                         ({**record, "step": "two"}, "step must be int"),
                         ({**record, "step": True}, "step must be int"),
                         ({**record, "path": None}, "path must be str")):
        with pytest.raises(ProtocolError, match=reason):
            parse_event(line)


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


def test_an_event_off_the_protocol_is_not_dropped_silently(qtbot, tmp_path: Path, caplog) -> None:  # noqa: ANN001
    process = _fake(qtbot, "--fake-off-protocol")
    steps: list[object] = []
    process.stepped.connect(steps.append)
    with caplog.at_level(logging.WARNING), qtbot.waitSignal(process.finished, timeout=20_000) as blocker:
        process.start(TrainingRequest(data=str(tmp_path), out=str(tmp_path / "run"), length=2))
    assert not steps
    assert "missing: losses; unexpected: loss_terms" in caplog.text
    assert any("unreadable trainer event" in line for line in blocker.args[0].log_tail)
