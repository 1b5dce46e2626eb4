"""Tests for trainer.synthesis: iHarmony4-like composites from a real photo and a mask."""
from __future__ import annotations

import colorsys

import cv2
import numpy as np
import pytest
import torch

from engine.color import rgb_to_lab
from engine.color_transfer import weighted_stats
from engine.metrics import PEAK, masked_mse, mse, psnr
from trainer.masks import random_blob_mask
from trainer.synthesis import SynthesisConfig, retouch, synthesize, transfer


def _textured(seed: int = 0, size: int = 96) -> torch.Tensor:
    """A photo-like image: smooth colour gradients plus fine texture, ``(3, size, size)``."""
    rng = np.random.default_rng(seed)
    coarse = cv2.resize(rng.uniform(0.15, 0.85, (6, 6, 3)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0.0, 0.05, (size, size, 3)).astype(np.float32)
    return torch.from_numpy(np.clip(coarse + fine, 0, 1)).permute(2, 0, 1).contiguous()


def _mask(seed: int, size: int = 96, area: tuple[float, float] = (0.15, 0.35)) -> torch.Tensor:
    return torch.from_numpy(random_blob_mask(size, size, np.random.default_rng(seed), area=area))[None]


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(psnr(mse(a[None], b[None]) * PEAK**2))


def _fmse(composite: torch.Tensor, real: torch.Tensor, mask: torch.Tensor) -> float:
    """Foreground MSE on the 0-255 scale, as the synthesis measures its edits."""
    return float(masked_mse(composite[None], real[None], mask[None])) * PEAK**2


def _reference() -> tuple[torch.Tensor, torch.Tensor]:
    return _textured(seed=5).flip(0) * 0.7 + 0.2, _mask(99)


@pytest.mark.parametrize("with_reference", [False, True])
def test_background_is_bit_identical_and_foreground_changes(with_reference: bool) -> None:
    real = _textured()
    config = SynthesisConfig()
    for seed in range(30):
        mask = _mask(seed)
        reference = _reference() if with_reference else None
        composite = synthesize(real, mask, np.random.default_rng(seed), config, reference)
        assert composite.shape == real.shape and composite.dtype == real.dtype
        background = (mask == 0).expand_as(real)
        assert torch.equal(composite[background], real[background])
        assert _fmse(composite, real, mask) >= config.min_fmse
        assert 0.0 <= float(composite.min()) and float(composite.max()) <= 1.0


def test_soft_mask_blends_at_the_edge() -> None:
    real, mask = _textured(), _mask(3)
    composite = synthesize(real, mask, np.random.default_rng(3))
    edge = (mask > 0.1) & (mask < 0.9)
    change = (composite - real).abs().sum(0, keepdim=True)
    assert float(change[edge].mean()) < float(change[mask >= 0.99].mean())


def test_flat_near_identity_regions_still_get_a_visible_change() -> None:
    real = torch.ones(3, 64, 64)  # pure white: most edits clip away
    mask = torch.zeros(1, 64, 64)
    mask[:, 16:48, 16:48] = 1.0
    for seed in range(10):
        composite = synthesize(real, mask, np.random.default_rng(seed))
        assert _fmse(composite, real, mask) >= SynthesisConfig().min_fmse


def test_empty_mask_returns_the_real_image() -> None:
    real = _textured()
    composite = synthesize(real, torch.zeros(1, 96, 96), np.random.default_rng(0))
    assert torch.equal(composite, real)


def test_retouch_keeps_hues() -> None:
    red = torch.tensor([0.8, 0.15, 0.1]).view(3, 1, 1).expand(3, 16, 16).contiguous()
    for seed in range(60):
        edited = retouch(red, strength=2.0, rng=np.random.default_rng(seed))
        r, g, b = edited[:, 0, 0].tolist()
        hue = colorsys.rgb_to_hsv(r, g, b)[0] * 360
        assert r >= g and r >= b, f"seed {seed}: red turned to {(r, g, b)}"
        assert min(hue, 360 - hue) < 35, f"seed {seed}: hue moved to {hue:.0f} degrees"


def test_retouch_of_zero_strength_is_the_identity() -> None:
    real = _textured()
    assert torch.allclose(retouch(real, 0.0, np.random.default_rng(0)), real, atol=1e-5)


def test_transfer_moves_the_foreground_lab_mean_to_the_reference() -> None:
    real = _textured()
    mask = _mask(1)
    reference = torch.stack([torch.full((64, 64), 0.9), torch.full((64, 64), 0.55), torch.full((64, 64), 0.2)])
    reference = (reference + 0.05 * torch.randn(3, 64, 64, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    ref_mask = torch.zeros(1, 64, 64)
    ref_mask[:, 8:56, 8:56] = 1

    def fg_mean(image: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return weighted_stats(rgb_to_lab(image)[None], weights[None])[0][0]

    target = fg_mean(reference, ref_mask)
    before = float((fg_mean(real, mask) - target).norm())
    for seed in range(20):  # covers every method
        moved = transfer(real, mask, reference, ref_mask, np.random.default_rng(seed))
        after = float((fg_mean(moved, mask) - target).norm())
        assert after < 0.35 * before, f"seed {seed}: Lab distance {before:.1f} -> {after:.1f}"


def test_psnr_distribution_centres_on_the_target_with_a_strong_tail() -> None:
    config = SynthesisConfig()
    real = _textured(size=128)
    psnrs = []
    for seed in range(200):
        mask = _mask(seed, size=128, area=(0.1, 0.4))
        reference = _reference() if seed % 2 else None
        psnrs.append(_psnr(synthesize(real, mask, np.random.default_rng(seed), config, reference), real))
    psnrs = np.array(psnrs)
    assert abs(np.median(psnrs) - config.target_psnr) < 2.5
    assert 0.05 <= (psnrs < 20).mean() <= 0.3
    assert psnrs.min() > 12


def test_synthesis_is_deterministic_per_rng_seed() -> None:
    real, mask, reference = _textured(), _mask(2), _reference()
    first = synthesize(real, mask, np.random.default_rng(42), reference=reference)
    assert torch.equal(first, synthesize(real, mask, np.random.default_rng(42), reference=reference))
    assert not torch.equal(first, synthesize(real, mask, np.random.default_rng(43), reference=reference))


def test_bad_shapes_and_configs_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        synthesize(torch.zeros(4, 8, 8), torch.zeros(1, 8, 8), np.random.default_rng(0))
    with pytest.raises(ValueError, match="mask"):
        synthesize(torch.zeros(3, 8, 8), torch.zeros(1, 8, 9), np.random.default_rng(0))
    with pytest.raises(ValueError, match="strong_fraction"):
        SynthesisConfig(strong_fraction=0.6)


def test_identity_fraction_leaves_that_share_of_composites_unedited() -> None:
    real, mask = _textured(), _mask(3)
    config = SynthesisConfig(identity_fraction=0.5)
    unedited = [torch.equal(synthesize(real, mask, np.random.default_rng(i), config), real) for i in range(40)]
    assert 8 <= sum(unedited) <= 32
    never = [torch.equal(synthesize(real, mask, np.random.default_rng(i)), real) for i in range(40)]
    assert not any(never)


def test_identity_fraction_must_leave_some_edits() -> None:
    with pytest.raises(ValueError, match="identity_fraction"):
        SynthesisConfig(identity_fraction=1.0)
