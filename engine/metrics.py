"""Masked image metrics: the one home of MSE, PSNR and foreground MSE (fMSE).

The iHarmony4 evaluation protocol resizes the prediction, the real image and the mask to
256x256, then measures on the 0-255 scale:

* MSE over all pixels and channels,
* PSNR = 10 * log10(255^2 / MSE),
* fMSE: squared error summed over the foreground pixels and channels, divided by
  ``3 * number of foreground pixels``.

Scores are reported per image and as the arithmetic mean over images (the mean
PSNR is the mean of per-image PSNRs, not the PSNR of the mean MSE). Passing
``size=None`` to :func:`image_metrics` measures at full resolution instead.

The maths is written once, on batched tensors: :func:`masked_mse` (also the training loss's
reconstruction term and the synthesis's measure of an edit), :func:`mse` and :func:`psnr`.
:func:`scores` measures a batch of ``[0, 1]`` tensors the protocol's way (validation);
:func:`image_metrics` one image held in numpy arrays (evaluation).

For :func:`image_metrics`, images are ``(H, W, 3)`` arrays of dtype ``uint8`` (0-255), ``uint16``
(0-65535) or float (0-1). Masks are ``(H, W)`` arrays, float in ``[0, 1]`` or ``uint8`` 0/255; a
pixel is foreground when its normalised value is above 0.5.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch
from torch import Tensor

EVAL_SIZE = 256
"""Side length the iHarmony4 protocol resizes images and masks to."""

PEAK = 255.0
"""The largest code value of the 0-255 scale the scores are on."""

_MIN_MSE = 1e-10  # keeps PSNR finite (about 168 dB) for identical images
_MASK_THRESHOLD = 0.5


def masked_mse(pred: Tensor, target: Tensor, mask: Tensor, min_area: float = 0.0) -> Tensor:
    """Foreground MSE of each image: the mask-weighted squared error per foreground pixel and channel.

    ``sum(mask * (pred - target)**2) / (C * max(sum(mask), min_area))``, on the inputs' scale and
    in their dtype; 0 for an empty mask. With a binary mask on the 0-255 scale this is the
    protocol's fMSE. ``min_area`` floors the area, so that a training loss does not blow up on
    tiny foregrounds.

    Shape:
        pred, target ``(B, C, H, W)``; mask ``(B, 1, H, W)``; output ``(B,)``.
    """
    error = (mask * (pred - target) ** 2).sum(dim=(1, 2, 3))
    area = mask.sum(dim=(1, 2, 3)).clamp(min=min_area)
    # An empty mask has no error either: dividing by 1 instead of 0 keeps it 0, gradients included.
    return error / (pred.shape[1] * torch.where(area > 0, area, torch.ones_like(area)))


def mse(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error of each image over all its pixels and channels, on the inputs' scale.

    Shape:
        pred, target ``(B, C, H, W)``; output ``(B,)``.
    """
    return ((pred - target) ** 2).mean(dim=(1, 2, 3))


def psnr(mse_values: Tensor) -> Tensor:
    """PSNR in dB of MSEs on the 0-255 scale; the MSE is floored at 1e-10, so identical images
    give a large finite value rather than ``inf``."""
    return 10.0 * torch.log10(PEAK**2 / mse_values.clamp(min=_MIN_MSE))


def psnr_to_mse(psnr_db: float) -> float:
    """The MSE on the 0-255 scale that has this PSNR (the inverse of :func:`psnr`)."""
    return PEAK**2 * 10.0 ** (-psnr_db / 10.0)


def scores(pred: Tensor, target: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """The protocol's MSE, PSNR and fMSE of each image of a batch, on the 0-255 scale.

    Measured in float64 on the CPU, at the images' size; a pixel is foreground where the mask is
    above 0.5.

    Args:
        pred: predictions in ``[0, 1]``.
        target: real images in ``[0, 1]``.
        mask: foreground weights in ``[0, 1]``.

    Returns:
        ``{"mse": ..., "psnr": ..., "fmse": ...}``, each ``(B,)``.

    Shape:
        pred, target ``(B, 3, H, W)``; mask ``(B, 1, H, W)``.
    """
    pred, target, mask = (t.detach().to("cpu", torch.float64) for t in (pred, target, mask))
    return _scores(pred * PEAK, target * PEAK, mask)


def image_metrics(
    pred: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray,
    size: int | None = EVAL_SIZE,
) -> dict[str, float]:
    """All three metrics for one image, optionally after the protocol's resize.

    Args:
        pred: Predicted image, ``(H, W, 3)``, uint8, uint16 or float in [0, 1].
        target: Reference image with the same shape as ``pred``.
        mask: Foreground mask, ``(H, W)`` or ``(H, W, 1)``, float in [0, 1] or uint8 0/255.
        size: Side length to resize to before measuring (bilinear, no rounding
            of the images; the mask is thresholded at 0.5 after resizing).
            ``None`` measures at full resolution.

    Returns:
        ``{"mse": ..., "psnr": ..., "fmse": ...}``.

    Raises:
        ValueError: If the shapes do not agree or ``size`` is not positive.
        TypeError: If a dtype is not supported.
    """
    pred_f, target_f = _prepare_pair(pred, target)
    mask_f = _prepare_mask(mask, pred_f.shape[:2])
    if size is not None:
        pred_f, target_f, mask_f = _resize_all(pred_f, target_f, mask_f, size)
    values = _scores(_as_batch(pred_f), _as_batch(target_f), _as_batch(mask_f[:, :, None]))
    return {key: float(value) for key, value in values.items()}


def best_blend_fmse(composite: np.ndarray, strongest: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """The lowest full-resolution fMSE of any blend ``composite + t * (strongest - composite)``,
    ``t`` in ``[0, 1]``.

    With ``strongest`` a model's result at its greatest strength, this is what the strength would
    give if it were set right for this one picture: how far the direction of the model's
    correction reaches, whatever share of it the model chose.

    Args:
        composite, strongest, target: ``(H, W, 3)`` images, as for :func:`image_metrics`.
        mask: Foreground mask, as for :func:`image_metrics`.
    """
    base, far = _prepare_pair(composite, strongest)
    if np.shape(target) != base.shape:
        raise ValueError(f"target shape {np.shape(target)} does not match the composite's {base.shape}")
    target_f = _to_float255(np.asarray(target))
    foreground = _prepare_mask(mask, base.shape[:2]) > _MASK_THRESHOLD
    difference = far - base
    change, needed = difference[foreground], (target_f - base)[foreground]
    reach = float((change * change).sum())
    share = min(max(float((change * needed).sum()) / reach, 0.0), 1.0) if reach > 0 else 0.0
    best = base + share * difference
    return float(masked_mse(_as_batch(best), _as_batch(target_f), _as_batch(foreground[:, :, None].astype(np.float64))))


class MetricAccumulator:
    """Collects per-image metrics and reports their means.

    Example:
        >>> acc = MetricAccumulator()
        >>> acc.add("a0001_1_1", {"mse": 4.0, "psnr": 42.0, "fmse": 10.0})
        >>> acc.means()["mse"]
        4.0
    """

    def __init__(self) -> None:
        self._entries: list[tuple[str, dict[str, float]]] = []

    def add(self, name: str, values: dict[str, float]) -> None:
        """Record the metrics of one image.

        Args:
            name: Image identifier, e.g. the composite stem.
            values: Metric name -> value. Every image must report the same keys.

        Raises:
            ValueError: If the keys differ from those of the images added before.
        """
        if self._entries:
            expected = set(self._entries[0][1])
            if set(values) != expected:
                raise ValueError(
                    f"metrics for {name!r} have keys {sorted(values)}, "
                    f"expected {sorted(expected)}"
                )
        self._entries.append((name, {key: float(value) for key, value in values.items()}))

    @property
    def per_image(self) -> list[tuple[str, dict[str, float]]]:
        """``(name, metrics)`` pairs in the order they were added (copies)."""
        return [(name, dict(values)) for name, values in self._entries]

    def means(self) -> dict[str, float]:
        """Arithmetic mean of each metric over the images added so far.

        Returns:
            Metric name -> mean value; an empty dict when nothing was added.
        """
        if not self._entries:
            return {}
        keys = self._entries[0][1]
        count = len(self._entries)
        return {key: math.fsum(values[key] for _, values in self._entries) / count for key in keys}

    def __len__(self) -> int:
        return len(self._entries)


def _prepare_pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred)
    target = np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(
            f"prediction and target shapes differ: {pred.shape} vs {target.shape}"
        )
    if pred.ndim != 3 or pred.shape[2] != 3:
        raise ValueError(f"expected images of shape (H, W, 3), got {pred.shape}")
    return _to_float255(pred), _to_float255(target)


def _to_float255(image: np.ndarray) -> np.ndarray:
    """Convert an image to float64 on the 0-255 scale."""
    if image.dtype == np.uint8:
        return image.astype(np.float64)
    if image.dtype == np.uint16:
        return image.astype(np.float64) * (PEAK / 65535.0)
    if np.issubdtype(image.dtype, np.floating):
        return image.astype(np.float64) * PEAK
    raise TypeError(f"unsupported image dtype {image.dtype}: use uint8, uint16 or float in [0, 1]")


def _prepare_mask(mask: np.ndarray, image_hw: tuple[int, ...]) -> np.ndarray:
    """Validate a mask against the image size and normalise it to float64 in [0, 1]."""
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.shape != tuple(image_hw):
        raise ValueError(
            f"mask shape {mask.shape} does not match image shape {tuple(image_hw)}"
        )
    if mask.dtype == np.bool_:
        return mask.astype(np.float64)
    if mask.dtype == np.uint8:
        return mask.astype(np.float64) / 255.0
    if np.issubdtype(mask.dtype, np.floating):
        return mask.astype(np.float64)
    raise TypeError(f"unsupported mask dtype {mask.dtype}: use uint8 0/255 or float in [0, 1]")


def _resize_all(
    pred: np.ndarray, target: np.ndarray, mask: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if size <= 0:
        raise ValueError(f"size must be positive or None, got {size}")
    return _resize(pred, size), _resize(target, size), _resize(mask, size)


def _resize(array: np.ndarray, size: int) -> np.ndarray:
    if array.shape[:2] == (size, size):
        return array
    return cv2.resize(array, (size, size), interpolation=cv2.INTER_LINEAR)


def _as_batch(image: np.ndarray) -> Tensor:
    """An ``(H, W, C)`` array as a ``(1, C, H, W)`` tensor sharing its memory."""
    return torch.from_numpy(image).permute(2, 0, 1)[None]


def _scores(pred: Tensor, target: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """:func:`scores` of images already on the 0-255 scale."""
    foreground = (mask > _MASK_THRESHOLD).to(pred.dtype)
    mse_values = mse(pred, target)
    return {"mse": mse_values, "psnr": psnr(mse_values), "fmse": masked_mse(pred, target, foreground)}
