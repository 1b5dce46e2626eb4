"""Tests for engine.imageio: decoding every kind of input, masks, and safe PNG writing."""
from __future__ import annotations

import errno
import io
import os
import struct
import sys
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from engine import imageio
from engine.imageio import (
    MAX_PIXELS,
    ImageReadError,
    ImageWriteError,
    LoadedImage,
    MaskSizeError,
    conform_mask,
    decode_image,
    encode_png,
    from_float,
    mask_from_alpha,
    read_image,
    read_mask,
    to_float,
    write_png,
)

# Four distinct quadrant colours: no rotation or mirror maps this picture onto itself.
_QUADRANTS = {
    "top_left": (220, 30, 30),
    "top_right": (30, 200, 40),
    "bottom_left": (40, 40, 220),
    "bottom_right": (240, 240, 240),
}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _upright_pattern(height: int = 32, width: int = 48) -> np.ndarray:
    pattern = np.empty((height, width, 3), np.uint8)
    half_h, half_w = height // 2, width // 2
    pattern[:half_h, :half_w] = _QUADRANTS["top_left"]
    pattern[:half_h, half_w:] = _QUADRANTS["top_right"]
    pattern[half_h:, :half_w] = _QUADRANTS["bottom_left"]
    pattern[half_h:, half_w:] = _QUADRANTS["bottom_right"]
    return pattern


def _quadrant_colours(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Mean colour near the centre of each quadrant (robust to JPEG ringing at the edges)."""
    h, w = rgb.shape[:2]
    ys, xs = (h // 4, 3 * h // 4), (w // 4, 3 * w // 4)

    def patch(y: int, x: int) -> np.ndarray:
        return rgb[y - 2 : y + 2, x - 2 : x + 2].reshape(-1, 3).mean(axis=0)

    return {
        "top_left": patch(ys[0], xs[0]),
        "top_right": patch(ys[0], xs[1]),
        "bottom_left": patch(ys[1], xs[0]),
        "bottom_right": patch(ys[1], xs[1]),
    }


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` but which holds almost no pixel data."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


# --- colour images --------------------------------------------------------------------------


def test_8bit_rgb_round_trip_is_exact(tmp_path: Path, rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    write_png(tmp_path / "out.png", rgb)
    loaded = read_image(tmp_path / "out.png")
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.flags.c_contiguous
    np.testing.assert_array_equal(loaded.rgb, rgb)
    assert loaded.alpha is None
    assert (loaded.height, loaded.width, loaded.max_value) == (17, 23, 255)
    assert loaded.source == str(tmp_path / "out.png")


def test_channel_order_matches_other_programs(tmp_path: Path, rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 256, (8, 9, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "pillow.png")
    np.testing.assert_array_equal(read_image(tmp_path / "pillow.png").rgb, rgb)
    write_png(tmp_path / "ours.png", rgb)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "ours.png")), rgb)


def test_16bit_rgb_png_keeps_every_bit(tmp_path: Path, rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 65536, (11, 13, 3), dtype=np.uint16)
    rgb[0, 0] = (1, 256, 65535)  # values that an 8-bit reduction would lose
    write_png(tmp_path / "deep.png", rgb)
    loaded = read_image(tmp_path / "deep.png")
    assert loaded.rgb.dtype == np.uint16 and loaded.max_value == 65535
    np.testing.assert_array_equal(loaded.rgb, rgb)


def test_16bit_rgba_survives_encode_and_decode(rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    alpha = rng.integers(0, 65536, (5, 7), dtype=np.uint16)
    loaded = decode_image(encode_png(rgb, alpha), source="<clipboard>")
    np.testing.assert_array_equal(loaded.rgb, rgb)
    np.testing.assert_array_equal(loaded.alpha, alpha)
    assert loaded.source == "<clipboard>"


@pytest.mark.parametrize("fmt, options", [("BMP", {}), ("TIFF", {}), ("WEBP", {"lossless": True})])
def test_other_lossless_formats_decode_exactly(fmt: str, options: dict, rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    loaded = decode_image(_encode(Image.fromarray(rgb), fmt, **options))
    np.testing.assert_array_equal(loaded.rgb, rgb)


@pytest.mark.parametrize("fmt, mode", [("TGA", "RGBA"), ("PCX", "RGB"), ("ICO", "RGBA")])
def test_formats_opencv_cannot_read_fall_back_to_pillow(fmt: str, mode: str, rng: np.random.Generator) -> None:
    pixels = rng.integers(0, 256, (16, 16, len(mode)), dtype=np.uint8)
    loaded = decode_image(_encode(Image.fromarray(pixels, mode), fmt))
    np.testing.assert_array_equal(loaded.rgb, pixels[:, :, :3])
    if mode == "RGBA":
        np.testing.assert_array_equal(loaded.alpha, pixels[:, :, 3])
    else:
        assert loaded.alpha is None


def test_jpeg_decodes_close_to_the_original() -> None:
    loaded = decode_image(_encode(Image.fromarray(_upright_pattern()), "JPEG", quality=95))
    for name, colour in _quadrant_colours(loaded.rgb).items():
        np.testing.assert_allclose(colour, _QUADRANTS[name], atol=6)


# --- grey, alpha, palette, CMYK, unusual sample types ---------------------------------------


def test_8bit_grayscale_becomes_three_equal_channels(rng: np.random.Generator) -> None:
    grey = rng.integers(0, 256, (6, 8), dtype=np.uint8)
    loaded = decode_image(_encode(Image.fromarray(grey, "L"), "PNG"))
    assert loaded.rgb.shape == (6, 8, 3) and loaded.alpha is None
    for channel in range(3):
        np.testing.assert_array_equal(loaded.rgb[:, :, channel], grey)


def test_16bit_grayscale_keeps_16_bits(rng: np.random.Generator) -> None:
    grey = rng.integers(0, 65536, (6, 8), dtype=np.uint16)
    loaded = decode_image(_encode(Image.fromarray(grey), "PNG"))
    assert loaded.rgb.dtype == np.uint16
    np.testing.assert_array_equal(loaded.rgb, np.repeat(grey[:, :, None], 3, axis=2))


def test_rgba_keeps_alpha_and_gives_a_mask(tmp_path: Path, rng: np.random.Generator) -> None:
    rgba = rng.integers(0, 256, (9, 7, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cutout.png")
    loaded = read_image(tmp_path / "cutout.png")
    np.testing.assert_array_equal(loaded.rgb, rgba[:, :, :3])
    np.testing.assert_array_equal(loaded.alpha, rgba[:, :, 3])
    mask = mask_from_alpha(loaded)
    assert mask.dtype == np.float32
    np.testing.assert_allclose(mask, rgba[:, :, 3] / 255.0, atol=1e-7)


def test_mask_from_alpha_without_alpha_is_a_plain_value_error() -> None:
    image = LoadedImage(rgb=np.zeros((2, 2, 3), np.uint8), alpha=None, source="flat.png")
    with pytest.raises(ValueError, match="flat.png") as caught:
        mask_from_alpha(image)
    assert not isinstance(caught.value, ImageReadError)


def test_grey_plus_alpha_keeps_alpha(rng: np.random.Generator) -> None:
    la = rng.integers(0, 256, (5, 6, 2), dtype=np.uint8)
    loaded = decode_image(_encode(Image.fromarray(la, "LA"), "PNG"))
    np.testing.assert_array_equal(loaded.rgb, np.repeat(la[:, :, :1], 3, axis=2))
    np.testing.assert_array_equal(loaded.alpha, la[:, :, 1])


def test_palette_image_becomes_its_colours() -> None:
    indices = np.array([[0, 1], [2, 0]], np.uint8)
    palette = [10, 20, 30, 200, 100, 0, 0, 128, 255]
    image = Image.fromarray(indices, "P")
    image.putpalette(palette + [0] * (768 - len(palette)))
    loaded = decode_image(_encode(image, "PNG"))
    expected = np.array(palette, np.uint8).reshape(3, 3)[indices]
    np.testing.assert_array_equal(loaded.rgb, expected)
    assert loaded.alpha is None
    transparent = decode_image(_encode(image, "PNG", transparency=2))
    np.testing.assert_array_equal(transparent.alpha, np.where(indices == 2, 0, 255))


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (4, 3), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    loaded = decode_image(_encode(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    np.testing.assert_array_equal(loaded.rgb, np.full((3, 4, 3), (255, 0, 0), np.uint8))


@pytest.mark.parametrize(
    "cmyk, rgb",
    [
        ((255, 0, 0, 0), (0, 255, 255)),  # cyan
        ((0, 255, 0, 0), (255, 0, 255)),  # magenta
        ((0, 0, 255, 0), (255, 255, 0)),  # yellow
        ((0, 0, 0, 255), (0, 0, 0)),  # black
    ],
)
def test_cmyk_jpeg_becomes_correct_rgb(cmyk: tuple[int, ...], rgb: tuple[int, ...]) -> None:
    loaded = decode_image(_encode(Image.new("CMYK", (16, 16), cmyk), "JPEG", quality=95))
    assert loaded.rgb.shape == (16, 16, 3) and loaded.alpha is None
    np.testing.assert_allclose(loaded.rgb.reshape(-1, 3).mean(axis=0), rgb, atol=4)


def test_cmyk_tiff_has_no_fake_alpha() -> None:
    loaded = decode_image(_encode(Image.new("CMYK", (4, 4), (255, 0, 0, 0)), "TIFF"))
    assert loaded.alpha is None
    np.testing.assert_array_equal(loaded.rgb, np.full((4, 4, 3), (0, 255, 255), np.uint8))


def test_float_image_in_0_1_becomes_uint16(rng: np.random.Generator) -> None:
    values = rng.random((5, 4), dtype=np.float32)
    loaded = decode_image(_encode(Image.fromarray(values, "F"), "TIFF"))
    assert loaded.rgb.dtype == np.uint16
    np.testing.assert_array_equal(loaded.rgb[:, :, 0], from_float(values, np.uint16))


def test_float_image_outside_0_1_is_refused_clearly() -> None:
    data = _encode(Image.fromarray(np.full((3, 3), 2.5, np.float32), "F"), "TIFF")
    with pytest.raises(ImageReadError, match="hdr.tif.*outside 0..1"):
        decode_image(data, source="hdr.tif")


def test_int32_image_within_16_bits_becomes_uint16_and_larger_is_refused() -> None:
    values = np.array([[0, 1000], [40000, 65535]], np.int32)
    loaded = decode_image(_encode(Image.fromarray(values, "I"), "TIFF"))
    np.testing.assert_array_equal(loaded.rgb[:, :, 1], values)
    with pytest.raises(ImageReadError, match="do not fit in 16 bits"):
        decode_image(_encode(Image.fromarray(values + 70000, "I"), "TIFF"))


# --- EXIF orientation -----------------------------------------------------------------------

# What a camera stores for each orientation tag, given the upright picture.
_STORED_FOR_ORIENTATION = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_jpeg_exif_orientation_is_applied(orientation: int) -> None:
    upright = _upright_pattern()
    stored = Image.fromarray(upright).transpose(_STORED_FOR_ORIENTATION[orientation])
    exif = Image.Exif()
    exif[274] = orientation
    loaded = decode_image(_encode(stored, "JPEG", quality=95, exif=exif))
    assert loaded.rgb.shape == upright.shape  # width and height swap back for 6 and 8
    assert loaded.rgb.flags.c_contiguous
    for name, colour in _quadrant_colours(loaded.rgb).items():
        np.testing.assert_allclose(colour, _QUADRANTS[name], atol=8)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow_exif_transpose(orientation: int, rng: np.random.Generator) -> None:
    rgba = rng.integers(0, 256, (5, 3, 4), dtype=np.uint8)
    exif = Image.Exif()
    exif[274] = orientation
    data = _encode(Image.fromarray(rgba, "RGBA"), "PNG", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    loaded = decode_image(data)
    np.testing.assert_array_equal(loaded.rgb, expected[:, :, :3])
    np.testing.assert_array_equal(loaded.alpha, expected[:, :, 3])


@pytest.mark.parametrize("orientation", [3, 6])
def test_tiff_orientation_is_applied_exactly_once(orientation: int, rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[274] = orientation
    data = _encode(Image.fromarray(rgb), "TIFF", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    np.testing.assert_array_equal(decode_image(data).rgb, expected)


# --- paths, size limit, unreadable input ----------------------------------------------------


def test_non_ascii_paths_work(tmp_path: Path, rng: np.random.Generator) -> None:
    folder = tmp_path / "dossier_é"
    folder.mkdir()
    path = folder / "tëst_画像.png"
    rgb = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    write_png(path, rgb)
    np.testing.assert_array_equal(read_image(path).rgb, rgb)
    np.testing.assert_array_equal(read_image(str(path)).rgb, rgb)
    assert read_mask(path).shape == (4, 5)


def test_image_over_the_pixel_limit_is_refused_from_its_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "big.png", _encode(Image.new("RGB", (64, 48)), "PNG"))

    def must_not_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("pixels were decoded before the size check")

    monkeypatch.setattr(cv2, "imdecode", must_not_decode)
    monkeypatch.setattr(ImageFile.ImageFile, "load", must_not_decode)
    with pytest.raises(ImageReadError, match=r"big\.png.*64x48.*3,000") as caught:
        read_image(path, max_pixels=3000)
    assert "limit" in str(caught.value)


def test_decompression_bomb_header_gives_our_error_not_pillows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cv2, "imdecode", lambda *args: pytest.fail("pixels were decoded"))
    with pytest.raises(ImageReadError, match=rf"20000x20000.*{MAX_PIXELS:,}"):
        decode_image(_png_header_only(20_000, 20_000), source="bomb.png")


def test_pillows_own_limit_neither_blocks_nor_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decode_image(_encode(Image.new("RGB", (64, 48)), "PNG")).width == 64
        assert decode_image(_encode(Image.new("RGB", (64, 48)), "TGA")).width == 64  # decoded by Pillow
    assert Image.MAX_IMAGE_PIXELS == 10


def _truncated(fmt: str) -> bytes:
    rng = np.random.default_rng(7)
    data = _encode(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), fmt)
    return data[: len(data) * 6 // 10]


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("missing.png", None, "no such file"),
        ("folder.png", "folder", "folder"),
        ("empty.png", b"", "empty"),
        ("garbage.png", b"this is not an image\n" * 50, "not an image or an unsupported format"),
        ("cut.png", _truncated("PNG"), "truncated or corrupt"),
        ("cut.jpg", _truncated("JPEG"), "truncated or corrupt"),
    ],
)
def test_unreadable_files_raise_a_message_naming_the_file(
    tmp_path: Path, name: str, content: object, problem: str
) -> None:
    path = tmp_path / name
    if content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError) as caught:
        read_image(path)
    assert str(path) in str(caught.value) and problem in str(caught.value)
    with pytest.raises(ImageReadError, match=problem):
        read_mask(path)


def test_decode_errors_name_the_source() -> None:
    with pytest.raises(ImageReadError, match="<clipboard>.*not an image"):
        decode_image(b"\x00\x01garbage", source="<clipboard>")


# --- masks ----------------------------------------------------------------------------------


def test_grey_masks_are_normalised_by_their_bit_depth(tmp_path: Path, rng: np.random.Generator) -> None:
    grey8 = rng.integers(0, 256, (6, 7), dtype=np.uint8)
    Image.fromarray(grey8, "L").save(tmp_path / "m8.png")
    mask = read_mask(tmp_path / "m8.png", expected_shape=(6, 7))
    assert mask.dtype == np.float32
    np.testing.assert_allclose(mask, grey8 / 255.0, atol=1e-7)
    grey16 = rng.integers(0, 65536, (6, 7), dtype=np.uint16)
    write_png(tmp_path / "m16.png", grey16)
    np.testing.assert_allclose(read_mask(tmp_path / "m16.png"), grey16 / 65535.0, atol=1e-7)


def test_colour_mask_uses_alpha_only_when_it_is_not_opaque(tmp_path: Path) -> None:
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 255  # mean of the colour channels is 85/255
    alpha = np.array([[0, 128, 255], [255, 255, 255]], np.uint8)
    write_png(tmp_path / "cutout.png", rgb, alpha)
    np.testing.assert_allclose(read_mask(tmp_path / "cutout.png"), alpha / 255.0, atol=1e-7)
    write_png(tmp_path / "opaque.png", rgb, np.full((2, 3), 255, np.uint8))
    np.testing.assert_allclose(read_mask(tmp_path / "opaque.png"), np.full((2, 3), 85 / 255), atol=1e-6)


def test_mask_of_another_size_is_refused_with_both_sizes_and_a_hint(tmp_path: Path) -> None:
    write_png(tmp_path / "mask.png", np.zeros((30, 40), np.uint8))
    with pytest.raises(MaskSizeError) as caught:
        read_mask(tmp_path / "mask.png", expected_shape=(32, 48))
    message = str(caught.value)
    assert "mask.png" in message and "40x30" in message and "48x32" in message
    assert "pass --resize-mask to resize it" in message


def test_mask_of_another_size_is_resized_on_request(tmp_path: Path) -> None:
    half = np.zeros((30, 40), np.uint8)
    half[:, 20:] = 255
    write_png(tmp_path / "mask.png", half)
    mask = read_mask(tmp_path / "mask.png", expected_shape=(60, 80), resize=True)
    assert mask.shape == (60, 80) and mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    assert np.all(mask[:, :36] == 0.0) and np.all(mask[:, 44:] == 1.0)


@pytest.mark.parametrize("value", [0, 255])
def test_all_zero_and_all_one_masks_are_returned(tmp_path: Path, value: int) -> None:
    write_png(tmp_path / "flat.png", np.full((5, 6), value, np.uint8))
    mask = read_mask(tmp_path / "flat.png", expected_shape=(5, 6))
    np.testing.assert_array_equal(mask, np.full((5, 6), value / 255, np.float32))


def test_conform_mask_passes_a_matching_mask_through() -> None:
    mask = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(conform_mask(mask, (3, 4), resize=False), mask)
    with pytest.raises(MaskSizeError, match=r"^mask is 4x3 but the image is 5x3"):
        conform_mask(mask, (3, 5), resize=False)


# --- float conversion -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_to_float_and_back_is_exact_for_every_value(dtype: type) -> None:
    every = np.arange(np.iinfo(dtype).max + 1, dtype=dtype)
    values = to_float(every)
    assert values.dtype == np.float32 and values[0] == 0.0 and values[-1] == 1.0
    np.testing.assert_array_equal(from_float(values, dtype), every)


def test_from_float_rounds_and_clips() -> None:
    values = np.array([-0.5, 0.0, 100.4 / 255, 100.6 / 255, 1.0, 1.5, np.nan, np.inf])
    np.testing.assert_array_equal(from_float(values, np.uint8), [0, 0, 100, 101, 255, 255, 0, 255])


def test_float_conversions_reject_other_dtypes() -> None:
    with pytest.raises(ValueError, match="float32"):
        to_float(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="int32"):
        from_float(np.zeros(3), np.int32)


# --- writing --------------------------------------------------------------------------------


def test_grey_and_grey_alpha_arrays_can_be_written(tmp_path: Path, rng: np.random.Generator) -> None:
    grey = rng.integers(0, 65536, (4, 5), dtype=np.uint16)
    alpha = rng.integers(0, 65536, (4, 5), dtype=np.uint16)
    write_png(tmp_path / "grey.png", grey)
    np.testing.assert_array_equal(read_image(tmp_path / "grey.png").rgb, np.repeat(grey[:, :, None], 3, axis=2))
    write_png(tmp_path / "grey_alpha.png", grey, alpha)
    loaded = read_image(tmp_path / "grey_alpha.png")
    np.testing.assert_array_equal(loaded.rgb[:, :, 2], grey)
    np.testing.assert_array_equal(loaded.alpha, alpha)


@pytest.mark.parametrize(
    "rgb, alpha, quoted",
    [
        (np.zeros((4, 4, 3), np.float64), None, "float64"),
        (np.zeros((4, 4, 2), np.uint8), None, "(4, 4, 2)"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8), "(4, 5)"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint16), "uint16"),
    ],
)
def test_unsupported_arrays_are_refused_before_writing(
    tmp_path: Path, rgb: np.ndarray, alpha: object, quoted: str
) -> None:
    with pytest.raises(ValueError) as caught:
        write_png(tmp_path / "out.png", rgb, alpha)
    assert quoted in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_full_disk_leaves_the_old_file_intact_and_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _write(tmp_path / "out.png", b"previous result")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(imageio.os, "fsync", disk_full)
    with pytest.raises(ImageWriteError) as caught:
        write_png(target, np.zeros((4, 4, 3), np.uint8))
    message = str(caught.value)
    assert str(target) in message and "disk is full" in message and "nothing was overwritten" in message
    assert caught.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"previous result"
    assert os.listdir(tmp_path) == ["out.png"]


def test_failed_rename_removes_the_temp_file(tmp_path: Path) -> None:
    (tmp_path / "taken.png").mkdir()  # a folder cannot be replaced by a file
    with pytest.raises(ImageWriteError, match="taken.png"):
        write_png(tmp_path / "taken.png", np.zeros((2, 2, 3), np.uint8))
    assert os.listdir(tmp_path) == ["taken.png"]


def test_missing_folder_is_reported(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "out.png"
    with pytest.raises(ImageWriteError) as caught:
        write_png(target, np.zeros((2, 2, 3), np.uint8))
    assert str(target) in str(caught.value) and "folder does not exist" in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_overwrite_false_refuses_an_existing_file(tmp_path: Path) -> None:
    target = _write(tmp_path / "out.png", b"keep me")
    with pytest.raises(FileExistsError):
        write_png(target, np.zeros((2, 2, 3), np.uint8), overwrite=False)
    assert target.read_bytes() == b"keep me"
    write_png(tmp_path / "new.png", np.zeros((2, 2, 3), np.uint8), overwrite=False)
    assert read_image(tmp_path / "new.png").width == 2


def test_overwrite_replaces_the_file(tmp_path: Path) -> None:
    target = _write(tmp_path / "out.png", b"old")
    write_png(target, np.full((2, 2, 3), 9, np.uint8))
    assert read_image(target).rgb.max() == 9
    assert os.listdir(tmp_path) == ["out.png"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_written_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    write_png(tmp_path / "out.png", np.zeros((2, 2, 3), np.uint8))
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == 0o666 & ~umask
