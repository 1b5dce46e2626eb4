"""Image-harmonization metrics following the iHarmony4 evaluation protocol.

The published protocol resizes the prediction, the real image and the mask to
256x256, then measures on the 0-255 scale:

* MSE over all pixels and channels,
* PSNR = 10 * log10(255^2 / MSE),
* fMSE: squared error summed over the foreground pixels and channels, divided by
  ``3 * number of foreground pixels``.

Scores are reported per image and as the arithmetic mean over images (the mean
PSNR is the mean of per-image PSNRs, not the PSNR of the mean MSE). Passing
``size=None`` to :func:`image_metrics` measures at full resolution instead.

Images are ``(H, W, 3)`` arrays of dtype ``uint8`` (0-255), ``uint16`` (0-65535)
or float (0-1). Masks are ``(H, W)`` arrays, float in ``[0, 1]`` or ``uint8``
0/255; a pixel is foreground when its normalised value is above 0.5.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

EVAL_SIZE = 256
"""Side length the iHarmony4 protocol resizes images and masks to."""

_PEAK = 255.0
_MIN_MSE = 1e-10  # keeps PSNR finite (about 168 dB) for identical images
_MASK_THRESHOLD = 0.5


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error over all pixels and channels, on the 0-255 scale.

    Args:
        pred: Predicted image, ``(H, W, 3)``, uint8, uint16 or float in [0, 1].
        target: Reference image with the same shape as ``pred``.

    Returns:
        The MSE as a Python float.

    Raises:
        ValueError: If the shapes differ or are not ``(H, W, 3)``.
        TypeError: If a dtype is not supported.
    """
    pred_f, target_f = _prepare_pair(pred, target)
    return _mse(pred_f, target_f)


def psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, with a peak of 255.

    The MSE is floored at 1e-10, so identical images give a large finite value
    rather than ``inf``.

    Args:
        pred: Predicted image, ``(H, W, 3)``, uint8, uint16 or float in [0, 1].
        target: Reference image with the same shape as ``pred``.

    Returns:
        The PSNR as a Python float.

    Raises:
        ValueError: If the shapes differ or are not ``(H, W, 3)``.
        TypeError: If a dtype is not supported.
    """
    return _psnr_from_mse(mse(pred, target))


def fmse(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """Foreground MSE: squared error over the masked region, per pixel and channel.

    Args:
        pred: Predicted image, ``(H, W, 3)``, uint8, uint16 or float in [0, 1].
        target: Reference image with the same shape as ``pred``.
        mask: Foreground mask, ``(H, W)``, float in [0, 1] or uint8 0/255.
            Pixels above 0.5 (after normalisation) are foreground.

    Returns:
        The fMSE as a Python float; 0.0 when the mask has no foreground pixel.

    Raises:
        ValueError: If the shapes of the images and the mask do not agree.
        TypeError: If a dtype is not supported.
    """
    pred_f, target_f = _prepare_pair(pred, target)
    mask_f = _prepare_mask(mask, pred_f.shape[:2])
    return _fmse(pred_f, target_f, mask_f > _MASK_THRESHOLD)


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
        mask: Foreground mask, ``(H, W)``, float in [0, 1] or uint8 0/255.
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
    mse_value = _mse(pred_f, target_f)
    return {
        "mse": mse_value,
        "psnr": _psnr_from_mse(mse_value),
        "fmse": _fmse(pred_f, target_f, mask_f > _MASK_THRESHOLD),
    }


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
        return image.astype(np.float64) * (_PEAK / 65535.0)
    if np.issubdtype(image.dtype, np.floating):
        return image.astype(np.float64) * _PEAK
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


def _mse(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((pred - target) ** 2))


def _psnr_from_mse(mse_value: float) -> float:
    return 10.0 * math.log10(_PEAK**2 / max(mse_value, _MIN_MSE))


def _fmse(pred: np.ndarray, target: np.ndarray, foreground: np.ndarray) -> float:
    count = int(np.count_nonzero(foreground))
    if count == 0:
        return 0.0
    squared = (pred[foreground] - target[foreground]) ** 2
    return float(squared.sum() / (pred.shape[2] * count))
