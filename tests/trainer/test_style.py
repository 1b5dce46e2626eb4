from __future__ import annotations

import logging
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from trainer.style import (
    IMAGENET_SOURCE,
    RANDOM_SOURCE,
    STYLE_LAYERS,
    StyleFeatures,
    load_style_features,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def random_style() -> StyleFeatures:
    return load_style_features("random")


def _perturbed_state(model: StyleFeatures) -> dict[str, torch.Tensor]:
    """Weights that differ from the random fallback, so loading them is observable."""
    return {k: (v + 0.01).contiguous() for k, v in model.state_dict().items()}


def _assert_same_weights(model: StyleFeatures, state: dict[str, torch.Tensor]) -> None:
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_random_fallback_is_the_same_on_every_load_and_in_another_process(
    random_style: StyleFeatures, tmp_path: Path
) -> None:
    again = load_style_features("random")
    _assert_same_weights(again, random_style.state_dict())
    saved = tmp_path / "other.safetensors"
    code = (
        "import sys; import trainer.style as s; from safetensors.torch import save_file; "
        "state = s.load_style_features('random').state_dict(); "
        "save_file({k: v.contiguous() for k, v in state.items()}, sys.argv[1])"
    )
    subprocess.run([sys.executable, "-c", code, str(saved)], cwd=ROOT, capture_output=True, timeout=120, check=True)
    _assert_same_weights(random_style, load_file(saved))
    assert random_style.source == RANDOM_SOURCE and not random_style.is_pretrained


def test_loading_leaves_the_global_random_state_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_style_features("random")
    assert torch.equal(torch.rand(3), expected)  # training runs stay reproducible


def test_random_features_have_sensible_scales(random_style: StyleFeatures) -> None:
    torch.manual_seed(0)
    features = random_style(torch.rand(2, 3, 64, 64))
    assert [tuple(f.shape) for f in features] == [(2, 64, 64, 64), (2, 128, 32, 32), (2, 256, 16, 16)]
    for f in features:  # neither dead nor exploding through relu3_3
        assert torch.isfinite(f).all()
        assert 0.02 < f.std().item() < 10
        assert 0.2 < (f > 0).float().mean().item() < 0.8


def test_frozen_eval_mode_but_gradients_reach_the_input(random_style: StyleFeatures) -> None:
    random_style.train()
    assert not random_style.training
    assert not any(p.requires_grad for p in random_style.parameters())
    rgb = torch.rand(1, 3, 32, 32, requires_grad=True)
    sum(f.square().mean() for f in random_style(rgb)).backward()
    assert rgb.grad is not None and rgb.grad.abs().sum() > 0
    assert all(p.grad is None for p in random_style.parameters())


def test_network_is_truncated_at_the_last_style_layer() -> None:
    assert len(StyleFeatures().features) == 16  # conv1_1 ... relu3_3
    deeper = StyleFeatures(("relu1_2", "relu4_3"))
    assert len(deeper.features) == 23
    assert [f.shape[1] for f in deeper(torch.rand(1, 3, 32, 32))] == [64, 512]
    with pytest.raises(ValueError, match="relu9_9"):
        StyleFeatures(("relu9_9",))


def test_auto_without_cached_weights_falls_back_to_random_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture, random_style: StyleFeatures
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="trainer.style"):
        model = load_style_features("auto")
    assert model.source == RANDOM_SOURCE and not model.is_pretrained
    assert any("RANDOM" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    _assert_same_weights(model, random_style.state_dict())
    assert not any(tmp_path.rglob("*.pth"))  # nothing was downloaded


def test_auto_uses_torchvision_weights_from_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, random_style: StyleFeatures
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    state = _perturbed_state(random_style)
    state["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files hold the whole network
    cache = tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth"
    cache.parent.mkdir(parents=True)
    torch.save(state, cache)
    model = load_style_features("auto")
    assert model.source == IMAGENET_SOURCE and model.is_pretrained
    _assert_same_weights(model, state)


def test_imagenet_offline_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(RuntimeError, match="could not download.*weights='random'"):
        load_style_features("imagenet")


def test_safetensors_file_round_trips(tmp_path: Path, random_style: StyleFeatures) -> None:
    state = _perturbed_state(random_style)
    path = tmp_path / "vgg.safetensors"
    save_file(state, str(path))
    model = load_style_features(path)
    assert model.source == f"file: {path}" and model.is_pretrained
    _assert_same_weights(model, state)


def test_torchvision_state_dict_file_loads_with_bare_names(tmp_path: Path, random_style: StyleFeatures) -> None:
    state = _perturbed_state(random_style)
    bare = {k.removeprefix("features."): v for k, v in state.items()}
    path = tmp_path / "vgg16.pth"
    torch.save(bare, path)
    _assert_same_weights(load_style_features(str(path)), state)


class _Payload:
    """Pickles into a call that creates a marker file when fully unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def test_code_carrying_pickle_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": _Payload(marker)}, path)
    with pytest.raises(ValueError, match="weights_only=True"):
        load_style_features(path)
    assert not marker.exists()
    torch.load(path, weights_only=False).clear()  # the payload is real: full unpickling runs it
    assert marker.exists()


def test_unusable_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="'auto', 'imagenet', 'random'"):
        load_style_features(tmp_path / "missing.safetensors")
    wrong = tmp_path / "wrong.safetensors"
    save_file({"features.0.weight": torch.zeros(8, 3, 3, 3)}, str(wrong))
    with pytest.raises(ValueError, match="not a VGG-16 state dict"):
        load_style_features(wrong)
    state = {k: torch.zeros(1) for k in StyleFeatures().state_dict()}
    bad_shape = tmp_path / "bad.safetensors"
    save_file(state, str(bad_shape))
    with pytest.raises(ValueError, match=r"features\.\d+\.\w+ has shape \(1,\)"):
        load_style_features(bad_shape)


def test_bad_input_shape_is_rejected(random_style: StyleFeatures) -> None:
    with pytest.raises(ValueError, match=r"\(2, 4, 8, 8\)"):
        random_style(torch.rand(2, 4, 8, 8))


def test_default_layers() -> None:
    assert STYLE_LAYERS == ("relu1_2", "relu2_2", "relu3_3")
