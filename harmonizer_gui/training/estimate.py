"""How long a training run will take, estimated before Start from the photos, steps and batch.

A cost model with documented constants, not a measurement of this machine. The trainer decodes
each photo once at full size and keeps it in memory at the training scale, so a photo's pixel
count costs once per run; every training image of a step then costs the network's forward and
backward pass at the training size; and each validation reads the held-out photos again and runs
the network forward on them. So, for ``n`` steps of batch ``b`` over ``p`` photos of ``m``
megapixels on average and ``v`` validations of ``h`` held-out photos:

    read = READ_S_PER_MEGAPIXEL * m
    seconds = n * (STEP_S + b * IMAGE_S[device]) + p * read + v * h * (read + IMAGE_S[device] / 3)

On an accelerator the loading workers read while the device computes, so the reads are shared
among them.

Where the constants come from (2-core x86-64 CPU, torch 2.14.1, default architecture and loss,
two loading workers): ``IMAGE_S["cpu"]`` is the README's 2.4 images/s at 256 px.
``READ_S_PER_MEGAPIXEL`` comes from ``main.py train --batch-size 4`` on camera photos of 6-13 MP
against 0.1 MP copies of them. ``IMAGE_S["cuda"]`` is the bundled model's H100 run (5,500 steps of
32 at 128 px in 6 minutes) times four for 256 px; ``IMAGE_S["mps"]`` was not measured and is a
guess.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.training_protocol import DEFAULT_VAL_LIMIT, DEFAULT_WORKERS
from harmonizer_gui.training.process import TrainingRequest

READ_S_PER_MEGAPIXEL = 0.12  # decode, generate a mask, composite, shrink: per full-size megapixel
IMAGE_S = {"cpu": 0.42, "cuda": 0.008, "mps": 0.05}  # forward and backward of one image at 256 px
STEP_S = 0.1  # optimiser step and progress report
LONG_RUN_S = 30 * 60  # longer than this, the dialog points it out


@dataclass(frozen=True)
class Estimate:
    seconds: float
    steps: int


def estimate_run(request: TrainingRequest, photos: int, held_out: int, megapixels: float, device: str) -> Estimate | None:
    """Seconds ``request`` will take over ``photos`` training photos and ``held_out`` validation
    photos of ``megapixels`` on average, on ``device`` (``cpu``, ``cuda``, ``mps``); None when the
    photos cannot fill one batch."""
    batch = request.batch_size
    steps_per_epoch = photos // batch
    if steps_per_epoch == 0:
        return None
    steps = request.length * steps_per_epoch if request.unit == "epochs" else request.length
    validations = steps // (request.validation_every or steps_per_epoch)
    read = READ_S_PER_MEGAPIXEL * megapixels
    compute = IMAGE_S.get(device, IMAGE_S["cpu"])
    # The dialog leaves the trainer's --workers and --val-limit at their defaults.
    reading = photos * read if device == "cpu" else photos * read / DEFAULT_WORKERS
    validating = validations * min(held_out, DEFAULT_VAL_LIMIT) * (read + compute / 3)
    return Estimate(steps * (STEP_S + batch * compute) + reading + validating, steps)


def duration_text(seconds: float) -> str:
    """``about 40 s``, ``about 12 min``, ``about 2 h 10 min``: rounded as an estimate deserves."""
    if seconds < 60:
        return f"about {max(10, round(seconds, -1)):.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    hours, minutes = divmod(round(seconds / 600) * 10, 60)
    return f"about {hours} h" + (f" {minutes} min" if minutes else "")
