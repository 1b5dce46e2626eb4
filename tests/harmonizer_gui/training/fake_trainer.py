"""A stand-in for ``main.py train`` that starts in milliseconds (no torch): JSON lines, SIGTERM, exit codes.

Usage: ``python fake_trainer.py [trainer arguments...]``; behaviour from the environment-free
arguments it understands: ``--out``, ``--steps``, plus ``--fake-delay S`` (seconds per step),
``--fake-ignore-term`` (never stops on SIGTERM), ``--fake-split`` (writes lines in pieces),
``--fake-crash`` (an uncaught exception after the first step: a traceback and exit code 1) and
``--fake-off-protocol`` (a step event with a renamed field, as a trainer out of step with the GUI
would send). Its events come from the protocol's own classes.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository, for the engine's protocol

from engine.exit_codes import EXIT_OK, EXIT_STOPPED  # noqa: E402
from engine.training_protocol import (  # noqa: E402
    LAST_CHECKPOINT,
    CheckpointEvent,
    DoneEvent,
    Event,
    StartEvent,
    StepEvent,
    event_line,
    event_record,
)


def _value(args: list[str], name: str, default: str) -> str:
    return args[args.index(name) + 1] if name in args else default


def main(args: list[str]) -> int:
    out = Path(_value(args, "--out", "run"))
    steps = int(_value(args, "--steps", "3"))
    delay = float(_value(args, "--fake-delay", "0.05"))
    split = "--fake-split" in args
    stop = [False]
    if "--fake-ignore-term" in args:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))

    def write(line: str) -> None:
        line += "\n"
        if split:  # a line in two writes, with a pause between: the reader must join them
            half = len(line) // 2
            sys.stdout.write(line[:half])
            sys.stdout.flush()
            time.sleep(0.02)
            line = line[half:]
        sys.stdout.write(line)
        sys.stdout.flush()

    def emit(event: Event) -> None:
        write(event_line(event, time=time.time()))

    out.mkdir(parents=True, exist_ok=True)
    print("a library says hello on stdout", flush=True)
    emit(StartEvent(step=0, total_steps=steps, out=str(out), device="cpu", world_size=1, train_images=8, val_images=2,
                    data=("fake: 10 photos",), style_features="random"))
    step = 0
    while step < steps and not stop[0]:
        time.sleep(delay)
        step += 1
        losses = {"total": 1.0 / step, "reconstruction": 0.5 / step, "harm": 0.0, "self_style": 0.3, "consistency": 0.2}
        event = StepEvent(step=step, total_steps=steps, epoch=0, losses=losses, lr=0.001, images_per_s=80.0,
                          eta_s=delay * (steps - step))
        if "--fake-off-protocol" in args:
            record = event_record(event)
            record["loss_terms"] = record.pop("losses")
            write(json.dumps(record))
        else:
            emit(event)
        if "--fake-crash" in args:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
    last = out / LAST_CHECKPOINT
    last.write_bytes(b"fake")
    emit(CheckpointEvent(step=step, kind="last", path=str(last)))
    emit(DoneEvent(step=step, stopped=stop[0], best=None, last=str(last), metrics={}, replicas_identical=True))
    print("fake trainer: done", file=sys.stderr, flush=True)
    return EXIT_STOPPED if stop[0] else EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
