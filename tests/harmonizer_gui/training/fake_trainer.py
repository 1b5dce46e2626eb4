"""A stand-in for ``main.py train`` that starts in milliseconds (no torch): JSON lines, SIGTERM, exit codes.

Usage: ``python fake_trainer.py [trainer arguments...]``; behaviour from the environment-free
arguments it understands: ``--out``, ``--steps``, plus ``--fake-delay S`` (seconds per step),
``--fake-ignore-term`` (never stops on SIGTERM), ``--fake-split`` (writes lines in pieces) and
``--fake-crash`` (an uncaught exception after the first step: a traceback and exit code 1).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path


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

    def emit(event: str, **fields: object) -> None:
        line = json.dumps({"event": event, **fields}) + "\n"
        if split:  # a line in two writes, with a pause between: the reader must join them
            half = len(line) // 2
            sys.stdout.write(line[:half])
            sys.stdout.flush()
            time.sleep(0.02)
            line = line[half:]
        sys.stdout.write(line)
        sys.stdout.flush()

    out.mkdir(parents=True, exist_ok=True)
    print("a library says hello on stdout", flush=True)
    emit("start", step=0, total_steps=steps, out=str(out), device="cpu", world_size=1, train_images=8, val_images=2,
         data=["fake: 10 photos"], style_features="random")
    step = 0
    while step < steps and not stop[0]:
        time.sleep(delay)
        step += 1
        losses = {"total": 1.0 / step, "reconstruction": 0.5 / step, "self_style": 0.3, "consistency": 0.2}
        emit("step", step=step, total_steps=steps, epoch=0, losses=losses, lr=0.001, images_per_s=80.0,
             eta_s=delay * (steps - step))
        if "--fake-crash" in args:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
    (out / "last.safetensors").write_bytes(b"fake")
    emit("checkpoint", step=step, kind="last", path=str(out / "last.safetensors"))
    emit("done", step=step, stopped=stop[0], best=None, last=str(out / "last.safetensors"), metrics={})
    print("fake trainer: done", file=sys.stderr, flush=True)
    return 130 if stop[0] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
