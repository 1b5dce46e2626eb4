from __future__ import annotations

import pytest
import torch

from engine.model.bain import BAIN


def _mask(batch: int = 2, size: int = 8) -> torch.Tensor:
    mask = torch.zeros(batch, 1, size, size)
    mask[:, :, 2:6, 3:7] = 1.0
    return mask


def _uniform_attention(bain: BAIN) -> None:
    """Zero the query/key projections so attention is uniform over the background."""
    for layer in (bain.query, bain.key):
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)


@pytest.mark.parametrize("pool", [None, 4])
def test_background_positions_are_returned_unchanged(pool: int | None) -> None:
    torch.manual_seed(0)
    bain = BAIN(6, key_dim=4, pool=pool)
    features = torch.randn(2, 6, 8, 8)
    mask = _mask()
    out = bain(features, mask)
    background = (mask == 0).expand_as(features)
    assert torch.equal(out[background], features[background])
    assert not torch.allclose(out[~background], features[~background])


def test_empty_foreground_is_the_identity() -> None:
    bain = BAIN(4, key_dim=4)
    features = torch.randn(1, 4, 8, 8)
    out = bain(features, torch.zeros(1, 1, 8, 8))
    assert torch.equal(out, features)


def test_empty_background_uses_whole_map_statistics_without_nan() -> None:
    torch.manual_seed(1)
    bain = BAIN(4, key_dim=4)
    _uniform_attention(bain)
    features = torch.randn(1, 4, 8, 8) * 3 + 2
    out = bain(features, torch.ones(1, 1, 8, 8))
    assert torch.isfinite(out).all()
    # Uniform attention over the whole map: normalising with the map's own statistics is a no-op.
    assert torch.allclose(out, features, atol=1e-3)


def test_foreground_styled_like_its_background_stays_close() -> None:
    torch.manual_seed(2)
    bain = BAIN(8, key_dim=4, pool=None)
    _uniform_attention(bain)
    features = torch.randn(1, 8, 16, 16)  # the same distribution inside and outside the mask
    mask = torch.zeros(1, 1, 16, 16)
    mask[:, :, :8] = 1.0
    out = bain(features, mask)
    assert (out - features).abs().mean() < 0.15


def test_foreground_takes_the_background_statistics() -> None:
    torch.manual_seed(3)
    bain = BAIN(3, key_dim=4, pool=None)
    _uniform_attention(bain)
    features = torch.randn(1, 3, 16, 16)
    mask = torch.zeros(1, 1, 16, 16)
    mask[:, :, 4:12, 4:12] = 1.0
    shifted = torch.where(mask.bool(), features * 0.2 + 5.0, features)
    out = bain(shifted, mask)
    fg = mask.bool().expand_as(out)
    bg_mean = shifted.masked_select(~fg).view(1, 3, -1).mean(-1)
    fg_mean = out.masked_select(fg).view(1, 3, -1).mean(-1)
    assert torch.allclose(fg_mean, bg_mean, atol=0.05)
    fg_std = out.masked_select(fg).view(1, 3, -1).std(-1)
    assert torch.allclose(fg_std, torch.ones(1, 3), atol=0.25)


def test_attention_prefers_similar_background_regions() -> None:
    # Two background regions with different statistics; a query/key projection that keys on the
    # first channel lets the foreground pick the region whose features resemble it.
    torch.manual_seed(4)
    bain = BAIN(2, key_dim=1, pool=None)
    with torch.no_grad():
        for layer in (bain.query, bain.key):
            layer.weight.zero_()
            layer.weight[0, 0] = 4.0
            layer.bias.zero_()
    features = torch.zeros(1, 2, 8, 8)
    features[:, 0, :, :4] = -1.0  # left half: "kind A"
    features[:, 0, :, 4:] = 1.0  # right half: "kind B"
    features[:, 1, :, :4] = 10.0  # kind A's second channel sits at 10
    features[:, 1, :, 4:] = -10.0
    features = features + 0.1 * torch.randn_like(features)
    mask = torch.zeros(1, 1, 8, 8)
    mask[:, :, 2:4, 1:3] = 1.0  # a foreground patch inside the A side, of kind A
    features[:, 1][mask[:, 0].bool()] = 0.0  # whose second channel is off
    out = bain(features, mask)
    assert out[0, 1][mask[0, 0].bool()].mean() > 5.0


def test_gradients_flow_and_bad_shapes_are_rejected() -> None:
    bain = BAIN(4, key_dim=4)
    features = torch.randn(1, 4, 8, 8, requires_grad=True)
    bain(features, _mask(1)).sum().backward()
    assert features.grad is not None and torch.isfinite(features.grad).all()
    assert bain.query.weight.grad is not None
    with pytest.raises(ValueError, match=r"\(1, 4, 8, 8\)"):
        bain(features, torch.zeros(1, 1, 4, 4))


def test_soft_mask_and_pooled_keys_stay_finite() -> None:
    bain = BAIN(4, key_dim=4, pool=2)
    features = torch.randn(3, 4, 16, 16)
    mask = torch.rand(3, 1, 16, 16)
    mask[1] = 0.0
    mask[2] = 1.0
    out = bain(features, mask)
    assert torch.isfinite(out).all()
    assert torch.equal(out[1], features[1])
