from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from engine.classical import lab_image_statistics, lab_statistics
from engine.color import rgb_to_lab
from engine.mapping import BlendMapping, GatedMapping
from engine.model.generator import (
    GeneratorConfig, SCSCoGenerator, prior_settings, with_gate, with_mixer, with_prior,
)
from engine.model.prior import (
    EXTREME_FEATURES, PRIOR_OUTPUTS, STATS_FEATURES, PriorMixer, change_of_statistics, extreme_features, prior_features,
)
from tests.engine.test_generator import TINY, _inputs, _trained_like


def _described(composite: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    lab = rgb_to_lab(composite)
    return prior_features(lab, mask, lab_image_statistics(lab, mask))


@pytest.mark.parametrize("region", ["object", "empty", "whole", "one pixel"])
def test_every_mask_is_described_by_finite_numbers(region: str) -> None:
    composite, mask = _inputs()
    if region != "object":
        mask = torch.zeros_like(mask) if region != "whole" else torch.ones_like(mask)
        if region == "one pixel":
            mask[:, :, 5, 5] = 1
    features = _described(composite, mask)
    assert features.shape == (2, STATS_FEATURES) and torch.isfinite(features).all()
    extremes = extreme_features(composite, mask)
    assert extremes.shape == (2, EXTREME_FEATURES) and torch.isfinite(extremes).all()


def _photo_with_white_and_black_points() -> tuple[torch.Tensor, torch.Tensor]:
    """A photo whose foreground and background both reach white (clipped) and black."""
    torch.manual_seed(1)
    photo = 0.1 + 0.8 * torch.rand(1, 3, 32, 32)
    photo[:, :, ::8, ::8] = 1.0
    photo[:, :, 4::8, 4::8] = 0.0
    mask = torch.zeros(1, 1, 32, 32)
    mask[:, :, 8:24, 8:24] = 1.0
    return photo, mask


def test_the_extremes_tell_a_foreground_that_lost_the_photos_white_and_black_points() -> None:
    photo, mask = _photo_with_white_and_black_points()
    third = EXTREME_FEATURES // 3  # foreground, background, their difference
    brightest, clipped_white, clipped_black = 0, 6, 7  # within each third
    shared = extreme_features(photo, mask)[0]
    assert shared[2 * third:].abs().max() < 0.05  # the regions share the camera's white and black points
    assert shared[clipped_white] > 0 and shared[clipped_black] > 0

    darkened = torch.where(mask > 0, 0.6 * photo, photo)
    darker = extreme_features(darkened, mask)[0]
    assert darker[brightest] < 0.7 and darker[2 * third + brightest] < -0.3
    assert darker[clipped_white] == 0 and darker[2 * third + clipped_white] < 0  # no white left in it
    lifted = extreme_features(torch.where(mask > 0, 0.2 + 0.8 * photo, photo), mask)[0]
    assert lifted[clipped_black] == 0 and lifted[2 * third + clipped_black] < 0  # no black left in it
    assert torch.equal(darker[third:2 * third], shared[third:2 * third])  # the background is the same


def test_the_description_tells_a_foreground_that_differs_from_its_surroundings_at_its_edge() -> None:
    composite, mask = _inputs(1)
    flat = torch.full_like(composite, 0.5)
    darkened = torch.where(mask > 0, 0.2, flat)
    edge_gap = slice(18, 21)  # the lightness gap between the bands either side of the edge
    assert _described(flat, mask)[0, edge_gap].abs().max() < 1e-4
    assert _described(darkened, mask)[0, edge_gap][0] > 0.3  # outside lighter than inside


def test_the_change_to_predict_is_none_for_a_real_photo_and_undoes_an_edit() -> None:
    composite, mask = _inputs()
    real = lab_statistics(composite, mask)
    assert change_of_statistics(real, real).abs().max() == 0
    edited = lab_statistics((composite * 0.6).clamp(0, 1), mask)
    change = change_of_statistics(edited, real)
    assert (change[:, 0] > 0.1).all()  # the darkened foreground's lightness must go up


def _with_fitted_prior(model: SCSCoGenerator, change: list[float]) -> SCSCoGenerator:
    grown = with_prior(model).eval()
    with torch.no_grad():
        grown.prior.net[-1].bias.copy_(torch.tensor(change))
    return grown


def test_an_unfitted_prior_leaves_its_share_of_the_answer_to_the_composite() -> None:
    composite, mask = _inputs()
    model = _trained_like(SCSCoGenerator(GeneratorConfig(**TINY)))
    grown = with_prior(model).eval()
    assert grown.config.prior and not model.config.prior
    expected = torch.lerp(composite, model(composite, mask)["harmonized"], 1 - grown.config.prior_weight)
    assert torch.allclose(grown(composite, mask)["harmonized"], expected, atol=1e-5)


@pytest.mark.parametrize("gated", [False, True])
def test_the_answer_mixes_the_network_at_its_share_with_the_prior(gated: bool) -> None:
    composite, mask = _inputs(1)
    network = _trained_like(SCSCoGenerator(GeneratorConfig(**TINY)))
    if gated:
        network = with_gate(network).eval()
    model = _with_fitted_prior(network, [0.2, 0.0, -0.1, 0.0, 0.0, 0.0])  # lighter and bluer, whatever the input
    weight, strength = model.config.prior_weight, model.config.prior_strength
    share = network.predict_mapping(composite, mask).blend()[1] if gated else 1.0
    mapping = model.predict_mapping(composite, mask)
    assert isinstance(mapping, GatedMapping)
    assert mapping.blend()[1] == pytest.approx((1 - weight) * share + weight, abs=1e-6)

    stats = lab_statistics(composite, mask)
    lab = rgb_to_lab(composite)
    prior = model.prior.mapping(torch.tensor([[0.2, 0.0, -0.1, 0.0, 0.0, 0.0]]), stats, strength)
    prior_answer = prior.apply_to_lab(lab).clamp(0, 1)
    assert (prior_answer - composite)[:, 0].mean() > 0  # it moved the way it was told
    network_answer = network(composite, mask)["harmonized"]
    expected = (torch.lerp(network_answer, prior_answer, weight) * mask + composite * (1 - mask))
    assert torch.allclose(model(composite, mask)["harmonized"], expected, atol=1e-5)
    network_change = network.predict_mapping(composite, mask).apply(composite) - composite  # at its share
    mixed = composite + (1 - weight) * network_change + weight * (prior.apply(composite) - composite)
    assert torch.allclose(mapping.apply(composite), mixed, atol=1e-5)  # the same at full resolution


def test_the_prior_reads_the_kinds_likelihoods_and_a_gate_regrown_keeps_the_network() -> None:
    composite, mask = _inputs(1)
    kinded = with_gate(_trained_like(SCSCoGenerator(GeneratorConfig(**TINY))), kinds=3)
    model = with_prior(kinded).eval()
    inputs, stats = model.prior_inputs(composite, mask)
    assert inputs.shape == (1, STATS_FEATURES + 3)
    assert inputs[0, STATS_FEATURES:].sum() == pytest.approx(1.0)  # likelihoods
    assert torch.allclose(stats.fg_mean, lab_statistics(composite, mask).fg_mean)
    with pytest.raises(ValueError, match="no statistics prior"):
        kinded.prior_inputs(composite, mask)


def test_a_prior_with_extremes_reads_them_and_so_does_its_mixer() -> None:
    composite, mask = _inputs(2)
    kinded = with_gate(_trained_like(SCSCoGenerator(GeneratorConfig(**TINY))), kinds=3)
    model = _with_fitted_mixer(with_prior(kinded, prior_extremes=True), total=0.5, weight=0.5)
    inputs, _ = model.prior_inputs(composite, mask)
    assert inputs.shape == (2, STATS_FEATURES + EXTREME_FEATURES + 3)
    assert torch.equal(inputs[:, STATS_FEATURES:-3], extreme_features(composite, mask))
    mixer_inputs, _, _ = model.mixer_inputs(composite, mask)
    assert torch.equal(mixer_inputs[:, : inputs.shape[1]], inputs)
    assert model(composite, mask)["harmonized"].shape == composite.shape


def test_a_prior_with_encoder_features_reads_what_the_network_sees_and_its_mixer_does_not() -> None:
    composite, mask = _inputs(2)
    kinded = with_gate(_trained_like(SCSCoGenerator(GeneratorConfig(**TINY))), kinds=3)
    model = _with_fitted_mixer(with_prior(kinded, prior_encoder=True), total=0.5, weight=0.5)
    config = model.config
    encoder = config.prior_encoder_features
    assert encoder == 2 * sum(config.channels(level) for level in range(config.depth))
    inputs, _ = model.prior_inputs(composite, mask)
    assert inputs.shape == (2, STATS_FEATURES + encoder + 3) and torch.isfinite(inputs).all()
    first_level = config.channels(0)
    foreground, background = inputs[:, STATS_FEATURES:STATS_FEATURES + 2 * first_level].chunk(2, dim=1)
    assert not torch.allclose(foreground, background)  # the two regions are told apart
    with torch.no_grad():
        model.encoder[0][0].bias.add_(1.0)  # another network sees the same picture otherwise
    seen, _ = model.prior_inputs(composite, mask)
    assert torch.equal(seen[:, :STATS_FEATURES], inputs[:, :STATS_FEATURES])
    assert not torch.allclose(seen[:, STATS_FEATURES:-3], inputs[:, STATS_FEATURES:-3])
    mixer_inputs, _, _ = model.mixer_inputs(composite, mask)  # the mixer reads the statistics alone
    statistics = torch.cat((seen[:, :STATS_FEATURES], seen[:, -3:]), dim=1)
    assert torch.equal(mixer_inputs[:, : statistics.shape[1]], statistics)
    assert model(composite, mask)["harmonized"].shape == composite.shape


def test_prior_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="prior needs the mapping head"):
        GeneratorConfig(**{**TINY, "head": "rgb"}, prior=True)
    with pytest.raises(ValueError, match="between 0 and 1"):
        GeneratorConfig(**TINY, prior=True, prior_weight=1.5)


def test_a_prior_grown_from_a_configuration_takes_every_prior_setting_of_it() -> None:
    wanted = GeneratorConfig(**TINY, prior_hidden=8, prior_strength=0.25, prior_weight=0.75, prior_dead_zone=0.125,
                             prior_extremes=True, prior_encoder=True)
    settings = prior_settings(wanted)
    assert "prior_mixer" not in settings and settings["prior_dead_zone"] == 0.125
    grown = with_prior(SCSCoGenerator(GeneratorConfig(**TINY)), **settings)
    assert grown.config == replace(wanted, prior=True)
    assert grown.prior.net[0].out_features == 8


def test_a_fitted_prior_answers_within_what_it_was_fitted_on() -> None:
    prior = with_prior(_trained_like(SCSCoGenerator(GeneratorConfig(**TINY)))).prior.eval()
    torch.manual_seed(0)
    inputs = torch.randn(500, STATS_FEATURES)
    changes = 0.1 * torch.randn(500, 6)
    prior.fit_ranges(inputs, changes)
    with torch.no_grad():
        for layer in (prior.net[0], prior.net[3], prior.net[6]):
            layer.weight.normal_(0, 1.0)  # a network that would extrapolate wildly
        far = prior(torch.full((1, STATS_FEATURES), 50.0))
        at_edge = prior(prior.input_high[None])
    assert torch.equal(far, at_edge)  # inputs beyond the fitted range count as its edge
    assert (far >= prior.change_low).all() and (far <= prior.change_high).all()
    assert prior.change_high.max() < 0.5 and prior.change_low.min() > -0.5


def test_changes_within_the_dead_zone_are_not_made_and_larger_ones_less() -> None:
    composite, mask = _inputs(1)
    stats = lab_statistics(composite, mask)
    prior = with_prior(SCSCoGenerator(GeneratorConfig(**TINY))).prior
    small = torch.tensor([[0.04, -0.04, 0.0, 0.03, 0.0, -0.02]])
    unmade = prior.mapping(small, stats, strength=1.0, dead_zone=0.05)
    assert torch.allclose(unmade.scale, torch.ones(1, 3)) and torch.allclose(unmade.shift, torch.zeros(1, 3), atol=1e-5)
    large = prior.mapping(torch.tensor([[0.25, 0.0, 0.0, 0.0, 0.0, 0.0]]), stats, strength=1.0, dead_zone=0.05)
    lab = rgb_to_lab(composite)
    smaller = prior.mapping(torch.tensor([[0.2, 0.0, 0.0, 0.0, 0.0, 0.0]]), stats, strength=1.0)
    assert torch.allclose(large.apply_to_lab(lab), smaller.apply_to_lab(lab), atol=1e-5)


def _with_fitted_mixer(model: SCSCoGenerator, total: float, weight: float) -> SCSCoGenerator:
    grown = with_mixer(model).eval()
    with torch.no_grad():
        grown.prior_mixer.net[-1].bias.copy_(torch.logit(torch.tensor([total, weight])))
    return grown


def test_the_mixer_applies_its_shares_of_the_networks_whole_answer_and_the_priors() -> None:
    composite, mask = _inputs(1)
    network = with_gate(_trained_like(SCSCoGenerator(GeneratorConfig(**TINY)))).eval()
    change = [0.2, 0.0, -0.1, 0.0, 0.0, 0.0]
    model = _with_fitted_mixer(_with_fitted_prior(network, change), total=0.8, weight=0.25)
    mapping = model.predict_mapping(composite, mask)
    assert isinstance(mapping, GatedMapping) and isinstance(mapping.inner, BlendMapping)
    assert mapping.blend()[1] == pytest.approx(0.8, abs=1e-5)

    whole_network = network.predict_mapping(composite, mask).inner.apply(composite)  # without its gate
    config = model.config
    prior = model.prior.mapping(torch.tensor([change]), lab_statistics(composite, mask), config.prior_strength,
                                config.prior_dead_zone)  # hedged as in a fixed mix
    expected = composite + 0.8 * (0.75 * (whole_network - composite) + 0.25 * (prior.apply(composite) - composite))
    assert torch.allclose(mapping.apply(composite), expected, atol=1e-5)
    harmonized = model(composite, mask)["harmonized"]
    assert torch.allclose(harmonized, expected.clamp(0, 1) * mask + composite * (1 - mask), atol=1e-5)


def test_the_mixer_reads_the_prior_inputs_and_both_answers_changes() -> None:
    composite, mask = _inputs(2)
    kinded = with_gate(_trained_like(SCSCoGenerator(GeneratorConfig(**TINY))), kinds=3)
    model = _with_fitted_mixer(_with_fitted_prior(kinded, [0.2, 0, 0, 0, 0, 0]), total=0.5, weight=0.5)
    inputs, network, prior = model.mixer_inputs(composite, mask)
    assert inputs.shape == (2, STATS_FEATURES + 3 + PriorMixer.EXTRA_INPUTS)
    assert torch.allclose(inputs[:, : STATS_FEATURES + 3], model.prior_inputs(composite, mask)[0])
    assert torch.allclose(inputs[:, -PRIOR_OUTPUTS:], torch.tensor([[0.2, 0, 0, 0, 0, 0]]).expand(2, -1))
    assert network.shape == prior.shape == composite.shape
    lightening = (rgb_to_lab(prior)[:, 0] - rgb_to_lab(composite)[:, 0])[mask[:, 0] > 0].mean()
    assert lightening == pytest.approx(0.2 * 50 * model.config.prior_strength, rel=0.05)  # the prior's answer
    with pytest.raises(ValueError, match="no prior mixer"):
        kinded.mixer_inputs(composite, mask)


def test_a_mixer_needs_a_prior_and_goes_with_it() -> None:
    plain = _trained_like(SCSCoGenerator(GeneratorConfig(**TINY)))
    with pytest.raises(ValueError, match="needs a model with a fitted statistics prior"):
        with_mixer(plain)
    with pytest.raises(ValueError, match="prior_mixer needs the prior"):
        GeneratorConfig(**TINY, prior_mixer=True)
    mixed = with_mixer(with_prior(with_gate(plain, kinds=2)))
    assert with_gate(mixed, kinds=2).config.prior_mixer  # the same kinds: kept
    assert not with_gate(mixed, kinds=3).config.prior_mixer  # other kinds: the prior and its mixer go
    refitted = with_prior(mixed)
    assert not refitted.config.prior_mixer and not any(k.startswith("prior_mixer.") for k in refitted.state_dict())
