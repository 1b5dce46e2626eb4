from __future__ import annotations

import pytest
import torch

from engine.mapping import ColourMapping, GatedMapping
from engine.model.generator import GeneratorConfig, SCSCoGenerator, with_gate
from tests.engine.conftest import classical_harmonize

TINY = dict(width=4, max_width=8, depth=3, working_size=32, grid=8, bain_key_dim=4, bain_pool=4)


def _inputs(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    composite = torch.rand(batch, 3, 32, 32)
    mask = torch.zeros(batch, 1, 32, 32)
    mask[:, :, 8:20, 10:26] = 1.0
    return composite, mask


@pytest.mark.parametrize("head", ["mapping", "rgb"])
@pytest.mark.parametrize("base", ["identity", "classical", "adaptive"])
def test_untrained_model_returns_its_base(head: str, base: str) -> None:
    composite, mask = _inputs()
    model = SCSCoGenerator(GeneratorConfig(head=head, base=base, **TINY)).eval()
    out = model(composite, mask)
    assert out["harmonized"].shape == composite.shape
    expected = classical_harmonize(composite, mask) if base == "classical" else composite
    assert torch.allclose(out["harmonized"], expected, atol=1e-5)


@pytest.mark.parametrize("head", ["mapping", "rgb"])
def test_background_is_untouched_and_gradients_reach_every_layer(head: str) -> None:
    composite, mask = _inputs()
    model = SCSCoGenerator(GeneratorConfig(head=head, **TINY))
    with torch.no_grad():  # move the zero-initialised heads off zero so every path carries gradient
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    out = model(composite, mask)["harmonized"]
    background = (mask == 0).expand_as(out)
    assert torch.equal(out[background], composite[background])
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_mapping_head_answers_with_a_full_resolution_mapping() -> None:
    composite, mask = _inputs(1)
    model = SCSCoGenerator(GeneratorConfig(**TINY)).eval()
    with torch.no_grad():
        model.local_head.bias.add_(torch.linspace(-0.05, 0.05, 12))
        out = model(composite, mask)
    mapping = out["mapping"]
    assert isinstance(mapping, ColourMapping)
    inside = mask.bool().expand_as(composite)
    assert torch.allclose(mapping.apply(composite).clamp(0, 1)[inside], out["harmonized"][inside], atol=1e-5)


@pytest.mark.parametrize("base", ["identity", "adaptive"])
def test_predict_mapping_is_the_mapping_of_a_forward_pass(base: str) -> None:
    composite, mask = _inputs(1)
    model = SCSCoGenerator(GeneratorConfig(base=base, **TINY)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
        expected = model(composite, mask)["mapping"].apply(composite)
        assert torch.equal(model.predict_mapping(composite, mask).apply(composite), expected)
    with pytest.raises(ValueError, match="rgb head"):
        SCSCoGenerator(GeneratorConfig(head="rgb", **TINY)).predict_mapping(composite, mask)


def test_degenerate_masks_give_finite_outputs() -> None:
    model = SCSCoGenerator(GeneratorConfig(**TINY)).eval()
    composite = torch.rand(2, 3, 32, 32)
    mask = torch.stack((torch.zeros(1, 32, 32), torch.ones(1, 32, 32)))
    out = model(composite, mask)["harmonized"]
    assert torch.isfinite(out).all()
    assert torch.equal(out[0], composite[0])


def test_default_configuration_is_small() -> None:
    model = SCSCoGenerator()
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(head="gan"), "head"),
        (dict(working_size=100), "divisible"),
        (dict(grid=12), "grid"),
        (dict(bain_levels=9), "bain_levels"),
        (dict(gate=True, head="rgb"), "gate"),
    ],
)
def test_invalid_configurations_are_explained(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GeneratorConfig(**settings)


def test_config_round_trips_and_rejects_unknown_keys() -> None:
    config = GeneratorConfig(**TINY)
    assert GeneratorConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="colour_space"):
        GeneratorConfig.from_dict({**config.to_dict(), "colour_space": "lab"})


def test_wrong_input_size_is_rejected() -> None:
    model = SCSCoGenerator(GeneratorConfig(**TINY))
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\)"):
        model(torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64))


def _trained_like(model: SCSCoGenerator) -> SCSCoGenerator:
    """The heads moved off their zero start, as training leaves them."""
    torch.manual_seed(3)
    with torch.no_grad():
        for head in (model.local_head, model.global_head[-1], model.transfer_head[-1]):
            head.weight.normal_(0, 0.05)
    return model.eval()


def test_a_gate_grown_on_a_model_starts_nearly_open_and_can_close() -> None:
    composite, mask = _inputs()
    model = _trained_like(SCSCoGenerator(GeneratorConfig(**TINY)))
    gated = with_gate(model).eval()
    assert gated.config.gate and not model.config.gate
    before, after = model(composite, mask)["harmonized"], gated(composite, mask)["harmonized"]
    mapping = gated.predict_mapping(composite[:1], mask[:1])
    assert isinstance(mapping, GatedMapping)
    share = mapping.blend()[1]
    assert 0.9 < share < 1 and (before - composite).abs().max() > 0.01
    assert torch.allclose(after, torch.lerp(composite, before, share), atol=1e-5)  # the same answer, a little less of it
    with torch.no_grad():
        gated.gate_head[-1].bias.fill_(-30.0)  # shut
    assert torch.allclose(gated(composite, mask)["harmonized"], composite, atol=1e-6)


def test_the_gate_learns_to_leave_a_right_foreground_alone() -> None:
    composite, mask = _inputs()
    gated = with_gate(_trained_like(SCSCoGenerator(GeneratorConfig(**TINY)))).train()
    optimizer = torch.optim.Adam(gated.gate_head.parameters(), lr=0.05)
    for _ in range(60):  # the composite is the real photo: any change is an error
        loss = ((gated(composite, mask)["harmonized"] - composite) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(gated.predict_mapping(composite[:1], mask[:1]).blend()[1]) < 0.2


def test_a_gate_by_kind_applies_the_share_of_the_kind_the_picture_looks_like() -> None:
    composite, mask = _inputs(1)
    gated = with_gate(_trained_like(SCSCoGenerator(GeneratorConfig(**TINY))), kinds=3).eval()
    assert gated.config.gate_kinds == 3 and not hasattr(gated, "gate_head")
    assert gated.predict_mapping(composite, mask).blend()[1] == pytest.approx(0.5)  # starts even for every kind
    with torch.no_grad():
        gated.kind_shares.copy_(torch.tensor([0.3, -0.1, 0.0]))  # shares sigmoid(3), sigmoid(-1), 0.5
        gated.kind_head.bias.copy_(torch.tensor([0.0, 2.0, 0.0]))  # looks like kind 1 by far
    share = gated.predict_mapping(composite, mask).blend()[1]
    assert share == pytest.approx(float(torch.sigmoid(torch.tensor(-1.0))), abs=1e-3)
    assert gated(composite, mask)["kind_logits"].argmax(1).tolist() == [1]
    both, masks = composite.expand(2, -1, -1, -1), mask.expand(2, -1, -1, -1)
    inner = gated.predict_mapping(both, masks).inner.apply(both).clamp(0, 1)
    taught = gated(both, masks, kinds=torch.tensor([0, 2]))["harmonized"]  # in training, each sample's own kind
    for i, share in enumerate((torch.sigmoid(torch.tensor(3.0)), 0.5)):
        expected = torch.lerp(both[i], inner[i], share) * masks[i] + both[i] * (1 - masks[i])
        assert torch.allclose(taught[i], expected, atol=1e-5)


def test_a_gate_by_kind_replaces_a_plain_gate_and_keeps_every_other_weight() -> None:
    gated = with_gate(_trained_like(SCSCoGenerator(GeneratorConfig(**TINY))))
    by_kind = with_gate(gated, kinds=2)
    before, after = gated.state_dict(), by_kind.state_dict()
    assert {k for k in before if k not in after} == {k for k in before if k.startswith("gate_head.")}
    assert all(torch.equal(before[k], after[k]) for k in after if k in before)
    assert {name for name in after if "kind" in name} == {
        "kind_head.weight", "kind_head.bias", "kind_shares", "kind_mean", "kind_var"}
    kind_parameters = (*by_kind.kind_head.parameters(), by_kind.kind_shares)
    assert {id(p) for p in by_kind.gate_parameters()} == {id(p) for p in kind_parameters}


def test_learning_the_kinds_leaves_the_harmonization_weights_alone() -> None:
    composite, mask = _inputs()
    model = with_gate(_trained_like(SCSCoGenerator(GeneratorConfig(**TINY))), kinds=2).train()
    logits = model(composite, mask)["kind_logits"]
    torch.nn.functional.cross_entropy(logits, torch.tensor([1, 1])).backward()
    touched = {name for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert touched == {"kind_head.weight", "kind_head.bias"}


def test_the_kind_heads_input_statistics_follow_only_a_run_that_teaches_the_kinds() -> None:
    composite, mask = _inputs()
    model = with_gate(_trained_like(SCSCoGenerator(GeneratorConfig(**TINY))), kinds=2).train()
    model(composite, mask)
    learnt = model.kind_mean.clone()
    assert learnt.abs().sum() > 0
    model.kind_head.requires_grad_(False)  # a fine-tune on pictures of other kinds
    model(composite * 0.5, mask)
    assert torch.equal(model.kind_mean, learnt)


def test_gate_kinds_need_the_gate() -> None:
    with pytest.raises(ValueError, match="gate_kinds"):
        GeneratorConfig(gate_kinds=3, **TINY)
