from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from engine.harmonizer import ClassicalHarmonizer, NetworkHarmonizer
from engine.model.generator import GeneratorConfig, SCSCoGenerator
from engine import mapping_arrays, pipeline
from engine.box import Box
from engine.mapping import (
    AffineGridMapping, ChainMapping, ColourMapping, GatedMapping, LabStatsMapping, Window, identity_affine,
)
from engine.pipeline import (
    _area_resize,
    _blend_on_cpu,
    _blend_with_torch,
    apply_mapping,
    foreground_box,
    harmonize_array,
    predict_crop_mapping,
    working_crop,
)

# Built on the classical transfer, so even an untrained network moves a tinted foreground.
TINY = dict(base="classical", width=4, max_width=8, depth=3, working_size=32, grid=8, bain_key_dim=4, bain_pool=4)


def _scene(height: int = 90, width: int = 160, dtype: type = np.uint8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured real photo stand-in, a tinted foreground, and its mask."""
    rng = np.random.default_rng(0)
    peak = np.iinfo(dtype).max
    base = np.clip(rng.normal(0.45, 0.12, (height, width, 3)), 0, 1)
    real = (base * peak).round().astype(dtype)
    mask = np.zeros((height, width), np.float32)
    mask[height // 4 : 3 * height // 4, width // 3 : 2 * width // 3] = 1.0
    tinted = np.clip(base * np.array([1.5, 0.9, 0.6]), 0, 1)
    composite = np.where(mask[..., None] > 0, (tinted * peak).round().astype(dtype), real)
    return composite, mask, real


@pytest.fixture(params=["classical", "mapping", "rgb"])
def harmonizer(request: pytest.FixtureRequest):
    if request.param == "classical":
        return ClassicalHarmonizer()
    torch.manual_seed(0)
    return NetworkHarmonizer(SCSCoGenerator(GeneratorConfig(head=request.param, **TINY)), request.param)


@pytest.fixture(params=["arrays", "tensors"])
def cpu_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Map every box with OpenCV arrays, or every box with tensors."""
    monkeypatch.setattr(pipeline, "ARRAY_MIN_PIXELS", 0 if request.param == "arrays" else 1 << 62)
    monkeypatch.setattr(mapping_arrays, "lab_tables_built", lambda: False)
    return request.param


@pytest.mark.parametrize("shape", [(90, 160), (201, 37), (7, 5)])
def test_output_has_input_size_and_background_is_bit_identical(harmonizer, cpu_path: str, shape: tuple[int, int]) -> None:
    composite, mask, real = _scene(*shape)
    out = harmonize_array(harmonizer, composite, mask)
    assert out.shape == composite.shape and out.dtype == composite.dtype
    assert np.array_equal(out[mask == 0], composite[mask == 0])


def test_tinted_foreground_gets_closer_to_the_real_photo(harmonizer, cpu_path: str) -> None:
    composite, mask, real = _scene()
    out = harmonize_array(harmonizer, composite, mask)
    fg = mask > 0
    err_before = np.abs(composite[fg].astype(float) - real[fg]).mean()
    err_after = np.abs(out[fg].astype(float) - real[fg]).mean()
    assert err_after < 0.5 * err_before


def test_sixteen_bit_input_stays_sixteen_bit(cpu_path: str) -> None:
    composite, mask, real = _scene(dtype=np.uint16)
    out = harmonize_array(ClassicalHarmonizer(), composite, mask)
    assert out.dtype == np.uint16
    assert np.array_equal(out[mask == 0], composite[mask == 0])
    assert len(np.unique(out[mask > 0] % 256)) > 200  # fine levels survive, not 8-bit steps


def test_fine_texture_survives_full_resolution() -> None:
    """The mapping is applied to full-resolution pixels: a 1-pixel checkerboard stays sharp."""
    composite, mask, _ = _scene(400, 600)
    checker = ((np.indices(mask.shape).sum(0) % 2) * 60).astype(np.int16)[..., None]
    composite = np.clip(composite.astype(np.int16) + np.where(mask[..., None] > 0, checker - 30, 0), 0, 255).astype(np.uint8)
    out = harmonize_array(ClassicalHarmonizer(), composite, mask).astype(float)
    fg = out[100:300, 200:400].mean(axis=2)
    neighbour_contrast = np.abs(np.diff(fg, axis=1)).mean()
    assert neighbour_contrast > 30


def test_empty_mask_and_zero_strength_return_the_composite(harmonizer) -> None:
    composite, mask, _ = _scene()
    assert np.array_equal(harmonize_array(harmonizer, composite, np.zeros_like(mask)), composite)
    assert np.array_equal(harmonize_array(harmonizer, composite, mask, strength=0.0), composite)


def test_full_mask_gives_a_finite_result(harmonizer) -> None:
    composite, mask, _ = _scene()
    out = harmonize_array(harmonizer, composite, np.ones_like(mask))
    assert out.shape == composite.shape


def test_strength_blends_between_composite_and_result() -> None:
    composite, mask, _ = _scene()
    full = harmonize_array(ClassicalHarmonizer(), composite, mask).astype(float)
    half = harmonize_array(ClassicalHarmonizer(), composite, mask, strength=0.5).astype(float)
    assert np.abs(half - (composite + full) / 2).max() <= 1.0


def test_a_gated_mapping_blends_like_that_strength(cpu_path: str) -> None:
    composite, mask, _ = _scene()
    box = foreground_box(mask > 0)
    crop = working_crop(box, *mask.shape)
    mapping = predict_crop_mapping(ClassicalHarmonizer(), composite, mask, crop)
    gated = GatedMapping(mapping, torch.tensor([0.4]))
    device = torch.device("cpu")
    expected = apply_mapping(mapping, composite, mask, box, crop, device, strength=0.2)
    assert np.array_equal(apply_mapping(gated, composite, mask, box, crop, device, strength=0.5), expected)
    assert not np.array_equal(expected, composite)


def test_strength_above_one_asks_a_gated_model_for_more_up_to_its_whole_correction(cpu_path: str) -> None:
    composite, mask, _ = _scene()
    box = foreground_box(mask > 0)
    crop = working_crop(box, *mask.shape)
    mapping = predict_crop_mapping(ClassicalHarmonizer(), composite, mask, crop)
    device = torch.device("cpu")

    def blended(m: ColourMapping, strength: float) -> np.ndarray:
        return apply_mapping(m, composite, mask, box, crop, device, strength)

    assert np.array_equal(blended(GatedMapping(mapping, torch.tensor([0.4])), 2.0), blended(mapping, 0.8))
    whole = blended(mapping, 1.0)
    assert np.array_equal(blended(GatedMapping(mapping, torch.tensor([0.6])), 2.0), whole)  # not beyond it
    assert np.array_equal(blended(mapping, 1.5), whole)  # a model without a gate holds nothing back
    with pytest.raises(ValueError, match="strength must be between 0 and 2"):
        harmonize_array(ClassicalHarmonizer(), composite, mask, strength=2.5)


def test_soft_mask_edges_blend_smoothly() -> None:
    composite, mask, _ = _scene()
    soft = mask.copy()
    soft[mask.shape[0] // 4, :] *= 0.5
    out = harmonize_array(ClassicalHarmonizer(), composite, soft).astype(float)
    hard = harmonize_array(ClassicalHarmonizer(), composite, mask).astype(float)
    row = mask.shape[0] // 4
    cols = mask[row] > 0
    # Two roundings, and the half-weight row shifts the foreground statistics a little.
    assert np.abs(out[row, cols] - (composite[row, cols] + hard[row, cols]) / 2).max() <= 2.0


def test_small_foreground_is_judged_against_its_surroundings() -> None:
    """A small object on the blue side of a two-coloured picture is matched to the blue side."""
    height, width = 600, 1200
    rng = np.random.default_rng(1)
    image = np.empty((height, width, 3), np.uint8)
    image[:, : width // 2] = (200, 90, 60)
    image[:, width // 2 :] = (60, 90, 200)
    image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
    mask = np.zeros((height, width), np.float32)
    mask[280:320, 980:1020] = 1.0
    composite = image.copy()
    composite[mask > 0] = np.clip(composite[mask > 0] * np.array([0.5, 1.0, 0.5]) + np.array([100, 40, 0]), 0, 255)
    out = harmonize_array(ClassicalHarmonizer(), composite, mask)
    fg_mean = out[mask > 0].mean(0)
    assert fg_mean[2] > fg_mean[0] + 80  # blue like its neighbourhood, not the image average


def test_working_crop_keeps_context_and_stays_inside() -> None:
    assert foreground_box(np.zeros((4, 4), bool)) is None
    box = Box(280, 980, 320, 1020)
    crop = working_crop(box, 600, 1200)
    assert (crop.top, crop.left, crop.bottom, crop.right) == (240, 940, 360, 1060)
    near_edge = working_crop(Box(280, 1150, 320, 1190), 600, 1200)
    assert near_edge.right == 1200 and near_edge.width == 120  # shifted inside, not cut
    whole = working_crop(Box(10, 10, 590, 1190), 600, 1200)
    assert (whole.top, whole.left, whole.bottom, whole.right) == (0, 0, 600, 1200)


@pytest.mark.parametrize("height, width", [(918, 1633), (3000, 4000), (257, 129), (999, 1000), (100, 300), (128, 128)])
def test_area_resize_in_pieces_equals_one_resize(height: int, width: int) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 65536, (height, width, 3)).astype(np.uint16)
    mask = rng.random((height, width), dtype=np.float32)
    for image, resized in zip((rgb, mask), _area_resize([rgb, mask], 128)):
        assert np.array_equal(resized, cv2.resize(image, (128, 128), interpolation=cv2.INTER_AREA))


@pytest.mark.parametrize(
    "composite, mask, message",
    [
        (np.zeros((10, 10, 3), np.uint8), np.zeros((10, 12), np.float32), "12x10"),
        (np.zeros((10, 10), np.uint8), np.zeros((10, 10), np.float32), "H, W, 3"),
        (np.zeros((10, 10, 3), np.float32), np.zeros((10, 10), np.float32), "uint8"),
        (np.zeros((10, 10, 3), np.uint8), np.full((10, 10), np.nan, np.float32), "NaN"),
    ],
)
def test_bad_inputs_are_explained(composite: np.ndarray, mask: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        harmonize_array(ClassicalHarmonizer(), composite, mask)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("strength", [1.0, 0.3])
def test_cpu_arrays_and_tensors_blend_to_the_same_pixels(harmonizer, dtype: type, strength: float) -> None:
    composite, mask, _ = _scene(dtype=dtype)
    mask[mask.shape[0] // 4] = 0.4  # a soft row
    box = foreground_box(mask > 0)
    crop = working_crop(box, *mask.shape)
    mapping = predict_crop_mapping(harmonizer, composite, mask, crop)
    original = composite[box.top : box.bottom, box.left : box.right]
    weight = mask[box.top : box.bottom, box.left : box.right]
    window = Window((box.top - crop.top) / crop.height, 0.0, 1.0, 1.0)
    fast = _blend_on_cpu(mapping, original, weight, window, strength).astype(np.int64)
    tensors = _blend_with_torch(mapping, original, weight, window, strength, torch.device("cpu"))
    # Rounding, and OpenCV's Lab conversion within a twentieth of an 8-bit level.
    tolerance = 1 + np.iinfo(dtype).max * 0.05 / 255
    assert np.abs(fast - tensors).max() <= tolerance and (np.abs(fast - tensors) > 1).mean() < 0.01


def test_chunks_mapped_where_their_mask_is_equal_the_whole_box_mapped_at_once() -> None:
    composite, _, _ = _scene(400, 300)
    mask = np.zeros((400, 300), np.float32)
    mask[20:90, 30:80] = 1.0  # two objects far apart: chunks between them hold no mask
    mask[300:380, 200:290] = 0.6
    torch.manual_seed(0)
    grid = AffineGridMapping(identity_affine(1)[:, :, None, None] + 0.1 * torch.randn(1, 12, 5, 4))
    mapping = ChainMapping(LabStatsMapping(torch.tensor([[1.1, 0.8, 1.2]]), torch.tensor([[3.0, -5.0, 4.0]])), grid)
    box, crop = Box(20, 30, 380, 290), Box(0, 0, 400, 300)
    out = apply_mapping(mapping, composite, mask, box, crop, torch.device("cpu"), 0.8).astype(np.int64)
    region = (slice(box.top, box.bottom), slice(box.left, box.right))
    whole = _blend_on_cpu(mapping, composite[region], mask[region], Window(20 / 400, 30 / 300, 380 / 400, 290 / 300), 0.8)
    assert np.abs(out[region] - whole).max() <= 1  # windows of chunks round a little differently
    assert np.array_equal(out[mask == 0], composite[mask == 0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_gives_the_cpu_pixels(harmonizer) -> None:
    composite, mask, _ = _scene()
    box = foreground_box(mask > 0)
    crop = working_crop(box, *mask.shape)
    mapping = predict_crop_mapping(harmonizer, composite, mask, crop)
    on_cpu = apply_mapping(mapping, composite, mask, box, crop, torch.device("cpu")).astype(np.int64)
    on_gpu = apply_mapping(mapping.to("cuda"), composite, mask, box, crop, torch.device("cuda"))
    assert np.abs(on_cpu - on_gpu).max() <= 1
    assert np.array_equal(on_gpu[mask == 0], composite[mask == 0])


class BrokenMapping(ColourMapping):
    """Answers NaN everywhere."""

    def apply(self, rgb: torch.Tensor, window: Window = Window()) -> torch.Tensor:
        return torch.full_like(rgb, float("nan"))

    def apply_array(self, pixels: np.ndarray, window: Window = Window()) -> np.ndarray:
        return np.full(pixels.shape, np.nan, np.float32)

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> BrokenMapping:
        return self


def test_a_broken_mapping_never_touches_the_background(cpu_path: str) -> None:
    composite, mask, _ = _scene()
    mask[:, mask.shape[1] // 2] = 0.5  # a soft column: background pixels inside the box
    box = foreground_box(mask > 0)
    out = apply_mapping(BrokenMapping(), composite, mask, box, box, torch.device("cpu"))
    assert np.array_equal(out[mask == 0], composite[mask == 0])


def test_small_boxes_use_arrays_once_the_lab_tables_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(pipeline, "_blend_on_cpu", lambda *args: calls.append("arrays") or args[1].copy())
    monkeypatch.setattr(pipeline, "_blend_with_torch", lambda *args: calls.append("tensors") or args[1].copy())
    composite, mask, _ = _scene()
    for built in (False, True):
        monkeypatch.setattr(mapping_arrays, "lab_tables_built", lambda built=built: built)
        harmonize_array(ClassicalHarmonizer(), composite, mask)
    assert calls[0] == "tensors" and set(calls[1:]) == {"arrays"}  # arrays: a chunk per core at least
