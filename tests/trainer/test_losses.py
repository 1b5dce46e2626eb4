from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.model.generator import GeneratorConfig, SCSCoGenerator
from engine.training_protocol import LOSS_TERMS
from trainer.losses import (
    LossConfig, SCSCoLoss, contrastive_ratio, cross_style, harm_loss, reconstruction_loss, region_style,
)
from trainer.negatives import generate_negatives
from trainer.style import StyleFeatures, load_style_features

TINY = GeneratorConfig(width=4, max_width=8, depth=3, working_size=32, grid=8, bain_key_dim=4, bain_pool=4)


@pytest.fixture(scope="module")
def style() -> StyleFeatures:
    return load_style_features("random")


def _scene(b: int = 2, size: int = 32, k: int = 3) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    real = F.interpolate(torch.rand(b, 3, 4, 4, generator=g), size=size, mode="bilinear", align_corners=False)
    mask = torch.zeros(b, 1, size, size)
    mask[:, :, size // 4 : 3 * size // 4, size // 8 : 5 * size // 8] = 1.0
    composite = torch.lerp(real, (real * torch.tensor([1.4, 1.0, 0.6]).view(1, 3, 1, 1)).clamp(0, 1), mask)
    negatives = generate_negatives(real, mask, composite, generator=g).narrow(1, 0, k)
    return real, mask, composite, negatives


# --- reconstruction -------------------------------------------------------------------------


def test_reconstruction_is_foreground_mse_averaged_over_channels() -> None:
    real = torch.zeros(2, 3, 4, 4)
    pred = torch.ones(2, 3, 4, 4)  # background errors of 1 must not count
    mask = torch.zeros(2, 1, 4, 4)
    mask[:, :, :2, :2] = 1  # area 4
    pred[0, :, :2, :2] = 0
    pred[0, 0, :2, :2] = 0.5  # sample 0: error 0.25 in one channel of 4 pixels -> 1 / (3 * 4)
    pred[1, :, :2, :2] = 0.2  # sample 1: 0.04 in 3 channels of 4 pixels, area floored at 8
    loss = reconstruction_loss(pred, real, mask, min_area=8.0)
    sample0 = 0.25 * 4 / (3 * 8)  # min_area 8 applies to both samples
    sample1 = 0.04 * 12 / (3 * 8)
    assert loss.item() == pytest.approx((sample0 + sample1) / 2)
    assert reconstruction_loss(pred[:1], real[:1], mask[:1], min_area=1.0).item() == pytest.approx(1 / 12)


def test_reconstruction_of_empty_mask_is_zero_and_shapes_are_checked() -> None:
    pred, real = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    assert reconstruction_loss(pred, real, torch.zeros(1, 1, 4, 4), min_area=0.0).item() == 0.0
    with pytest.raises(ValueError, match=r"\(1, 1, 2, 2\)"):
        reconstruction_loss(pred, real, torch.zeros(1, 1, 2, 2), 1.0)


# --- region and cross styles ----------------------------------------------------------------


def _features() -> torch.Tensor:
    """(1, 2, 2, 2): feature vectors (1, 0), (0, 2) in the top row and (3, 1), (5, 5) in the bottom one."""
    return torch.tensor([[[[1.0, 0.0], [3.0, 5.0]], [[0.0, 2.0], [1.0, 5.0]]]])


def test_region_style_is_the_weighted_mean_outer_product() -> None:
    top = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    assert torch.allclose(region_style(_features(), top), torch.tensor([[[0.5, 0.0], [0.0, 2.0]]]))
    soft = torch.tensor([[[[1.0, 0.0], [0.5, 0.0]]]])  # (1, 0) fully, (3, 1) half
    expected = (torch.tensor([[1.0, 0.0], [0.0, 0.0]]) + 0.5 * torch.tensor([[9.0, 3.0], [3.0, 1.0]])) / 1.5
    assert torch.allclose(region_style(_features(), soft), expected[None])


def test_region_style_resizes_the_mask_and_handles_empty_regions() -> None:
    fine_top = torch.zeros(1, 1, 8, 8)
    fine_top[:, :, :4] = 1  # the top row of the 2x2 feature map
    assert torch.allclose(region_style(_features(), fine_top), torch.tensor([[[0.5, 0.0], [0.0, 2.0]]]))
    empty = region_style(_features(), torch.zeros(1, 1, 8, 8))
    assert torch.equal(empty, torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match=r"\(1, 2, 8, 8\)"):
        region_style(_features(), torch.zeros(1, 2, 8, 8))


def test_cross_style_is_the_product_of_foreground_and_background_grams() -> None:
    top = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    g_fg = torch.tensor([[0.5, 0.0], [0.0, 2.0]])
    g_bg = (torch.tensor([[9.0, 3.0], [3.0, 1.0]]) + torch.tensor([[25.0, 25.0], [25.0, 25.0]])) / 2
    fg_style, bg_style = region_style(_features(), top), region_style(_features(), 1 - top)
    assert torch.allclose(cross_style(fg_style, bg_style), (g_fg @ g_bg)[None])
    negatives = torch.stack((fg_style, 2 * fg_style), dim=1)  # (B, K, C, C): each sees the sample's background
    assert torch.allclose(cross_style(negatives, bg_style), torch.stack((g_fg @ g_bg, 2 * g_fg @ g_bg))[None])
    with pytest.raises(ValueError, match=r"\(1, 2, 2\).*\(1, 3, 3\)"):
        cross_style(fg_style, torch.zeros(1, 3, 3))


def test_consistency_depends_on_the_background_unlike_an_outer_product() -> None:
    torch.manual_seed(0)
    a, p, n = torch.rand(1, 4, 4), torch.rand(1, 4, 4), torch.rand(1, 3, 4, 4)
    bg1, bg2 = torch.rand(1, 4, 4), torch.rand(1, 4, 4) * torch.tensor([5.0, 1, 1, 0.1])
    ratio = lambda bg: contrastive_ratio(a @ bg, p @ bg, n @ bg[:, None], 0.0)  # noqa: E731
    assert not torch.allclose(ratio(bg1), ratio(bg2), rtol=1e-3)
    # The rejected alternative: an outer product with a shared background vector cancels out.
    va, vp, vn, vb1, vb2 = a.flatten(1), p.flatten(1), n.flatten(2), bg1.flatten(1), bg2.flatten(1)
    outer = lambda vb: contrastive_ratio(  # noqa: E731
        va[:, :, None] * vb[:, None], vp[:, :, None] * vb[:, None], vn[..., None] * vb[:, None, None], 0.0
    )
    assert torch.allclose(outer(vb1), outer(vb2))


# --- contrastive ratio ----------------------------------------------------------------------


def test_contrastive_ratio_known_value() -> None:
    anchor, positive = torch.zeros(1, 2, 2), torch.ones(1, 2, 2)
    negatives = torch.stack((torch.full((2, 2), 2.0), torch.full((2, 2), 3.0)))[None]
    assert contrastive_ratio(anchor, positive, negatives, eps=0.0).tolist() == [pytest.approx(1 / 5)]
    with pytest.raises(ValueError, match=r"\(1, 2, 3\)"):
        contrastive_ratio(anchor, positive, torch.zeros(1, 2, 3), 0.0)


def test_ratio_falls_as_the_anchor_moves_toward_the_positive() -> None:
    torch.manual_seed(1)
    positive, negatives, start = torch.rand(3, 8), torch.rand(3, 4, 8) + 1, torch.rand(3, 8) - 1
    steps = (0.0, 0.3, 0.6, 0.9, 1.0)
    ratios = [contrastive_ratio(torch.lerp(start, positive, t), positive, negatives, 1e-8) for t in steps]
    for before, after in zip(ratios, ratios[1:]):
        assert (after < before).all()
    assert torch.equal(ratios[-1], torch.zeros(3))


def test_gradient_flows_through_the_negative_distances() -> None:
    torch.manual_seed(2)
    anchor = torch.rand(2, 5, requires_grad=True)
    positive, negatives, eps = torch.rand(2, 5), torch.rand(2, 3, 5), 1e-3
    contrastive_ratio(anchor, positive, negatives, eps).sum().backward()
    a, n = anchor.detach(), anchor.shape[1]
    d_pos = (a - positive).abs().mean(1, keepdim=True)
    total = (a[:, None] - negatives).abs().mean(2).sum(1, keepdim=True) + eps
    numerator_part = torch.sign(a - positive) / (n * total)
    denominator_part = -d_pos / total**2 * torch.sign(a[:, None] - negatives).sum(1) / n
    assert torch.allclose(anchor.grad, numerator_part + denominator_part, atol=1e-6)
    assert denominator_part.abs().max() > 0.1 * numerator_part.abs().max()  # not negligible
    assert not torch.allclose(anchor.grad, numerator_part, atol=1e-4)  # what detaching would give


# --- SCSCoLoss ------------------------------------------------------------------------------


def test_loss_returns_every_protocol_term_and_their_weighted_sum(style: StyleFeatures) -> None:
    real, mask, composite, negatives = _scene()
    config = LossConfig(style_weight=0.5, self_weight=2.0, consistency_weight=3.0, harm_weight=4.0, style_size=None)
    worse = torch.lerp(composite, 1 - real, mask)  # further from the real foreground than the composite
    out = SCSCoLoss(style, config)(worse, real, mask, negatives, composite)
    assert set(out) == set(LOSS_TERMS)
    assert all(v.dim() == 0 and torch.isfinite(v) for v in out.values())
    assert out["self_style"] > 0 and out["consistency"] > 0 and out["harm"] > 0
    expected = out["reconstruction"] + 4.0 * out["harm"] + 0.5 * (2.0 * out["self_style"] + 3.0 * out["consistency"])
    assert torch.allclose(out["total"], expected)
    assert torch.allclose(out["reconstruction"], reconstruction_loss(worse, real, mask, config.min_area))
    assert out["kind"] == 0


def test_the_kind_term_is_the_cross_entropy_of_the_kind_guess_and_adds_to_the_total(style: StyleFeatures) -> None:
    real, mask, composite, negatives = _scene()
    loss = SCSCoLoss(style, LossConfig(style_weight=0.0, style_size=None))
    logits, labels = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 3.0]]), torch.tensor([0, 1])
    plain = loss(composite, real, mask, negatives, composite)
    out = loss(composite, real, mask, negatives, composite, (logits, labels))
    assert torch.allclose(out["kind"], torch.nn.functional.cross_entropy(logits, labels)) and out["kind"] > 0.5
    assert torch.allclose(out["total"], plain["total"] + out["kind"])


# --- harm -----------------------------------------------------------------------------------


def test_harm_counts_only_what_is_worse_than_the_composite() -> None:
    real, mask, composite, _ = _scene()
    area = 100.0
    assert harm_loss(real, composite, real, mask, area) == 0  # fixed
    assert harm_loss(torch.lerp(real, composite, 0.5), composite, real, mask, area) == 0  # improved
    assert harm_loss(composite, composite, real, mask, area) == 0  # left alone
    worse = torch.lerp(composite, 1 - real, mask)
    expected = reconstruction_loss(worse, real, mask, area) - reconstruction_loss(composite, real, mask, area)
    assert torch.allclose(harm_loss(worse, composite, real, mask, area), expected)


def test_harm_on_an_unedited_input_is_any_change_to_its_foreground() -> None:
    real, mask, composite, _ = _scene()
    assert torch.allclose(harm_loss(composite, real, real, mask, 100.0), reconstruction_loss(composite, real, mask, 100.0))
    with pytest.raises(ValueError, match="composite"):
        harm_loss(composite, real[..., :16], real, mask, 100.0)


def test_style_terms_vanish_at_the_real_image_and_grow_toward_the_composite(style: StyleFeatures) -> None:
    real, mask, composite, negatives = _scene()
    loss = SCSCoLoss(style, LossConfig(style_size=None))
    terms = [loss(torch.lerp(real, composite, t), real, mask, negatives, composite) for t in (0.0, 0.5, 1.0)]
    assert terms[0]["self_style"] == 0 and terms[0]["consistency"] == 0
    for key in ("self_style", "consistency"):
        assert terms[0][key] < terms[1][key] < terms[2][key]


def test_gradients_reach_the_generator_through_the_style_terms_alone(style: StyleFeatures) -> None:
    real, mask, composite, negatives = _scene()
    model = SCSCoGenerator(TINY)
    with torch.no_grad():  # the heads start at zero: move them so that every path carries gradient
        model.local_head.weight.normal_(0, 0.01)
        model.global_head[-1].weight.normal_(0, 0.01)
    harmonized = model(composite, mask)["harmonized"]
    out = SCSCoLoss(style, LossConfig(style_size=None))(harmonized, real, mask, negatives, composite)
    (out["total"] - out["reconstruction"]).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and sum(g.abs().sum() for g in grads) > 0
    assert model.local_head.weight.grad.abs().sum() > 0 and model.encoder[0][0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in style.parameters())


def test_zero_style_weight_skips_the_style_network(style: StyleFeatures, monkeypatch: pytest.MonkeyPatch) -> None:
    real, mask, composite, negatives = _scene()
    loss = SCSCoLoss(style, LossConfig(style_weight=0.0))
    monkeypatch.setattr(style, "forward", lambda rgb: pytest.fail("style network ran"))
    out = loss(composite, real, mask, negatives, composite)
    assert out["self_style"] == 0 and out["total"] == out["reconstruction"]


def test_style_size_negatives_at_style_size_and_chunking_agree(style: StyleFeatures) -> None:
    real, mask, composite, negatives = _scene(b=3, size=64)
    config = LossConfig(style_size=32)
    assert config.style_shape(64, 64) == (32, 32) and config.style_shape(16, 24) == (16, 24)
    full = SCSCoLoss(style, config)(composite, real, mask, negatives, composite)
    small = F.interpolate(negatives.flatten(0, 1), size=32, mode="area").unflatten(0, negatives.shape[:2])
    chunked = SCSCoLoss(style, LossConfig(style_size=32, style_batch=1))(composite, real, mask, small, composite)
    for key in full:
        assert torch.allclose(full[key], chunked[key], rtol=1e-4, atol=1e-7), key
    with pytest.raises(ValueError, match=r"\(3, 3, 3, 48, 48\)"):
        SCSCoLoss(style, config)(composite, real, mask, negatives[..., :48, :48], composite)


def test_style_statistics_stay_in_float32_under_autocast(style: StyleFeatures) -> None:
    real, mask, composite, negatives = _scene()
    loss = SCSCoLoss(style, LossConfig(style_size=None))
    reference = loss(composite, real, mask, negatives, composite)
    big = torch.full((1, 4, 2, 2), 300.0)  # Gram entries 9e4: beyond float16
    with torch.autocast("cpu", dtype=torch.bfloat16):
        gram = region_style(big, torch.ones(1, 1, 2, 2))
        cross = cross_style(gram, gram)
        mixed = loss(composite, real, mask, negatives, composite)
    assert gram.dtype == torch.float32 and torch.equal(gram, torch.full((1, 4, 4), 9e4))
    assert cross.dtype == torch.float32 and torch.equal(cross, torch.full((1, 4, 4), 4 * 9e4**2))
    for key in reference:  # only the style network itself runs in bfloat16
        assert torch.allclose(mixed[key], reference[key], rtol=0.1), key


def test_empty_foreground_gives_finite_zero_style_terms(style: StyleFeatures) -> None:
    real, _, composite, negatives = _scene()
    out = SCSCoLoss(style, LossConfig(style_size=None))(composite, real, torch.zeros(2, 1, 32, 32), negatives, composite)
    assert all(torch.isfinite(v) for v in out.values())
    assert out["self_style"] == 0 and out["consistency"] == 0 and out["reconstruction"] == 0
