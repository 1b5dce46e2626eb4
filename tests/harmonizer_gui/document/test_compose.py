"""compose.py: the layer lands where its transform says, at any resolution."""

from __future__ import annotations

import numpy as np
import pytest

from harmonizer_gui.document.compose import (
    LayerTransform,
    compose,
    convert_depth,
    covered_box,
    default_placement,
    fitted_size,
    layer_corners,
    layer_matrix,
    resize_to,
)


def _background(width: int = 120, height: int = 80, dtype: type = np.uint8) -> np.ndarray:
    rng = np.random.default_rng(0)
    top = np.iinfo(dtype).max
    return rng.integers(0, top // 2, (height, width, 3), dtype=np.int64).astype(dtype)


def _layer(width: int = 40, height: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = 255
    rgb[:, : width // 2, 1] = 255  # left half yellow, right half red: shows flips
    return rgb, np.ones((height, width), np.float32)


def _mask_box(mask: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int, int]:
    rows = np.flatnonzero((mask > threshold).any(axis=1))
    cols = np.flatnonzero((mask > threshold).any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def test_identity_placement_pastes_the_layer_pixel_for_pixel() -> None:
    background = _background()
    rgb, mask = _layer()
    composite, out_mask = compose(background, rgb, mask, LayerTransform(x=50, y=30))  # centre -> top-left (30, 20)
    assert _mask_box(out_mask) == (30, 20, 70, 40)
    assert np.array_equal(composite[20:40, 30:70], rgb)
    outside = out_mask == 0
    assert np.array_equal(composite[outside], background[outside])


def test_scale_doubles_the_footprint_about_the_centre() -> None:
    rgb, mask = _layer()
    _, out_mask = compose(_background(), rgb, mask, LayerTransform(x=60, y=40, scale=2.0))
    assert _mask_box(out_mask) == (20, 20, 100, 60)


def test_rotation_by_90_degrees_swaps_width_and_height() -> None:
    rgb, mask = _layer()
    _, out_mask = compose(_background(), rgb, mask, LayerTransform(x=60, y=40, angle=90.0))
    assert _mask_box(out_mask) == (50, 20, 70, 60)


def test_clockwise_rotation_moves_the_layers_top_to_the_right() -> None:
    rgb, mask = _layer()
    corners = layer_corners(layer_matrix(LayerTransform(x=60, y=40, angle=90.0), (40, 20)), (40, 20))
    top_left, top_right = corners[0], corners[1]
    assert top_left == pytest.approx([70, 20]) and top_right == pytest.approx([70, 60])


def test_flip_mirrors_the_layer_left_right() -> None:
    rgb, mask = _layer()
    plain, _ = compose(_background(), rgb, mask, LayerTransform(x=50, y=30))
    flipped, _ = compose(_background(), rgb, mask, LayerTransform(x=50, y=30, flip=True))
    assert np.array_equal(flipped[20:40, 30:70], plain[20:40, 30:70][:, ::-1])


def test_soft_mask_blends_and_zero_mask_keeps_the_background_bit_identical() -> None:
    background = _background()
    rgb, mask = _layer()
    mask[:, :10] = 0.0
    mask[:, 10:20] = 0.5
    composite, out_mask = compose(background, rgb, mask, LayerTransform(x=50, y=30))
    assert np.array_equal(composite[20:40, 30:40], background[20:40, 30:40])
    expected = np.rint(background[20:40, 41:49].astype(np.float32) * 0.5 + rgb[:, 11:19].astype(np.float32) * 0.5)
    assert np.abs(composite[20:40, 41:49].astype(np.float32) - expected).max() <= 1
    assert out_mask[25, 45] == pytest.approx(0.5)


def test_a_layer_outside_the_background_changes_nothing() -> None:
    background = _background()
    rgb, mask = _layer()
    composite, out_mask = compose(background, rgb, mask, LayerTransform(x=-500, y=30))
    assert np.array_equal(composite, background) and not out_mask.any()


@pytest.mark.parametrize(
    "transform",
    [LayerTransform(x=61, y=37, scale=1.7, angle=23.0), LayerTransform(x=40, y=50, scale=0.6, angle=-70.0, flip=True)],
)
def test_preview_agrees_with_the_full_resolution_after_resizing(transform: LayerTransform) -> None:
    background = _background(480, 320)
    full_transform = LayerTransform(transform.x * 4, transform.y * 4, transform.scale * 4, transform.angle, transform.flip)
    rgb, mask = _layer()
    full, full_mask = compose(background, rgb, mask, full_transform)
    small_bg = resize_to(background, (120, 80))
    preview, preview_mask = compose(small_bg, rgb, mask, full_transform, full_size=(480, 320))
    shrunk = resize_to(full_mask, (120, 80))
    assert np.abs(preview_mask - shrunk).mean() < 0.02
    inside = (preview_mask > 0.99) & (shrunk > 0.99)
    assert inside.sum() > 100
    assert np.abs(preview[inside].astype(int) - resize_to(full, (120, 80))[inside].astype(int)).mean() < 8


def test_sixteen_bit_backgrounds_get_sixteen_bit_composites() -> None:
    background = _background(dtype=np.uint16)
    rgb, mask = _layer()
    composite, _ = compose(background, rgb, mask, LayerTransform(x=50, y=30))
    assert composite.dtype == np.uint16
    assert composite[30, 40].tolist() == [65535, 65535, 0]


def test_depth_conversion_round_trips() -> None:
    values = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    assert np.array_equal(convert_depth(convert_depth(values, np.uint16), np.uint8), values)


def test_a_layer_shrunk_far_is_area_averaged_not_aliased() -> None:
    rgb = np.zeros((400, 400, 3), np.uint8)
    rgb[::2] = 255  # one-pixel stripes average to mid grey
    composite, _ = compose(
        np.zeros((100, 100, 3), np.uint8), rgb, np.ones((400, 400), np.float32), LayerTransform(x=50, y=50, scale=0.1)
    )
    centre = composite[45:55, 45:55].astype(int)
    assert np.abs(centre - 128).max() < 20


def test_helpers_fit_and_cover() -> None:
    assert fitted_size(4000, 3000, 1_500_000) == (1414, 1061)
    assert fitted_size(100, 80, 1_500_000) == (100, 80)
    assert covered_box(layer_matrix(LayerTransform(x=10, y=10), (40, 20)), (40, 20), (120, 80)).right == 30
    placed = default_placement((40, 20), (1000, 500))
    assert (placed.x, placed.y) == (500, 250) and placed.scale == pytest.approx(0.45 * 1000 / 40)
