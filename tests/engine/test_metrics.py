"""Tests for engine.metrics (iHarmony4 evaluation protocol)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.metrics import (
    EVAL_SIZE,
    MetricAccumulator,
    best_blend_fmse,
    image_metrics,
    masked_mse,
    psnr,
    psnr_to_mse,
    scores,
)

_IDENTICAL_PSNR = 10 * math.log10(255.0**2 / 1e-10)


def _mse(pred: np.ndarray, target: np.ndarray) -> float:
    return image_metrics(pred, target, np.zeros(pred.shape[:2]), size=None)["mse"]


def _psnr(pred: np.ndarray, target: np.ndarray) -> float:
    return image_metrics(pred, target, np.zeros(pred.shape[:2]), size=None)["psnr"]


def _fmse(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    return image_metrics(pred, target, mask, size=None)["fmse"]


def _one_pixel_pair() -> tuple[np.ndarray, np.ndarray]:
    """2x2 images that differ by 10 at pixel (0, 0), channel 0."""
    target = np.full((2, 2, 3), 100, dtype=np.uint8)
    pred = target.copy()
    pred[0, 0, 0] = 110
    return pred, target


def _constant_offset_pair(
    height: int, width: int, offset: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 200, size=(height, width, 3), dtype=np.uint8)
    return target + np.uint8(offset), target


def test_eval_size_is_256() -> None:
    assert EVAL_SIZE == 256


def test_hand_computed_one_pixel_difference() -> None:
    pred, target = _one_pixel_pair()
    mask = np.zeros((2, 2), dtype=np.float32)
    mask[0, 0] = 1.0

    assert _mse(pred, target) == pytest.approx(100 / 12)
    assert _psnr(pred, target) == pytest.approx(10 * math.log10(65025 * 12 / 100))
    assert _fmse(pred, target, mask) == pytest.approx(100 / 3)


def test_fmse_ignores_error_outside_the_mask() -> None:
    pred, target = _one_pixel_pair()
    mask = np.zeros((2, 2), dtype=np.float32)
    mask[1, :] = 1.0

    assert _fmse(pred, target, mask) == 0.0


def test_fmse_divides_by_foreground_pixel_count() -> None:
    pred, target = _one_pixel_pair()
    mask = np.ones((2, 2), dtype=np.float32)

    assert _fmse(pred, target, mask) == pytest.approx(100 / (3 * 4))


def test_identical_images() -> None:
    image = np.random.default_rng(1).integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    mask = np.ones((5, 4), dtype=np.float32)

    assert _mse(image, image) == 0.0
    value = _psnr(image, image)
    assert math.isfinite(value)
    assert value == pytest.approx(_IDENTICAL_PSNR)
    assert value > 100
    assert _fmse(image, image, mask) == 0.0


def test_empty_mask_gives_zero_fmse() -> None:
    pred, target = _one_pixel_pair()

    assert _fmse(pred, target, np.zeros((2, 2), dtype=np.float32)) == 0.0
    assert _fmse(pred, target, np.zeros((2, 2), dtype=np.uint8)) == 0.0


def test_mask_threshold_is_strictly_above_half() -> None:
    pred, target = _one_pixel_pair()

    assert _fmse(pred, target, np.full((2, 2), 0.5)) == 0.0
    assert _fmse(pred, target, np.full((2, 2), 0.51)) == pytest.approx(100 / 12)


def test_uint8_mask_is_normalised() -> None:
    pred, target = _one_pixel_pair()
    mask = np.zeros((2, 2), dtype=np.uint8)
    mask[0, 0] = 255

    assert _fmse(pred, target, mask) == pytest.approx(100 / 3)


def test_mask_with_trailing_channel_axis_is_accepted() -> None:
    pred, target = _one_pixel_pair()
    mask = np.zeros((2, 2, 1), dtype=np.uint8)
    mask[0, 0, 0] = 255

    assert _fmse(pred, target, mask) == pytest.approx(100 / 3)


def test_uint8_and_float_inputs_agree() -> None:
    rng = np.random.default_rng(2)
    pred = rng.integers(0, 256, size=(6, 7, 3), dtype=np.uint8)
    target = rng.integers(0, 256, size=(6, 7, 3), dtype=np.uint8)
    mask = (rng.random((6, 7)) > 0.5).astype(np.float32)

    for size in (None, 4):
        as_uint8 = image_metrics(pred, target, mask, size=size)
        as_float32 = image_metrics(
            pred.astype(np.float32) / 255, target.astype(np.float32) / 255, mask, size=size
        )
        as_float64 = image_metrics(pred / 255.0, target / 255.0, mask, size=size)
        for key, value in as_uint8.items():
            assert as_float32[key] == pytest.approx(value, rel=1e-5)
            assert as_float64[key] == pytest.approx(value, rel=1e-9)


def test_mixed_dtypes_are_each_converted() -> None:
    pred, target = _one_pixel_pair()

    assert _mse(pred, target.astype(np.float64) / 255) == pytest.approx(100 / 12)


def test_uint16_is_rescaled_to_255_scale() -> None:
    pred, target = _one_pixel_pair()
    # 257 * 255 == 65535, so v * 257 in uint16 is exactly v on the 0-255 scale.
    pred16 = pred.astype(np.uint16) * 257
    target16 = target.astype(np.uint16) * 257
    mask = np.zeros((2, 2), dtype=np.float32)
    mask[0, 0] = 1.0

    assert _mse(pred16, target16) == pytest.approx(100 / 12)
    assert _psnr(pred16, target16) == pytest.approx(_psnr(pred, target))
    assert _fmse(pred16, target16, mask) == pytest.approx(100 / 3)


def test_uint16_full_range() -> None:
    black = np.zeros((1, 1, 3), dtype=np.uint16)
    white = np.full((1, 1, 3), 65535, dtype=np.uint16)

    assert _mse(white, black) == pytest.approx(255.0**2)
    assert _psnr(white, black) == pytest.approx(0.0)


def test_shape_mismatch_quotes_both_shapes() -> None:
    a = np.zeros((2, 2, 3), dtype=np.uint8)
    b = np.zeros((2, 3, 3), dtype=np.uint8)

    with pytest.raises(ValueError, match=r"\(2, 2, 3\).*\(2, 3, 3\)"):
        _mse(a, b)
    with pytest.raises(ValueError, match=r"\(2, 2, 3\).*\(2, 3, 3\)"):
        image_metrics(a, b, np.zeros((2, 2)))


def test_mask_shape_mismatch() -> None:
    pred, target = _one_pixel_pair()

    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 2\)"):
        _fmse(pred, target, np.zeros((3, 2)))


def test_non_rgb_shape_is_rejected() -> None:
    gray = np.zeros((2, 2), dtype=np.uint8)

    with pytest.raises(ValueError, match="H, W, 3"):
        _mse(gray, gray)


def test_unsupported_dtype_is_rejected() -> None:
    image = np.zeros((2, 2, 3), dtype=np.int32)

    with pytest.raises(TypeError, match="int32"):
        _mse(image, image)


def test_image_metrics_keys_and_full_resolution_values() -> None:
    pred, target = _one_pixel_pair()
    mask = np.zeros((2, 2), dtype=np.float32)
    mask[0, 0] = 1.0

    result = image_metrics(pred, target, mask, size=None)

    assert set(result) == {"mse", "psnr", "fmse"}
    assert result["mse"] == pytest.approx(100 / 12)
    assert result["psnr"] == pytest.approx(10 * math.log10(65025 * 12 / 100))
    assert result["fmse"] == pytest.approx(100 / 3)


@pytest.mark.parametrize("shape", [(300, 200), (256, 256), (100, 140)])
def test_constant_offset_is_size_independent(shape: tuple[int, int]) -> None:
    pred, target = _constant_offset_pair(*shape, offset=7)
    mask = np.zeros(shape, dtype=np.uint8)
    mask[: shape[0] // 2, : shape[1] // 2] = 255

    resized = image_metrics(pred, target, mask)  # default: EVAL_SIZE
    full = image_metrics(pred, target, mask, size=None)

    for result in (resized, full):
        assert result["mse"] == pytest.approx(49.0)
        assert result["psnr"] == pytest.approx(10 * math.log10(65025 / 49))
        assert result["fmse"] == pytest.approx(49.0)


def test_resize_averages_an_isolated_error() -> None:
    # A 2x bilinear downscale averages 2x2 blocks: a 10-level error on one pixel
    # becomes 2.5 on one pixel of the 2x2 result.
    target = np.full((4, 4, 3), 100, dtype=np.uint8)
    pred = target.copy()
    pred[0, 0, 0] = 110
    block = np.zeros((4, 4), dtype=np.float32)
    block[:2, :2] = 1.0

    full = image_metrics(pred, target, block, size=None)
    small = image_metrics(pred, target, block, size=2)

    assert full["mse"] == pytest.approx(100 / 48)
    assert small["mse"] == pytest.approx(2.5**2 / 12)
    assert full["fmse"] == pytest.approx(100 / 12)
    assert small["fmse"] == pytest.approx(2.5**2 / 3)


def test_resized_mask_is_thresholded() -> None:
    # With a constant offset the fMSE is d^2 whenever any pixel is foreground:
    # the mask area matters only through thresholding after the resize.
    pred, target = _constant_offset_pair(4, 4, offset=5)
    single = np.zeros((4, 4), dtype=np.float32)
    single[0, 0] = 1.0  # averages to 0.25 -> background
    half = np.zeros((4, 4), dtype=np.float32)
    half[0, :2] = 1.0  # averages to 0.5 -> background (strictly above 0.5 needed)
    three = np.zeros((4, 4), dtype=np.float32)
    three[:2, :2] = 1.0
    three[1, 1] = 0.0  # averages to 0.75 -> foreground

    for mask in (single, half, three):
        assert image_metrics(pred, target, mask, size=None)["fmse"] == pytest.approx(25.0)
    assert image_metrics(pred, target, single, size=2)["fmse"] == 0.0
    assert image_metrics(pred, target, half, size=2)["fmse"] == 0.0
    assert image_metrics(pred, target, three, size=2)["fmse"] == pytest.approx(25.0)


def test_default_size_upscales_small_images() -> None:
    pred, target = _one_pixel_pair()
    mask = np.ones((2, 2), dtype=np.float32)

    resized = image_metrics(pred, target, mask)
    full = image_metrics(pred, target, mask, size=None)

    assert resized["mse"] != pytest.approx(full["mse"])
    assert 0 < resized["mse"] < 100


def test_non_positive_size_is_rejected() -> None:
    pred, target = _one_pixel_pair()

    with pytest.raises(ValueError, match="size"):
        image_metrics(pred, target, np.ones((2, 2)), size=0)


def test_accumulator_means_and_per_image() -> None:
    acc = MetricAccumulator()
    acc.add("a_1_1", {"mse": 10.0, "psnr": 30.0, "fmse": 100.0})
    acc.add("b_1_1", {"mse": 30.0, "psnr": 40.0, "fmse": 0.0})

    assert len(acc) == 2
    assert acc.means() == pytest.approx({"mse": 20.0, "psnr": 35.0, "fmse": 50.0})
    assert [name for name, _ in acc.per_image] == ["a_1_1", "b_1_1"]
    assert acc.per_image[1][1]["psnr"] == 40.0


def test_accumulator_psnr_is_mean_of_per_image_values() -> None:
    rng = np.random.default_rng(3)
    acc = MetricAccumulator()
    for index in range(3):
        target = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
        pred = np.clip(target.astype(int) + (index + 1) * 3, 0, 255).astype(np.uint8)
        acc.add(f"img{index}", image_metrics(pred, target, np.ones((8, 8)), size=None))

    per_image = [values for _, values in acc.per_image]
    expected_psnr = sum(values["psnr"] for values in per_image) / 3
    psnr_of_mean_mse = 10 * math.log10(65025 / (sum(v["mse"] for v in per_image) / 3))
    assert acc.means()["psnr"] == pytest.approx(expected_psnr)
    assert acc.means()["psnr"] != pytest.approx(psnr_of_mean_mse)


def test_accumulator_per_image_returns_copies() -> None:
    acc = MetricAccumulator()
    values = {"mse": 1.0}
    acc.add("x", values)
    values["mse"] = 99.0
    acc.per_image[0][1]["mse"] = 42.0

    assert acc.means() == {"mse": 1.0}


def test_empty_accumulator() -> None:
    acc = MetricAccumulator()

    assert len(acc) == 0
    assert acc.means() == {}
    assert acc.per_image == []


def test_accumulator_rejects_inconsistent_keys() -> None:
    acc = MetricAccumulator()
    acc.add("a", {"mse": 1.0, "psnr": 2.0})

    with pytest.raises(ValueError, match="'b'"):
        acc.add("b", {"mse": 1.0})
    assert len(acc) == 1


def test_masked_mse_weights_soft_masks_and_floors_the_area() -> None:
    pred, target = torch.zeros(2, 3, 2, 2), torch.zeros(2, 3, 2, 2)
    pred[:, :, 0, 0] = 1.0
    mask = torch.zeros(2, 1, 2, 2)
    mask[0, :, 0, :] = 1.0  # the erring pixel and a correct one
    mask[1, :, 0, 0] = 0.5  # half of the erring pixel
    assert torch.allclose(masked_mse(pred, target, mask), torch.tensor([3 / (3 * 2), 1.5 / (3 * 0.5)]))
    assert torch.allclose(masked_mse(pred, target, mask, min_area=3.0), torch.tensor([3 / 9, 1.5 / 9]))


def test_masked_mse_of_an_empty_mask_is_zero_with_finite_gradients() -> None:
    pred = torch.rand(1, 3, 4, 4, requires_grad=True)
    value = masked_mse(pred, torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 4))
    value.sum().backward()
    assert value.item() == 0.0 and torch.equal(pred.grad, torch.zeros_like(pred))


def test_batched_scores_match_the_per_image_protocol() -> None:
    rng = np.random.default_rng(4)
    real = rng.integers(0, 256, size=(2, 6, 7, 3), dtype=np.uint8)
    pred = np.clip(real.astype(int) + rng.integers(-20, 21, size=real.shape), 0, 255).astype(np.uint8)
    mask = rng.random((2, 6, 7)).astype(np.float32)
    as_tensor = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    batched = scores(as_tensor(pred), as_tensor(real), torch.from_numpy(mask)[:, None])
    for i in range(2):
        single = image_metrics(pred[i], real[i], mask[i], size=None)
        for key, value in single.items():
            assert batched[key][i].item() == pytest.approx(value, rel=1e-6), key


def test_psnr_to_mse_inverts_psnr() -> None:
    assert psnr(torch.tensor([psnr_to_mse(31.5)], dtype=torch.float64)).item() == pytest.approx(31.5)


def test_the_best_blend_finds_the_strength_that_undoes_an_edit() -> None:
    rng = np.random.default_rng(0)
    real = rng.integers(60, 190, (16, 20, 3)).astype(np.uint8)
    mask = np.zeros((16, 20), np.float32)
    mask[4:12, 5:15] = 1.0
    composite = real.copy()
    composite[mask > 0] -= 40  # the foreground darkened
    overshoot = real.copy()
    overshoot[mask > 0] += 40  # a model that goes twice as far as needed: half its change is right
    assert best_blend_fmse(composite, overshoot, real, mask) == pytest.approx(0.0, abs=1e-9)
    assert _fmse(overshoot, real, mask) > 1000
    wrong_way = composite - np.where(mask[..., None] > 0, 20, 0).astype(np.uint8)
    assert best_blend_fmse(composite, wrong_way, real, mask) == pytest.approx(_fmse(composite, real, mask))  # none of it
    short = real.copy()
    short[mask > 0] -= 30  # a quarter of the way back: all of it is best, no more can be had
    assert best_blend_fmse(composite, short, real, mask) == pytest.approx(_fmse(short, real, mask))
    assert best_blend_fmse(composite, composite, real, np.zeros_like(mask)) == 0.0
