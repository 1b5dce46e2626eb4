"""How long a training run will take, estimated before Start from the photos, steps and batch.

A cost model with documented constants, not a measurement of this machine. Every training image
of a step is read at full size (decoded, masked, composited, then shrunk to the training size),
so its cost grows with its pixel count; the network's forward and backward pass at the training
size costs the same for every image; and each pass over the photos (an epoch) starts the data
loaders again and validates once. So, for ``n`` steps of batch ``b`` over photos of ``m``
megapixels on average:

    seconds = n * (STEP_S + b * (IMAGE_S[device] + READ_S_PER_MEGAPIXEL * m)) + epochs * EPOCH_S

On an accelerator the loading workers read while the device computes, so an image costs the
larger of the two, not their sum. The constants come from ``main.py train`` runs with the
dialog's settings on a 2-core x86-64 CPU (torch 2.14.1, default architecture and loss, two
loading workers) on camera photos of 6-14 MP and on 0.1 MP copies of the same photos; the GPU
figure from the bundled model's training run on one H100 (``resources/models/default.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

READ_S_PER_MEGAPIXEL = 0.12  # decode, generate a mask, composite, shrink: per full-size megapixel
IMAGE_S = {"cpu": 0.45, "cuda": 0.004, "mps": 0.03}  # forward and backward of one image at 256 px
STEP_S = 0.1  # optimiser step and progress report
EPOCH_S = 6.0  # starting the loading workers and validating once per pass over the photos
LOADING_WORKERS = 2  # the trainer's default; the dialog does not change it
LONG_RUN_S = 30 * 60  # longer than this, the dialog points it out


@dataclass(frozen=True)
class Estimate:
    seconds: float
    steps: int


def estimate_run(
    photos: int, megapixels: float, length: int, unit: str, batch: int, device: str
) -> Estimate | None:
    """Seconds a run of ``length`` steps or epochs of batch ``batch`` over ``photos`` training photos
    of ``megapixels`` on average will take on ``device`` (``cpu``, ``cuda``, ``mps``); None when
    the photos cannot fill one batch."""
    steps_per_epoch = photos // batch
    if steps_per_epoch == 0:
        return None
    steps = length * steps_per_epoch if unit == "epochs" else length
    epochs = -(-steps // steps_per_epoch)
    read = READ_S_PER_MEGAPIXEL * megapixels
    compute = IMAGE_S.get(device, IMAGE_S["cpu"])
    per_image = read + compute if device == "cpu" else max(read / LOADING_WORKERS, compute)
    return Estimate(steps * (STEP_S + batch * per_image) + epochs * EPOCH_S, steps)


def duration_text(seconds: float) -> str:
    """``about 40 s``, ``about 12 min``, ``about 2 h 10 min``: rounded as an estimate deserves."""
    if seconds < 60:
        return f"about {max(10, round(seconds, -1)):.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    hours, minutes = divmod(round(seconds / 600) * 10, 60)
    return f"about {hours} h" + (f" {minutes} min" if minutes else "")
