from __future__ import annotations

import pytest
import torch

from engine.color import rgb_to_lab
from engine.color_transfer import (
    CURVE_LEVELS,
    MAX_SCALE,
    MIN_SCALE,
    apply_curves,
    apply_stats_transfer,
    level_histogram,
    matching_curves,
    sample_quantiles,
    stats_transfer,
    weighted_stats,
)


def test_stats_transfer_moves_mean_and_spread_and_clamps_the_ratio() -> None:
    mean, std = torch.tensor([[50.0, 0.0, 10.0]]), torch.tensor([[10.0, 1.0, 5.0]])
    target_mean, target_std = torch.tensor([[60.0, 5.0, -10.0]]), torch.tensor([[20.0, 100.0, 0.1]])
    scale, shift = stats_transfer(mean, std, target_mean, target_std)
    assert torch.allclose(scale, torch.tensor([[2.0, MAX_SCALE, MIN_SCALE]]))
    assert torch.allclose(scale * mean + shift, target_mean)  # the mean lands on the target's
    kept, kept_shift = stats_transfer(mean, std, target_mean, target_std, keep_spread=True)
    assert torch.equal(kept, torch.ones(1, 3)) and torch.allclose(mean + kept_shift, target_mean)


def test_stats_transfer_part_of_the_way() -> None:
    mean, std = torch.tensor([[50.0, 0.0, 10.0]]), torch.tensor([[10.0, 10.0, 10.0]])
    target_mean, target_std = torch.tensor([[60.0, 20.0, -10.0]]), torch.tensor([[22.5, 10.0, 4.9]])
    strength = torch.tensor([[0.0], [0.5], [1.0]])  # three strengths broadcast over one region
    scale, shift = stats_transfer(mean, std, target_mean, target_std, strength)
    assert torch.allclose(scale[0], torch.ones(3)) and torch.allclose(shift[0], torch.zeros(3))
    assert torch.allclose(scale[1], torch.tensor([1.5, 1.0, 0.7]))  # the square root of the ratio
    assert torch.allclose(scale[1] * mean[0] + shift[1], (mean[0] + target_mean[0]) / 2)
    full_scale, full_shift = stats_transfer(mean, std, target_mean, target_std)
    assert torch.allclose(scale[2], full_scale[0]) and torch.allclose(shift[2], full_shift[0])


def test_applied_transfer_gives_the_region_the_target_statistics() -> None:
    torch.manual_seed(0)
    rgb = (0.4 + 0.1 * torch.randn(2, 3, 16, 16)).clamp(0, 1)
    lab = rgb_to_lab(rgb)
    weights = torch.ones(2, 1, 16, 16)
    mean, std, _ = weighted_stats(lab, weights)
    target_mean, target_std = mean + torch.tensor([5.0, 3.0, -4.0]), std * 1.2
    out = apply_stats_transfer(lab, *stats_transfer(mean, std, target_mean, target_std))
    assert out.shape == rgb.shape
    new_mean, new_std, _ = weighted_stats(rgb_to_lab(out), weights)
    assert torch.allclose(new_mean, target_mean, atol=0.5) and torch.allclose(new_std, target_std, rtol=0.05)


@pytest.mark.parametrize("estimate", [level_histogram, sample_quantiles], ids=["8-bit histogram", "quantiles"])
def test_matching_curves_give_the_reference_distribution(estimate) -> None:  # noqa: ANN001
    torch.manual_seed(1)
    source = torch.rand(1, 3, 4096) * 0.5  # uniform on [0, 0.5]
    reference = 0.3 + torch.rand(1, 3, 4096) * 0.6  # uniform on [0.3, 0.9]
    weights = torch.ones(1, 1, 4096)
    curves = matching_curves(estimate(source, weights), estimate(reference, weights))
    assert curves.shape == (1, 3, CURVE_LEVELS)
    matched = apply_curves(source.view(1, 3, 64, 64), curves).flatten(-2)
    for q in (0.1, 0.5, 0.9):
        assert torch.allclose(matched.float().quantile(q, dim=-1), reference.quantile(q, dim=-1), atol=0.02)


def test_weights_choose_the_region_and_strength_zero_is_the_identity() -> None:
    values = torch.cat((torch.full((1, 3, 100), 0.2), torch.full((1, 3, 100), 0.8)), dim=-1)
    first_half = torch.cat((torch.ones(1, 1, 100), torch.zeros(1, 1, 100)), dim=-1)
    reference = sample_quantiles(torch.full((1, 3, 10), 0.6), torch.ones(1, 1, 10))
    curves = matching_curves(sample_quantiles(values, first_half), reference)
    assert torch.allclose(apply_curves(torch.full((1, 3, 1, 1), 0.2), curves), torch.full((1, 3, 1, 1), 0.6))
    identity = matching_curves(sample_quantiles(values, first_half), reference, torch.zeros(1))
    image = torch.rand(1, 3, 5, 5)
    assert torch.allclose(apply_curves(image, identity), image, atol=1e-6)
