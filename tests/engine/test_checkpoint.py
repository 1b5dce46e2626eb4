"""Tests for engine.checkpoint: safetensors checkpoints with metadata, never pickle."""
from __future__ import annotations

import errno
import json
import pathlib
import pickle
import random
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import engine.atomic
from engine.checkpoint import (
    FORMAT_NAME,
    FORMAT_VERSION,
    METADATA_KEY,
    CheckpointError,
    load_generator,
    read_checkpoint,
    save_checkpoint,
)
from engine.harmonizer import NetworkHarmonizer, load_harmonizer
from engine.model.generator import GeneratorConfig, SCSCoGenerator
from engine.pipeline import harmonize_array

TRAINING_METADATA: dict[str, Any] = {
    "training_data": {"datasets": ["HAdobe5k", "HFlickr"], "images": 1234, "list": "HAdobe5k_train.txt"},
    "loss": {"l1": 1.0, "contrastive": 0.1, "style_weights": [1.0, 0.5, 0.25]},
    "metrics": {"psnr": 36.25, "mse": 31.5, "fmse": 281.75},
}


def tiny_config(head: str = "mapping", width: int = 4) -> GeneratorConfig:
    # Built on the classical transfer, so even an untrained model moves a tinted foreground.
    return GeneratorConfig(
        head=head, base="classical", width=width, max_width=8, depth=3, working_size=32, grid=8, bain_key_dim=4,
        bain_pool=4,
    )


def tiny_model(head: str = "mapping", seed: int | None = 0, width: int = 4) -> SCSCoGenerator:
    """A tiny generator; with a seed, every weight (the zero-initialised heads too) is perturbed."""
    torch.manual_seed(0)
    model = SCSCoGenerator(tiny_config(head, width)).eval()
    if seed is not None:
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.05)
    return model


def tiny_inputs(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    composite = torch.rand(1, 3, size, size, generator=generator)
    mask = torch.zeros(1, 1, size, size)
    mask[:, :, 8:24, 10:26] = 1.0
    return composite, mask


def saved(tmp_path: Path, model: SCSCoGenerator | None = None, name: str = "model.safetensors", **kwargs: Any) -> Path:
    path = tmp_path / name
    save_checkpoint(path, model if model is not None else tiny_model(), **kwargs)
    return path


def rewrite(
    path: Path,
    edit_metadata: Callable[[dict[str, Any]], None] | None = None,
    edit_tensors: Callable[[dict[str, torch.Tensor]], None] | None = None,
) -> None:
    """Rewrite a checkpoint with plain safetensors after editing its metadata or tensors."""
    with safe_open(str(path), framework="pt") as handle:
        metadata = json.loads(handle.metadata()[METADATA_KEY])
    tensors = load_file(str(path))
    if edit_metadata:
        edit_metadata(metadata)
    if edit_tensors:
        edit_tensors(tensors)
    save_file(tensors, str(path), metadata={METADATA_KEY: json.dumps(metadata)})


def load_error(path: Path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_generator(path)
    message = str(info.value)
    assert path.name in message, f"the message does not name the file: {message}"
    return message


class _TouchOnUnpickle:
    """Unpickling this creates a marker file: proof that a loader ran pickle code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (self.marker,))


# ---------------------------------------------------------------------------------------------
# Round trip


@pytest.mark.parametrize("head", ["mapping", "rgb"])
def test_round_trip_restores_weights_config_metadata_and_outputs(tmp_path: Path, head: str) -> None:
    model = tiny_model(head)
    path = saved(tmp_path, model, metadata=TRAINING_METADATA)

    loaded, metadata = load_generator(path, "cpu")

    assert loaded.config == model.config
    original, restored = model.state_dict(), loaded.state_dict()
    assert restored.keys() == original.keys()
    for key, tensor in original.items():
        assert torch.equal(restored[key], tensor), key
    assert metadata == {
        **TRAINING_METADATA,
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "architecture": model.config.to_dict(),
        "working_size": 32,
    }
    composite, mask = tiny_inputs()
    with torch.no_grad():
        expected = model(composite, mask)["harmonized"]
        actual = loaded(composite, mask)["harmonized"]
    assert torch.equal(actual, expected)


def test_perturbed_heads_make_the_round_trip_test_meaningful() -> None:
    """The weights saved above differ from a fresh model's, so the round trip proves loading."""
    composite, mask = tiny_inputs()
    with torch.no_grad():
        fresh = tiny_model(seed=None)(composite, mask)["harmonized"]
        trained = tiny_model(seed=0)(composite, mask)["harmonized"]
    assert not torch.allclose(fresh, trained)


def test_loaded_generator_is_in_eval_mode(tmp_path: Path) -> None:
    model = tiny_model().train()
    loaded, _ = load_generator(saved(tmp_path, model))
    assert not loaded.training


def test_saving_without_metadata_still_records_format_and_architecture(tmp_path: Path) -> None:
    _, metadata = load_generator(saved(tmp_path))
    assert metadata["format"] == FORMAT_NAME
    assert metadata["format_version"] == FORMAT_VERSION
    assert GeneratorConfig.from_dict(metadata["architecture"]) == tiny_config()
    assert metadata["working_size"] == 32


def test_extra_tensors_are_stored_beside_the_weights(tmp_path: Path) -> None:
    step = torch.tensor([1500])
    path = saved(tmp_path, extra_tensors={"optimizer.step": step})

    tensors, _ = read_checkpoint(path)
    assert torch.equal(tensors["optimizer.step"], step)
    loaded, _ = load_generator(path)  # extra tensors do not disturb loading the generator
    assert loaded.config == tiny_config()


def test_extra_tensor_names_may_not_collide_with_the_weights(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    with pytest.raises(ValueError, match="collides"):
        save_checkpoint(path, tiny_model(), extra_tensors={"generator.encoder.0.0.weight": torch.zeros(1)})
    assert not path.exists()


def test_overwriting_a_checkpoint_replaces_it(tmp_path: Path) -> None:
    path = saved(tmp_path, tiny_model(seed=1))
    new = tiny_model(seed=2)
    save_checkpoint(path, new)
    loaded, _ = load_generator(path)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in new.state_dict().items())


# ---------------------------------------------------------------------------------------------
# Atomic writes


def _fail_with_full_disk(*_args: Any, **_kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("failing_call", ["fsync", "replace"])
def test_a_failed_write_leaves_the_existing_checkpoint_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_call: str
) -> None:
    old_model = tiny_model(seed=1)
    path = saved(tmp_path, old_model)
    before = path.read_bytes()
    monkeypatch.setattr(engine.atomic.os, failing_call, _fail_with_full_disk)

    with pytest.raises(OSError) as info:
        save_checkpoint(path, tiny_model(seed=2), metadata=TRAINING_METADATA)
    monkeypatch.undo()

    assert info.value.errno == errno.ENOSPC
    assert "disk is full" in str(info.value)
    assert path.name in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name], "a temporary file was left behind"
    loaded, metadata = load_generator(path)
    assert "metrics" not in metadata
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in old_model.state_dict().items())


def test_a_failed_first_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.atomic.os, "fsync", _fail_with_full_disk)
    with pytest.raises(OSError, match="disk is full"):
        save_checkpoint(tmp_path / "model.safetensors", tiny_model())
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Files that are not usable checkpoints


def test_missing_file(tmp_path: Path) -> None:
    assert "does not exist" in load_error(tmp_path / "absent.safetensors")


def test_folder(tmp_path: Path) -> None:
    folder = tmp_path / "model.safetensors"
    folder.mkdir()
    assert "folder" in load_error(folder)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    assert "empty" in load_error(path)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.safetensors"
    path.write_bytes(random.Random(0).randbytes(4096))
    assert "not a safetensors file" in load_error(path)


def test_truncated_file(tmp_path: Path) -> None:
    path = saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    message = load_error(path)
    assert "truncated" in message or "corrupt" in message


def test_truncated_inside_the_header(tmp_path: Path) -> None:
    path = saved(tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    assert "truncated" in load_error(path)


def test_pytorch_state_dict_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.pth"
    torch.save(tiny_model().state_dict(), path)
    message = load_error(path)
    assert "PyTorch" in message and "not a safetensors checkpoint" in message


def _unpickle(path: Path) -> None:
    pickle.loads(path.read_bytes())


def _torch_load(path: Path) -> None:
    torch.load(path, weights_only=False)


# name -> (write a payload to a path, what an unsafe loader would do with the file)
_PAYLOADS: dict[str, tuple[Callable[[Any, Path], None], Callable[[Path], None]]] = {
    "pickle-protocol-0": (lambda obj, path: path.write_bytes(pickle.dumps(obj, protocol=0)), _unpickle),
    "pickle-protocol-2": (lambda obj, path: path.write_bytes(pickle.dumps(obj, protocol=2)), _unpickle),
    "pickle-highest": (
        lambda obj, path: path.write_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)),
        _unpickle,
    ),
    "torch-save-zip": (lambda obj, path: torch.save({"state_dict": obj}, path), _torch_load),
    "torch-save-legacy": (
        lambda obj, path: torch.save({"state_dict": obj}, path, _use_new_zipfile_serialization=False),
        _torch_load,
    ),
}


def _check_payload_works(tmp_path: Path, payload: str) -> None:
    """Guard for the test below: the payload really does create its marker when unpickled."""
    dump, unsafe_load = _PAYLOADS[payload]
    probe_marker = tmp_path / "probe" / "marker"
    probe_marker.parent.mkdir()
    probe = tmp_path / "probe" / "payload"
    dump(_TouchOnUnpickle(probe_marker), probe)
    unsafe_load(probe)
    assert probe_marker.exists()


@pytest.mark.parametrize("payload", sorted(_PAYLOADS))
def test_pickle_files_are_never_unpickled(tmp_path: Path, payload: str) -> None:
    _check_payload_works(tmp_path, payload)
    dump = _PAYLOADS[payload][0]
    marker = tmp_path / "unpickled-marker"
    path = tmp_path / "model.safetensors"
    dump(_TouchOnUnpickle(marker), path)

    load_error(path)
    with pytest.raises(CheckpointError):
        read_checkpoint(path)
    with pytest.raises(CheckpointError):
        load_harmonizer(str(path), "cpu")

    assert not marker.exists(), "the loader unpickled the file"


def test_safetensors_file_without_harmonizer_metadata(tmp_path: Path) -> None:
    path = tmp_path / "foreign.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_model().state_dict().items()}, str(path))
    assert "not a harmonizer checkpoint" in load_error(path)


def test_safetensors_file_with_other_metadata(tmp_path: Path) -> None:
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"format": "pt"})
    assert "not a harmonizer checkpoint" in load_error(path)


def _header_only_file(path: Path, header: Any) -> Path:
    """A file laid out like safetensors (length, JSON header) but with a malformed header."""
    raw = json.dumps(header).encode("utf-8")
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    return path


@pytest.mark.parametrize(
    "header",
    [
        {"__metadata__": ["scsco"]},
        {"__metadata__": "scsco"},
        {"__metadata__": {METADATA_KEY: {"format": FORMAT_NAME, "format_version": FORMAT_VERSION}}},
        [1, 2, 3],
    ],
    ids=["metadata-list", "metadata-string", "scsco-not-a-string", "header-list"],
)
def test_malformed_header(tmp_path: Path, header: Any) -> None:
    load_error(_header_only_file(tmp_path / "odd.safetensors", header))


def test_metadata_of_another_format(tmp_path: Path) -> None:
    path = saved(tmp_path)
    rewrite(path, edit_metadata=lambda meta: meta.update(format="something-else"))
    assert FORMAT_NAME in load_error(path)


def test_metadata_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={METADATA_KEY: "{not json"})
    assert "not valid JSON" in load_error(path)


def test_newer_format_version(tmp_path: Path) -> None:
    path = saved(tmp_path)
    rewrite(path, edit_metadata=lambda meta: meta.update(format_version=FORMAT_VERSION + 1))
    message = load_error(path)
    assert f"format version {FORMAT_VERSION + 1}" in message
    assert "updating" in message


def test_architecture_with_an_unknown_setting(tmp_path: Path) -> None:
    path = saved(tmp_path)
    rewrite(path, edit_metadata=lambda meta: meta["architecture"].update(attention_heads=8))
    message = load_error(path)
    assert "architecture" in message and "attention_heads" in message


def test_architecture_with_an_invalid_value(tmp_path: Path) -> None:
    path = saved(tmp_path)
    rewrite(path, edit_metadata=lambda meta: meta["architecture"].update(head="transformer"))
    message = load_error(path)
    assert "architecture" in message and "transformer" in message


@pytest.mark.parametrize(("setting", "value"), [("width", 4.5), ("depth", "3"), ("working_size", None)])
def test_architecture_with_a_value_of_the_wrong_type(tmp_path: Path, setting: str, value: Any) -> None:
    path = saved(tmp_path)
    rewrite(path, edit_metadata=lambda meta: meta["architecture"].update({setting: value}))
    assert "architecture" in load_error(path)


def test_weights_that_do_not_match_the_declared_architecture(tmp_path: Path) -> None:
    path = saved(tmp_path, tiny_model(width=4))
    rewrite(path, edit_metadata=lambda meta: meta["architecture"].update(width=8))
    message = load_error(path)
    assert "does not match its declared architecture" in message
    assert "shape" in message


def test_missing_weights(tmp_path: Path) -> None:
    path = saved(tmp_path)

    def drop_one(tensors: dict[str, torch.Tensor]) -> None:
        del tensors[sorted(k for k in tensors if k.startswith("generator."))[0]]

    rewrite(path, edit_tensors=drop_one)
    assert "missing 1 tensor" in load_error(path)


def test_nan_weights(tmp_path: Path) -> None:
    path = saved(tmp_path)

    def poison(tensors: dict[str, torch.Tensor]) -> None:
        key = next(k for k, v in tensors.items() if k.startswith("generator.") and v.is_floating_point())
        tensors[key] = tensors[key].clone()
        tensors[key].view(-1)[0] = float("nan")

    rewrite(path, edit_tensors=poison)
    assert "NaN" in load_error(path)


# ---------------------------------------------------------------------------------------------
# From checkpoint to harmonized image


def _tinted_composite() -> tuple[np.ndarray, np.ndarray]:
    """48x64 grey-green texture whose foreground rectangle is tinted red."""
    rng = np.random.default_rng(3)
    texture = np.array([110, 140, 110], dtype=np.float64) + rng.normal(0, 12, size=(48, 64, 3))
    mask = np.zeros((48, 64), dtype=np.float32)
    mask[12:36, 16:48] = 1.0
    tinted = np.where(mask[..., None] > 0, texture * (1.5, 0.6, 0.6), texture)
    return np.clip(tinted, 0, 255).round().astype(np.uint8), mask


@pytest.mark.parametrize("head", ["mapping", "rgb"])
def test_checkpoint_harmonizes_an_image_through_load_harmonizer(tmp_path: Path, head: str) -> None:
    # Untrained heads start from the classical transfer, so the foreground must move towards
    # the background's colour.
    path = saved(tmp_path, tiny_model(head, seed=None), metadata=TRAINING_METADATA)
    harmonizer = load_harmonizer(str(path), "cpu")

    assert isinstance(harmonizer, NetworkHarmonizer)
    assert harmonizer.working_size == 32
    assert harmonizer.metadata["metrics"] == TRAINING_METADATA["metrics"]
    assert path.name in harmonizer.description

    composite, mask = _tinted_composite()
    result = harmonize_array(harmonizer, composite, mask)

    assert result.shape == composite.shape and result.dtype == np.uint8
    background = mask == 0
    assert np.array_equal(result[background], composite[background])
    fg = mask > 0
    target = composite[background].mean(axis=0)
    before = np.linalg.norm(composite[fg].mean(axis=0) - target)
    after = np.linalg.norm(result[fg].astype(np.float64).mean(axis=0) - target)
    assert after < before / 2


def test_load_harmonizer_reports_a_bad_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x00" * 3)
    with pytest.raises(CheckpointError, match="broken.safetensors"):
        load_harmonizer(str(path), "cpu")
