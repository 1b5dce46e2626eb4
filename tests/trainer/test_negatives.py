from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F

from trainer.negatives import NegativeConfig, generate_negatives


def _batch(b: int = 4, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Smooth, differently coloured photos-to-be, a soft-edged box mask, and tinted composites."""
    g = torch.Generator().manual_seed(seed)
    real = F.interpolate(torch.rand(b, 3, 4, 4, generator=g), size=size, mode="bilinear", align_corners=False)
    real = (0.2 + 0.6 * real).clamp(0, 1)
    mask = torch.zeros(b, 1, size, size)
    mask[:, :, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1.0
    mask[:, :, size // 4 - 1, size // 4 : 3 * size // 4] = 0.5  # a soft edge
    tint = torch.tensor([1.3, 1.0, 0.7]).view(1, 3, 1, 1)
    composite = torch.lerp(real, (real * tint).clamp(0, 1), mask)
    return real, mask, composite


def _fg_change(negatives: torch.Tensor, real: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, K) mean absolute change over the foreground."""
    m = mask[:, None]
    return ((negatives - real[:, None]).abs() * m).sum((2, 3, 4)) / (3 * m.sum((2, 3, 4)))


def test_shape_range_and_composite_first() -> None:
    real, mask, composite = _batch()
    negatives = generate_negatives(real, mask, composite, NegativeConfig(count=6), torch.Generator().manual_seed(0))
    assert negatives.shape == (4, 6, 3, 32, 32) and negatives.dtype == real.dtype
    assert torch.isfinite(negatives).all() and negatives.min() >= 0 and negatives.max() <= 1
    assert torch.equal(negatives[:, 0], composite)


def test_counts_with_and_without_the_composite() -> None:
    real, mask, composite = _batch()
    only_composite = generate_negatives(real, mask, composite, NegativeConfig(count=1))
    assert torch.equal(only_composite, composite[:, None])
    recoloured = generate_negatives(real, mask, composite, NegativeConfig(count=2, include_composite=False))
    assert recoloured.shape == (4, 2, 3, 32, 32) and (_fg_change(recoloured, real, mask) > 0.03).all()


def test_negatives_differ_from_real_only_inside_the_mask() -> None:
    real, mask, composite = _batch()
    negatives = generate_negatives(real, mask, composite, generator=torch.Generator().manual_seed(1))
    outside = (mask == 0).expand_as(real)
    for k in range(negatives.shape[1]):
        assert torch.equal(negatives[:, k][outside], real[outside])
    assert (_fg_change(negatives, real, mask)[:, 1:] > 0.03).all()  # every re-colouring is clearly different


def test_composite_background_noise_does_not_leak_into_negative_zero() -> None:
    real, mask, composite = _batch()
    noisy = (composite + 0.01 * (mask == 0)).clamp(0, 1)  # e.g. JPEG differences in the background
    negatives = generate_negatives(real, mask, noisy, generator=torch.Generator().manual_seed(0))
    assert torch.equal(negatives[:, 0][(mask == 0).expand_as(real)], real[(mask == 0).expand_as(real)])
    assert torch.equal(negatives[:, 0][(mask > 0).expand_as(real)], noisy[(mask > 0).expand_as(real)])


def test_same_seed_same_negatives_other_seed_other_negatives() -> None:
    real, mask, composite = _batch()
    a = generate_negatives(real, mask, composite, generator=torch.Generator().manual_seed(7))
    b = generate_negatives(real, mask, composite, generator=torch.Generator().manual_seed(7))
    c = generate_negatives(real, mask, composite, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a[:, 1:], c[:, 1:])


@pytest.mark.parametrize("weights", [(1, 0, 0), (0, 1, 0)], ids=["lab", "histogram"])
def test_transfers_take_colours_from_the_other_image(weights: tuple[float, float, float]) -> None:
    # A reddish and a bluish flat image: at full strength, either transfer gives each the other's colour.
    real = torch.zeros(2, 3, 16, 16)
    real[0, 0], real[0, 2] = 0.8, 0.2
    real[1, 0], real[1, 2] = 0.2, 0.8
    mask = torch.ones(2, 1, 16, 16)
    config = NegativeConfig(count=4, include_composite=False, method_weights=weights, transfer_strength=(1, 1))
    negatives = generate_negatives(real, mask, real, config, torch.Generator().manual_seed(0))
    assert torch.allclose(negatives[0], real[1].expand(4, 3, 16, 16), atol=1e-3)
    assert torch.allclose(negatives[1], real[0].expand(4, 3, 16, 16), atol=1e-3)


@pytest.mark.parametrize("weights", [(1, 0, 0), (0, 1, 0), (0, 0, 1)])
def test_every_method_alone_gives_valid_negatives(weights: tuple[float, float, float]) -> None:
    real, mask, composite = _batch(b=3)
    config = NegativeConfig(count=5, method_weights=weights)
    negatives = generate_negatives(real, mask, composite, config, torch.Generator().manual_seed(3))
    assert torch.isfinite(negatives).all() and negatives.min() >= 0 and negatives.max() <= 1
    assert (_fg_change(negatives, real, mask)[:, 1:] > 0.03).all()


def test_method_counts_follow_the_weights() -> None:
    assert NegativeConfig(count=6).method_counts(batch=8) == (2, 1, 2)
    assert NegativeConfig(count=6).method_counts(batch=1) == (0, 0, 5)  # nobody else to copy from
    assert sum(NegativeConfig(count=9, include_composite=False).method_counts(4)) == 9


def test_batch_of_one_uses_jitter() -> None:
    real, mask, composite = _batch(b=1)
    negatives = generate_negatives(real, mask, composite, generator=torch.Generator().manual_seed(0))
    assert negatives.shape == (1, 6, 3, 32, 32)
    assert torch.isfinite(negatives).all()
    assert (_fg_change(negatives, real, mask)[:, 1:] > 0.03).all()


def test_empty_mask_gives_the_real_image() -> None:
    real, _, _ = _batch()
    mask = torch.zeros(4, 1, 32, 32)
    negatives = generate_negatives(real, mask, real, generator=torch.Generator().manual_seed(0))
    assert torch.equal(negatives, real[:, None].expand_as(negatives))


def test_full_mask_and_flat_images_stay_finite() -> None:
    real = torch.full((3, 3, 16, 16), 0.5)
    real[1] = 0.0
    real[2] = 1.0
    mask = torch.ones(3, 1, 16, 16)
    negatives = generate_negatives(real, mask, real, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(negatives).all() and negatives.min() >= 0 and negatives.max() <= 1
    assert (_fg_change(negatives, real, mask)[:, 1:] > 0.03).all()  # even black and white get a cast


def test_half_precision_inputs_keep_their_dtype() -> None:
    real, mask, composite = _batch()
    generator = torch.Generator().manual_seed(0)
    negatives = generate_negatives(real.half(), mask.half(), composite.half(), generator=generator)
    assert negatives.dtype == torch.float16 and torch.isfinite(negatives).all()


def test_config_survives_a_json_round_trip() -> None:
    config = NegativeConfig(count=4, method_weights=(1, 2, 1))
    again = NegativeConfig(**json.loads(json.dumps(asdict(config))))
    assert again == config and hash(again) == hash(config)


def test_bad_shapes_and_configs_are_rejected() -> None:
    real, mask, composite = _batch()
    with pytest.raises(ValueError, match=r"\(4, 1, 32, 32\)"):
        generate_negatives(real, mask[:, :, :16], composite)
    with pytest.raises(ValueError, match="real and composite"):
        generate_negatives(real, mask, composite[:2])
    with pytest.raises(ValueError, match="count"):
        NegativeConfig(count=0)
    with pytest.raises(ValueError, match="method_weights"):
        NegativeConfig(method_weights=(0, 0, 0))
