from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from engine import png


def _picture(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """Smooth gradients plus noise, like a photo: both runs and surprises for the compressor."""
    top = np.iinfo(dtype).max
    ramp = np.linspace(0, top * 0.8, shape[1])[None, :]
    if len(shape) == 3:
        ramp = ramp[..., None]
    noise = np.random.default_rng(0).integers(0, top // 10, shape)
    return np.clip(np.broadcast_to(ramp, shape) + noise, 0, top).astype(dtype)


def _decode(data: bytes) -> np.ndarray:
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB if pixels.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    return pixels


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(37, 53), (37, 53, 3), (37, 53, 4), (1, 1, 3)])
def test_decoders_get_the_exact_pixels_back(dtype: type, shape: tuple[int, ...]) -> None:
    pixels = _picture(shape, dtype)
    data = png.encode(pixels)
    assert data.startswith(png.SIGNATURE)
    assert np.array_equal(_decode(data), pixels)


@pytest.mark.parametrize("workers", [1, 3])
def test_strips_deflated_on_several_threads_make_one_valid_stream(monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    monkeypatch.setattr(png, "_MIN_STRIP_BYTES", 1000)
    pixels = _picture((120, 90, 3), np.uint16)
    data = png.encode(pixels, workers=workers)
    assert np.array_equal(_decode(data), pixels)
    with Image.open(io.BytesIO(data)) as image:  # a second, stricter reader (checks every CRC)
        image.load()
        assert image.size == (90, 120) and image.mode.startswith("RGB")


def test_photo_like_pixels_are_compressed() -> None:
    pixels = _picture((64, 256, 3), np.uint8) // 16 * 16
    assert len(png.encode(pixels)) < pixels.nbytes / 3


@pytest.mark.parametrize(
    "pixels",
    [np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((0, 4, 3), np.uint8), np.zeros(4, np.uint8)],
)
def test_unsupported_arrays_are_refused(pixels: np.ndarray) -> None:
    with pytest.raises(ValueError, match="cannot encode"):
        png.encode(pixels)
