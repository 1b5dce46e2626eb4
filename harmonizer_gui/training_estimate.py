"""How long a training run will take, estimated before Start from the photos, steps and batch.

A cost model with documented constants, not a measurement of this machine. Every training image
of a step is read at full size (decoded, masked, composited, then shrunk to the training size),
so its cost grows with its pixel count; the network's forward and backward pass at the training
size costs the same for every image; each pass over the photos (an epoch) starts the data
loaders again; and each validation reads the held-out photos and runs the network forward on
them. So, for ``n`` steps of batch ``b`` over photos of ``m`` megapixels on average, ``e`` epochs
and ``v`` validations of ``h`` held-out photos:

    read = READ_S_PER_MEGAPIXEL * m
    seconds = n * (STEP_S + b * (read + IMAGE_S[device])) + e * EPOCH_S + v * h * (read + IMAGE_S[device] / 3)

On an accelerator the loading workers read while the device computes, so a training image costs
the larger of the two, not their sum.

Where the constants come from (2-core x86-64 CPU, torch 2.14.1, default architecture and loss,
two loading workers): ``IMAGE_S["cpu"]`` is the README's 2.4 images/s at 256 px. ``READ_S_PER_MEGAPIXEL``
and ``EPOCH_S`` come from ``main.py train --batch-size 4`` on six camera photos of 6-13 MP and on
0.1 MP copies of them (one step per epoch: 22 s and 16 s a step on a CPU shared with another run,
about three times slower than an idle one), scaled so that the camera photos give the 0.3 images/s
seen on an idle machine. ``IMAGE_S["cuda"]`` is the bundled model's H100 run (5,500 steps of 32 at
128 px in 6 minutes) times four for 256 px; ``IMAGE_S["mps"]`` was not measured and is a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

from harmonizer_gui.training_process import TrainingRequest

READ_S_PER_MEGAPIXEL = 0.12  # decode, generate a mask, composite, shrink: per full-size megapixel
IMAGE_S = {"cpu": 0.42, "cuda": 0.008, "mps": 0.05}  # forward and backward of one image at 256 px
STEP_S = 0.1  # optimiser step and progress report
EPOCH_S = 6.0  # starting the loading workers for another pass over the photos
LOADING_WORKERS = 2  # the trainer's default; the dialog does not change it
VALIDATION_LIMIT = 200  # the trainer's default --val-limit
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
    epochs = -(-steps // steps_per_epoch)
    validations = steps // (request.validation_every or steps_per_epoch)
    read = READ_S_PER_MEGAPIXEL * megapixels
    compute = IMAGE_S.get(device, IMAGE_S["cpu"])
    per_image = read + compute if device == "cpu" else max(read / LOADING_WORKERS, compute)
    validating = validations * min(held_out, VALIDATION_LIMIT) * (read + compute / 3)
    return Estimate(steps * (STEP_S + batch * per_image) + epochs * EPOCH_S + validating, steps)


def duration_text(seconds: float) -> str:
    """``about 40 s``, ``about 12 min``, ``about 2 h 10 min``: rounded as an estimate deserves."""
    if seconds < 60:
        return f"about {max(10, round(seconds, -1)):.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    hours, minutes = divmod(round(seconds / 600) * 10, 60)
    return f"about {hours} h" + (f" {minutes} min" if minutes else "")
