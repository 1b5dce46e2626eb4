"""Reading and writing images and masks safely.

OpenCV is the main decoder because it keeps 16-bit colour (Pillow reduces 48-bit PNGs to 8 bits);
Pillow reads the header first, so the size limit holds before any pixel is decoded, supplies the
EXIF orientation, and decodes whatever OpenCV cannot. PNGs are written by :mod:`engine.png`. Every
failure surfaces as ``ImageReadError`` or ``ImageWriteError`` with a message that names the file and
the problem.
"""
from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from engine import png
from engine.atomic import AtomicWriteError, write_bytes_atomic

MAX_PIXELS: int = 150_000_000

_SUPPORTED_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))
_ORIENTATION_TAG = 274
# After the transpose that orientations 5-8 need, (orientation - 1) % 4 picks the flips (numpy axes).
_ORIENTATION_FLIPS: dict[int, tuple[int, ...]] = {0: (), 1: (1,), 2: (0, 1), 3: (0,)}
_PILLOW_KEPT_MODES = {"L", "LA", "RGB", "RGBA", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
_PILLOW_CONVERSIONS = {"1": "L", "P": "RGB", "PA": "RGBA", "La": "LA", "RGBa": "RGBA"}
_PILLOW_LIMIT_LOCK = threading.Lock()


class ImageReadError(ValueError):
    """An image or mask could not be read; the message names the file and the problem."""


class MaskSizeError(ValueError):
    """A mask's size differs from the size of its image."""


# An image could not be written; an existing file at the target was left untouched.
ImageWriteError = AtomicWriteError


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image, upright as a photo viewer shows it.

    Attributes:
        rgb: ``(H, W, 3)`` uint8 or uint16 array in RGB order, C-contiguous.
        alpha: ``(H, W)`` array of the same dtype, or None when the file has no alpha channel.
        source: The path it was read from, or a name such as ``"<clipboard>"``.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    source: str

    def __post_init__(self) -> None:
        _validate_pixels(self.rgb, self.alpha, allow_gray=False)

    @property
    def max_value(self) -> int:
        """The value of full intensity: 255 or 65535."""
        return int(np.iinfo(self.rgb.dtype).max)

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


class _Header(NamedTuple):
    width: int
    height: int
    mode: str
    format: str | None
    orientation: int


def read_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Read an image file of any format OpenCV or Pillow understands.

    Raises:
        ImageReadError: the file is missing, unreadable, not an image, corrupt, or larger than
            ``max_pixels``.
    """
    source = os.fsdecode(path)
    return decode_image(_read_file(source), source, max_pixels)


def decode_image(data: bytes, source: str = "<memory>", max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Decode an encoded image held in memory, turned upright by its EXIF orientation.

    ``source`` names the data in error messages and in the result.

    Raises:
        ImageReadError: the data is empty, not an image, corrupt, or larger than ``max_pixels``.
    """
    if not data:
        raise _read_error(source, "file is empty")
    header = _probe_header(data)
    if header is not None:
        _check_size(header.width, header.height, max_pixels, source)
    pixels, by_opencv = None, False
    # OpenCV turns CMYK TIFFs into BGRA with a meaningless alpha; Pillow converts CMYK to plain RGB.
    if header is None or header.mode != "CMYK":
        pixels = _decode_with_opencv(data)
        by_opencv = pixels is not None
    if pixels is None:
        pixels = _decode_with_pillow(data, source)
    # Formats Pillow cannot parse are only measured here; OpenCV caps those at 2**30 pixels itself.
    _check_size(pixels.shape[1], pixels.shape[0], max_pixels, source)
    pixels = _to_supported_dtype(pixels, source)
    # OpenCV ignores EXIF under IMREAD_UNCHANGED, but its TIFF decoder applies the TIFF tag itself.
    if header is not None and not (by_opencv and header.format == "TIFF"):
        pixels = _apply_orientation(pixels, header.orientation)
    rgb, alpha = _split_channels(pixels, bgr=by_opencv)
    return LoadedImage(rgb=rgb, alpha=alpha, source=source)


def mask_from_alpha(image: LoadedImage) -> np.ndarray:
    """Return the image's alpha channel as a float32 ``(H, W)`` mask in ``[0, 1]``.

    Raises:
        ValueError: the image has no alpha channel.
    """
    if image.alpha is None:
        raise ValueError(f'"{image.source}" has no alpha channel to use as a mask')
    return to_float(image.alpha)


def read_mask(
    path: str | os.PathLike,
    expected_shape: tuple[int, int] | None = None,
    resize: bool = False,
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """Read a mask file as float32 ``(H, W)`` in ``[0, 1]``.

    A grey image is the mask itself. For a colour image the alpha channel is used when it is not
    fully opaque, otherwise the mean of the colour channels.

    Args:
        path: The mask file.
        expected_shape: ``(H, W)`` the mask must have, usually its image's; None skips the check.
        resize: Resize a mask of another size instead of raising ``MaskSizeError``.
        max_pixels: Size limit, as for ``read_image``.

    Raises:
        ImageReadError: the file cannot be read.
        MaskSizeError: the size differs from ``expected_shape`` and ``resize`` is False.
    """
    image = read_image(path, max_pixels)
    if image.alpha is not None and bool((image.alpha < image.max_value).any()):
        mask = mask_from_alpha(image)
    else:
        mask = image.rgb.mean(axis=2, dtype=np.float32) / np.float32(image.max_value)
    if expected_shape is not None:
        mask = conform_mask(mask, expected_shape, resize, source=f'mask "{image.source}"')
    return mask


def conform_mask(
    mask: np.ndarray, expected_shape: tuple[int, int], resize: bool, source: str = "mask"
) -> np.ndarray:
    """Return ``mask`` as float32 of shape ``expected_shape`` (``(H, W)``).

    Raises:
        MaskSizeError: the shapes differ and ``resize`` is False.
        ValueError: ``mask`` is not two-dimensional.
    """
    if mask.ndim != 2:
        raise ValueError(f"{source}: expected a 2-D mask, got shape {mask.shape}")
    height, width = expected_shape
    mask = mask.astype(np.float32, copy=False)
    if mask.shape == (height, width):
        return mask
    if not resize:
        raise MaskSizeError(
            f"{source} is {mask.shape[1]}x{mask.shape[0]} but the image is {width}x{height}; "
            "pass --resize-mask to resize it"
        )
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)


def to_float(rgb: np.ndarray) -> np.ndarray:
    """Scale uint8 or uint16 pixels to float32 in ``[0, 1]``."""
    if rgb.dtype not in _SUPPORTED_DTYPES:
        raise ValueError(f"expected uint8 or uint16 pixels, got dtype {rgb.dtype}")
    values = rgb.astype(np.float32)
    values /= np.float32(np.iinfo(rgb.dtype).max)
    return values


def from_float(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Scale ``[0, 1]`` values to uint8 or uint16, rounding to nearest and clipping (NaN becomes 0)."""
    dtype = np.dtype(dtype)
    if dtype not in _SUPPORTED_DTYPES:
        raise ValueError(f"can only convert to uint8 or uint16, not {dtype}")
    top = np.float32(np.iinfo(dtype).max)
    scaled = np.asarray(values, dtype=np.float32) * top
    np.nan_to_num(scaled, copy=False, nan=0.0)
    np.clip(scaled, 0.0, top, out=scaled)
    return np.rint(scaled, out=scaled).astype(dtype)


def encode_png(rgb: np.ndarray, alpha: np.ndarray | None = None) -> bytes:
    """Encode ``(H, W, 3)`` RGB or ``(H, W)`` grey pixels (uint8 or uint16), plus optional alpha, as PNG.

    Raises:
        ValueError: unsupported shape or dtype, or alpha not matching the image.
    """
    _validate_pixels(rgb, alpha, allow_gray=True)
    if rgb.ndim == 2 and alpha is None:
        pixels = rgb
    else:
        colour = rgb if rgb.ndim == 3 else np.repeat(rgb[:, :, None], 3, axis=2)
        pixels = colour if alpha is None else np.dstack((colour, alpha))
    return png.encode(pixels)


def write_png(
    path: str | os.PathLike, rgb: np.ndarray, alpha: np.ndarray | None = None, overwrite: bool = True
) -> None:
    """Write a PNG atomically: the target ends up as the old file or the complete new one.

    The pixels are encoded first, then written to a temporary file in the target's folder, synced
    and renamed over the target. ``overwrite=False`` is checked before writing, not atomically.

    Raises:
        ValueError: unsupported array (see ``encode_png``); nothing is written.
        FileExistsError: the target exists and ``overwrite`` is False.
        ImageWriteError: writing failed (full disk, no permission, missing folder); no temporary
            file is left and an existing target is untouched.
    """
    write_bytes_atomic(path, encode_png(rgb, alpha), overwrite=overwrite)


def _read_file(source: str) -> bytes:
    # Python's own file I/O, not cv2.imread, so that non-ASCII paths work on Windows too.
    if os.path.isdir(source):
        raise _read_error(source, "it is a folder, not a file")
    try:
        with open(source, "rb") as handle:
            return handle.read()
    except FileNotFoundError as err:
        raise _read_error(source, "no such file") from err
    except PermissionError as err:
        raise _read_error(source, "permission denied") from err
    except OSError as err:
        raise _read_error(source, err.strerror or str(err)) from err


@contextlib.contextmanager
def _pillow_unlimited() -> Iterator[None]:
    # Pillow's own bomb check is global and fires below our limit; ours is enforced instead.
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _probe_header(data: bytes) -> _Header | None:
    """Size, mode and orientation without decoding any pixel; None if Pillow can't parse the header."""
    try:
        with _pillow_unlimited(), Image.open(io.BytesIO(data)) as image:
            return _Header(image.width, image.height, image.mode, image.format, _orientation(image))
    except Exception:  # unknown or damaged header: OpenCV gets its chance next
        return None


def _orientation(image: Image.Image) -> int:
    # PngImageFile.getexif() decodes every pixel when the EXIF chunk comes after them; skip that case.
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a damaged EXIF block must not make a readable picture unreadable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _check_size(width: int, height: int, max_pixels: int, source: str) -> None:
    if width <= 0 or height <= 0:
        raise _read_error(source, f"image is {width}x{height}, it has no pixels")
    if width * height > max_pixels:
        raise _read_error(
            source,
            f"image is {width}x{height} ({width * height:,} pixels), over the limit of {max_pixels:,} pixels",
        )


def _decode_with_opencv(data: bytes) -> np.ndarray | None:
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    if pixels is None or pixels.size == 0 or (pixels.ndim == 3 and pixels.shape[2] not in (1, 3, 4)):
        return None
    return pixels


def _decode_with_pillow(data: bytes, source: str) -> np.ndarray:
    try:
        with _pillow_unlimited(), Image.open(io.BytesIO(data)) as image:
            image.load()
            return np.array(_array_ready(image))
    except UnidentifiedImageError as err:
        raise _read_error(source, "not an image or an unsupported format") from err
    except MemoryError as err:
        raise _read_error(source, "not enough memory to decode it") from err
    except Exception as err:  # Pillow's plugins raise OSError, SyntaxError, struct.error, ...
        raise _read_error(source, f"file is truncated or corrupt ({err})") from err


def _array_ready(image: Image.Image) -> Image.Image:
    """Convert to a mode whose array ``_to_supported_dtype`` and ``_split_channels`` understand."""
    if image.mode in _PILLOW_KEPT_MODES:
        return image
    if image.mode == "P" and "transparency" in image.info:
        return image.convert("RGBA")
    default = "RGBA" if image.mode.endswith(("A", "a")) else "RGB"  # CMYK, YCbCr, LAB, HSV -> RGB
    return image.convert(_PILLOW_CONVERSIONS.get(image.mode, default))


def _to_supported_dtype(pixels: np.ndarray, source: str) -> np.ndarray:
    """Keep uint8/uint16; map [0, 1] floats and 16-bit-range integers to uint16; reject the rest."""
    if pixels.dtype in _SUPPORTED_DTYPES:
        return pixels
    if np.issubdtype(pixels.dtype, np.floating):
        if not np.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 1:
            raise _read_error(source, "floating-point pixels outside 0..1 (HDR data) are not supported")
        return from_float(pixels, np.uint16)
    if np.issubdtype(pixels.dtype, np.integer):
        low, high = int(pixels.min()), int(pixels.max())
        if low >= 0 and high <= 65535:
            return pixels.astype(np.uint16)
        raise _read_error(source, f"pixel values {low}..{high} do not fit in 16 bits")
    raise _read_error(source, f"unsupported pixel type {pixels.dtype}")


def _apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels upright for an EXIF orientation value (1-8)."""
    if orientation >= 5:
        pixels = np.swapaxes(pixels, 0, 1)
    flips = _ORIENTATION_FLIPS[(orientation - 1) % 4]
    return np.flip(pixels, flips) if flips else pixels


def _split_channels(pixels: np.ndarray, bgr: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Split grey, grey+alpha, colour or colour+alpha pixels into contiguous RGB and alpha."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    channels = pixels.shape[2]
    if channels >= 3:
        colour = pixels[:, :, 2::-1] if bgr else pixels[:, :, :3]
    else:
        colour = np.repeat(pixels[:, :, :1], 3, axis=2)
    alpha = pixels[:, :, channels - 1] if channels in (2, 4) else None
    return np.ascontiguousarray(colour), None if alpha is None else np.ascontiguousarray(alpha)


def _validate_pixels(rgb: np.ndarray, alpha: np.ndarray | None, allow_gray: bool) -> None:
    colour = rgb.ndim == 3 and rgb.shape[2] == 3
    if not (colour or (allow_gray and rgb.ndim == 2)) or rgb.dtype not in _SUPPORTED_DTYPES:
        shapes = "(H, W, 3) or (H, W)" if allow_gray else "(H, W, 3)"
        raise ValueError(f"expected a uint8 or uint16 array of shape {shapes}, got shape {rgb.shape} dtype {rgb.dtype}")
    if alpha is not None and (alpha.shape != rgb.shape[:2] or alpha.dtype != rgb.dtype):
        raise ValueError(
            f"alpha must have shape {rgb.shape[:2]} and dtype {rgb.dtype}, got shape {alpha.shape} dtype {alpha.dtype}"
        )


def _read_error(source: str, problem: str) -> ImageReadError:
    return ImageReadError(f'cannot read "{source}": {problem}')
