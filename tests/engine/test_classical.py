from __future__ import annotations

import torch

from engine.classical import lab_transfer_mapping
from engine.color import rgb_to_lab
from engine.color_transfer import MAX_SCALE
from tests.engine.conftest import classical_harmonize


def _scene(tint: tuple[float, float, float]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    real = (0.4 + 0.15 * torch.randn(1, 3, 32, 32)).clamp(0, 1)
    mask = torch.zeros(1, 1, 32, 32)
    mask[:, :, 8:24, 8:24] = 1.0
    composite = torch.where(mask.bool(), (real * torch.tensor(tint).view(1, 3, 1, 1)).clamp(0, 1), real)
    return composite, mask, real


def test_tinted_foreground_moves_to_background_statistics() -> None:
    composite, mask, real = _scene((1.4, 0.8, 0.6))
    out = classical_harmonize(composite, mask)
    fg = mask.bool().expand(1, 3, 32, 32)
    lab_out = rgb_to_lab(out).masked_select(fg).view(3, -1).mean(1)
    lab_bg = rgb_to_lab(composite).masked_select(~fg).view(3, -1).mean(1)
    lab_comp = rgb_to_lab(composite).masked_select(fg).view(3, -1).mean(1)
    assert (lab_out - lab_bg).abs().max() < 2.0
    assert (lab_comp - lab_bg).abs().max() > 10.0
    assert ((out - real).abs().mean()) < 0.5 * (composite - real).abs().mean()


def test_background_is_untouched() -> None:
    composite, mask, _ = _scene((1.3, 1.0, 0.7))
    out = classical_harmonize(composite, mask)
    assert torch.equal(out[~mask.bool().expand_as(out)], composite[~mask.bool().expand_as(composite)])


def test_foreground_coloured_like_background_stays_close() -> None:
    composite, mask, real = _scene((1.0, 1.0, 1.0))
    out = classical_harmonize(composite, mask)
    assert (out - real).abs().mean() < 0.01


def test_degenerate_masks_give_identity_without_nan() -> None:
    composite, _, _ = _scene((1.2, 1.0, 1.0))
    for mask in (torch.zeros(1, 1, 32, 32), torch.ones(1, 1, 32, 32)):
        mapping = lab_transfer_mapping(composite, mask)
        assert torch.equal(mapping.scale, torch.ones(1, 3)) and torch.equal(mapping.shift, torch.zeros(1, 3))
        assert torch.isfinite(classical_harmonize(composite, mask)).all()


def test_flat_foreground_is_not_stretched_into_noise() -> None:
    composite, mask, _ = _scene((1.0, 1.0, 1.0))
    composite = torch.where(mask.bool(), torch.full_like(composite, 0.5), composite)
    mapping = lab_transfer_mapping(composite, mask)
    assert (mapping.scale <= MAX_SCALE).all()
