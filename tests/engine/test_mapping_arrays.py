from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.color import srgb_to_linear
from engine.mapping import (
    AffineGridMapping, BlendMapping, ChainMapping, ColourMapping, GatedMapping, LabStatsMapping, Window, identity_affine,
)
from engine.mapping_arrays import _linear_table, _runs, to_linear, warm_up

# OpenCV's Lab conversion against engine.color, in [0, 1] units: a twentieth of an 8-bit level.
LAB_TOLERANCE = 0.05 / 255
WINDOWS = [Window(), Window(0.1, 0.3, 0.5, 0.9), Window(-0.2, 0.5, 1.3, 0.55)]


def _pixels(dtype: type, height: int = 23, width: int = 31) -> np.ndarray:
    """Random colours plus the corners of the RGB cube."""
    top = np.iinfo(dtype).max
    pixels = np.random.default_rng(0).integers(0, top + 1, (height, width, 3)).astype(dtype)
    corners = np.array(np.meshgrid([0, top], [0, top], [0, top], indexing="ij")).reshape(3, -1).T
    flat = pixels.reshape(-1, 3)
    flat[: len(corners)] = corners[: len(flat)]
    return flat.reshape(pixels.shape)


def _mappings() -> list[ColourMapping]:
    torch.manual_seed(0)
    lab = LabStatsMapping(torch.tensor([[1.3, 0.6, 1.8]]), torch.tensor([[9.0, -25.0, 30.0]]))
    other_lab = LabStatsMapping(torch.tensor([[0.8, 1.2, 0.5]]), torch.tensor([[-6.0, 10.0, -20.0]]))
    grid = AffineGridMapping(identity_affine(1)[:, :, None, None] + 0.15 * torch.randn(1, 12, 5, 7))
    single = AffineGridMapping(identity_affine(1)[:, :, None, None] + 0.15 * torch.randn(1, 12, 1, 1))
    return [lab, grid, single, ChainMapping(lab, grid), GatedMapping(ChainMapping(lab, grid), torch.tensor([0.3])),
            BlendMapping(ChainMapping(lab, grid), single, torch.tensor([0.4])),
            BlendMapping(ChainMapping(lab, grid), other_lab, torch.tensor([0.6]))]  # Lab converted once


def _reference(mapping: ColourMapping, pixels: np.ndarray, window: Window) -> np.ndarray:
    rgb = torch.from_numpy(pixels.astype(np.float32) / np.iinfo(pixels.dtype).max).permute(2, 0, 1)[None]
    return mapping.apply(rgb, window)[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("index", range(7))
def test_array_mapping_equals_the_tensor_mapping(dtype: type, window: Window, index: int) -> None:
    mapping = _mappings()[index]
    pixels = _pixels(dtype)
    expected = _reference(mapping, pixels, window)
    for given in (pixels, pixels.astype(np.float32) / np.iinfo(dtype).max):
        out = mapping.apply_array(given, window)
        assert out.dtype == np.float32 and out.shape == pixels.shape
        assert np.abs(out - expected).max() < LAB_TOLERANCE


def test_a_window_maps_like_the_matching_part_of_the_whole() -> None:
    mapping = _mappings()[1]
    pixels = _pixels(np.uint8, 40, 60)
    whole = mapping.apply_array(pixels)
    part = mapping.apply_array(pixels[10:30, 30:], Window(10 / 40, 30 / 60, 30 / 40, 1.0))
    assert np.abs(part - whole[10:30, 30:]).max() < 1e-5


def test_single_pixel_and_single_row_images() -> None:
    mapping = _mappings()[3]
    for shape in [(1, 1), (1, 9), (9, 1)]:
        pixels = _pixels(np.uint8, *shape)
        assert np.abs(mapping.apply_array(pixels) - _reference(mapping, pixels, Window())).max() < LAB_TOLERANCE


def test_runs_cover_every_pixel_once_between_neighbouring_nodes() -> None:
    runs = _runs(0.0, 1.0, 100, 4)
    assert [r.start for r in runs] == [0] + [r.stop for r in runs[:-1]] and runs[-1].stop == 100
    assert [(r.node0, r.node1) for r in runs] == [(0, 1), (1, 2), (2, 3)]
    weights = np.concatenate([r.weight for r in runs])
    assert weights.min() == 0.0 and weights.max() == 1.0  # clamped beyond the outer nodes
    assert [(r.node0, r.node1) for r in _runs(0.0, 1.0, 5, 1)] == [(0, 0)]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_pixels_are_linearised_exactly(dtype: type) -> None:
    top = np.iinfo(dtype).max
    codes = np.arange(0, top + 1, max(1, top // 300), dtype=dtype)[None, :, None].repeat(3, axis=2)
    expected = srgb_to_linear(torch.from_numpy(codes.astype(np.float64) / top)).float().numpy()
    assert np.array_equal(to_linear(codes), expected)


def test_batches_are_refused() -> None:
    mapping = LabStatsMapping(torch.ones(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="batch of 2"):
        mapping.apply_array(_pixels(np.uint8))


def test_warm_up_fills_the_tables() -> None:
    _linear_table.cache_clear()
    warm_up()
    assert _linear_table.cache_info().currsize == 2  # the uint8 table via lab_stats, and uint16
