from __future__ import annotations

import pytest
import torch

from engine.mapping import (
    AffineGridMapping,
    BlendMapping,
    ChainMapping,
    GatedMapping,
    LabStatsMapping,
    Window,
    apply_affine,
    fit_affine_grid,
    identity_affine,
)


def _affine(matrix: list[list[float]]) -> torch.Tensor:
    return torch.tensor(matrix).reshape(1, 12, 1, 1)


def test_identity_mapping_returns_the_input() -> None:
    rgb = torch.rand(2, 3, 6, 5)
    mapping = AffineGridMapping(identity_affine(2)[:, :, None, None].expand(2, 12, 4, 4))
    assert torch.allclose(mapping.apply(rgb), rgb)


def test_global_affine_matches_hand_computation() -> None:
    mapping = AffineGridMapping(_affine([[2, 0, 0, 0.1], [0, 1, 1, 0], [0.5, 0, 0, -0.2]]))
    rgb = torch.tensor([0.2, 0.3, 0.4]).reshape(1, 3, 1, 1)
    assert torch.allclose(mapping.apply(rgb).flatten(), torch.tensor([0.5, 0.7, -0.1]))


def test_window_sampling_equals_the_matching_part_of_the_whole() -> None:
    torch.manual_seed(0)
    coeffs = identity_affine(1)[:, :, None, None] + 0.2 * torch.randn(1, 12, 4, 4)
    mapping = AffineGridMapping(coeffs)
    rgb = torch.rand(1, 3, 40, 60)
    whole = mapping.apply(rgb)
    window = Window(top=10 / 40, left=30 / 60, bottom=30 / 40, right=1.0)
    part = mapping.apply(rgb[:, :, 10:30, 30:], window)
    assert torch.allclose(part, whole[:, :, 10:30, 30:], atol=1e-5)


def test_mapping_is_resolution_independent() -> None:
    """The same mapping at two resolutions agrees where pixels coincide: no upscaling artefacts."""
    torch.manual_seed(1)
    mapping = AffineGridMapping(identity_affine(1)[:, :, None, None] + 0.1 * torch.randn(1, 12, 8, 8))
    colour = torch.full((1, 3, 1, 1), 0.5)
    small = mapping.apply(colour.expand(1, 3, 16, 16))
    large = mapping.apply(colour.expand(1, 3, 64, 64))
    pooled = torch.nn.functional.avg_pool2d(large, 4)
    assert torch.allclose(pooled, small, atol=0.02)


def test_lab_stats_identity_and_chain() -> None:
    rgb = torch.rand(1, 3, 4, 4)
    identity = LabStatsMapping(torch.ones(1, 3), torch.zeros(1, 3))
    assert torch.allclose(identity.apply(rgb), rgb, atol=1e-4)
    brighter = LabStatsMapping(torch.ones(1, 3), torch.tensor([[10.0, 0.0, 0.0]]))
    chain = ChainMapping(brighter, AffineGridMapping(_affine([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])))
    assert torch.allclose(chain.apply(rgb), brighter.apply(rgb))
    assert (brighter.apply(rgb) >= rgb - 1e-4).all()


def test_fit_recovers_a_global_affine_transform() -> None:
    torch.manual_seed(2)
    source = torch.rand(1, 3, 32, 32)
    truth = AffineGridMapping(_affine([[0.8, 0.1, 0, 0.05], [0, 0.9, 0, 0.1], [0.1, 0, 0.7, 0]]))
    target = truth.apply(source)
    mask = torch.zeros(1, 1, 32, 32)
    mask[:, :, 8:24, 4:28] = 1.0
    fitted = fit_affine_grid(source, target, mask, grid=4)
    inside = mask.bool().expand(1, 3, 32, 32)
    assert (fitted.apply(source) - target)[inside].abs().max() < 2e-3


def test_fit_follows_spatially_varying_light() -> None:
    # Foreground lit brighter on its right half than on its left: a global fit cannot follow it.
    torch.manual_seed(3)
    source = torch.rand(1, 3, 32, 32) * 0.5
    ramp = torch.linspace(0.8, 1.4, 32).view(1, 1, 1, 32)
    target = source * ramp
    mask = torch.ones(1, 1, 32, 32)
    local = fit_affine_grid(source, target, mask, grid=8)
    global_fit = fit_affine_grid(source, target, mask, grid=1)
    local_err = (local.apply(source) - target).abs().mean()
    global_err = (global_fit.apply(source) - target).abs().mean()
    assert local_err < 0.3 * global_err


def test_fit_with_empty_mask_is_the_identity() -> None:
    source = torch.rand(1, 3, 16, 16)
    fitted = fit_affine_grid(source, source * 0.5, torch.zeros(1, 1, 16, 16), grid=4)
    assert torch.isfinite(fitted.coeffs).all()
    assert torch.allclose(fitted.apply(source), source, atol=1e-5)


def test_apply_affine_rejects_bad_coefficients() -> None:
    with pytest.raises(ValueError, match="B, 12"):
        AffineGridMapping(torch.zeros(1, 9, 2, 2))
    assert apply_affine(torch.ones(1, 3, 2, 2), identity_affine(1)[:, :, None, None]).shape == (1, 3, 2, 2)


def test_a_gate_applies_that_share_of_the_change_and_hands_it_to_the_blend() -> None:
    rgb = torch.rand(2, 3, 4, 4)
    brighter = LabStatsMapping(torch.ones(2, 3), torch.tensor([[10.0, 0.0, 0.0]] * 2))
    gated = GatedMapping(brighter, torch.tensor([0.0, 0.25]))
    out = gated.apply(rgb)
    assert torch.allclose(out[0], rgb[0])
    assert torch.allclose(out[1], rgb[1] + 0.25 * (brighter.apply(rgb)[1] - rgb[1]), atol=1e-6)
    inner, share = GatedMapping(brighter, torch.tensor([0.25])).blend()
    assert inner is brighter and share == 0.25
    assert brighter.blend() == (brighter, 1.0)
    with pytest.raises(ValueError, match=r"\(B,\)"):
        GatedMapping(brighter, torch.tensor(0.5))


def test_a_blend_mixes_two_mappings_answers_per_image() -> None:
    rgb = torch.rand(2, 3, 4, 4)
    brighter = LabStatsMapping(torch.ones(2, 3), torch.tensor([[10.0, 0.0, 0.0]] * 2))
    bluer = LabStatsMapping(torch.ones(2, 3), torch.tensor([[0.0, 0.0, -20.0]] * 2))
    out = BlendMapping(brighter, bluer, torch.tensor([0.0, 0.25])).apply(rgb)
    assert torch.allclose(out[0], brighter.apply(rgb)[0])
    assert torch.allclose(out[1], 0.75 * brighter.apply(rgb)[1] + 0.25 * bluer.apply(rgb)[1], atol=1e-6)
    with pytest.raises(ValueError, match=r"\(B,\)"):
        BlendMapping(brighter, bluer, torch.tensor(0.5))
