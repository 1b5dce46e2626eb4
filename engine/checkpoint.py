"""Model checkpoints: safetensors weights with JSON metadata in the same file, never pickle.

The metadata (``__metadata__["scsco"]`` in the safetensors header) records the format version,
the generator's architecture, its working size, and whatever the trainer adds: training data,
loss configuration, style-feature weights, metrics. Reading checks the header before any tensor
is touched, so a corrupt, truncated, foreign or mismatched file gives one clear error.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from engine.atomic import write_bytes_atomic
from engine.model.generator import GeneratorConfig, SCSCoGenerator

FORMAT_NAME = "scs-co-harmonizer"
FORMAT_VERSION = 1
METADATA_KEY = "scsco"
MAX_CHECKPOINT_BYTES = 2 * 1024**3
_MAX_HEADER_BYTES = 100 * 1024**2


class CheckpointError(ValueError):
    """A checkpoint file cannot be used; the message names the file and the problem."""


def save_checkpoint(
    path: str | os.PathLike,
    model: SCSCoGenerator,
    metadata: dict[str, Any] | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write ``model``'s weights and metadata atomically.

    Args:
        path: destination ``.safetensors`` file.
        model: the generator; its configuration becomes ``metadata["architecture"]``.
        metadata: JSON-serialisable extras (training data, losses, metrics, ...).
        extra_tensors: more tensors to store beside the weights (e.g. optimizer state), under
            names that must not start with ``generator.``.
    """
    meta = dict(metadata or {})
    meta.update(
        format=FORMAT_NAME,
        format_version=FORMAT_VERSION,
        architecture=model.config.to_dict(),
        working_size=model.config.working_size,
    )
    tensors = {f"generator.{k}": v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    for name, tensor in (extra_tensors or {}).items():
        if name.startswith("generator."):
            raise ValueError(f"extra tensor name {name!r} collides with the generator's weights")
        tensors[name] = tensor.detach().to("cpu").contiguous()
    data = save_safetensors(tensors, metadata={METADATA_KEY: json.dumps(meta, sort_keys=True)})
    write_bytes_atomic(path, data)


def _sniff_foreign(head: bytes) -> str | None:
    if head.startswith(b"PK\x03\x04"):
        return "a PyTorch zip/pickle checkpoint (.pt/.pth)"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 (Keras) file"
    return None


def _read_header(path: Path, data: bytes) -> dict[str, Any]:
    foreign = _sniff_foreign(data[:8])
    if foreign:
        raise CheckpointError(
            f"{path} is {foreign}, not a safetensors checkpoint; it was not opened because "
            "unpickling can run arbitrary code"
        )
    if len(data) < 8:
        raise CheckpointError(f"{path} is empty or truncated ({len(data)} bytes)")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > _MAX_HEADER_BYTES or 8 + header_len > len(data):
        raise CheckpointError(f"{path} is truncated or not a safetensors file (header claims {header_len} bytes)")
    try:
        header = json.loads(data[8 : 8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is not a safetensors file: its header is not JSON ({error})") from error
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} is not a safetensors file: its header is not a JSON object")
    return header


def _parse_metadata(path: Path, header: dict[str, Any]) -> dict[str, Any]:
    metadata = header.get("__metadata__") or {}
    raw = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    if not isinstance(raw, str):
        raise CheckpointError(f"{path} is a safetensors file but not a harmonizer checkpoint (no '{METADATA_KEY}' metadata)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}: its metadata is not valid JSON ({error})") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path}: metadata does not describe a {FORMAT_NAME} checkpoint")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {version!r}; this program reads up to version {FORMAT_VERSION}, "
            "so it may need updating"
        )
    return meta


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """All tensors and the metadata of a checkpoint, validated. Never unpickles.

    Raises:
        CheckpointError: missing, unreadable, foreign, truncated or corrupt file.
    """
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_CHECKPOINT_BYTES:
            raise CheckpointError(f"{file} is {size / 1024**3:.1f} GiB, larger than any harmonizer checkpoint")
        data = file.read_bytes()
    except IsADirectoryError as error:
        raise CheckpointError(f"{file} is a folder, not a checkpoint file") from error
    except FileNotFoundError as error:
        raise CheckpointError(f"checkpoint {file} does not exist") from error
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {file}: {error.strerror or error}") from error
    meta = _parse_metadata(file, _read_header(file, data))
    try:
        tensors = load_safetensors(data)
    except (SafetensorError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{file} is corrupt: {error}") from error
    return tensors, meta


def _check_weights(path: Path, model: SCSCoGenerator, weights: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = sorted(k for k in set(expected) & set(weights) if expected[k].shape != weights[k].shape)
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensor(s), e.g. {', '.join(missing[:3])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s), e.g. {', '.join(unexpected[:3])}")
    if wrong:
        k = wrong[0]
        problems.append(
            f"{len(wrong)} tensor(s) of the wrong shape, e.g. {k}: {tuple(weights[k].shape)} instead of {tuple(expected[k].shape)}"
        )
    if problems:
        raise CheckpointError(f"{path} does not match its declared architecture: " + "; ".join(problems))
    floats = [v.flatten() for v in weights.values() if v.is_floating_point()]
    if floats and torch.isfinite(torch.cat(floats)).all():
        return  # one check for all tensors: a check per tensor costs start-up time
    bad = [k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{path} holds non-finite weights (NaN or inf), e.g. in {bad[0]}")


def load_generator(
    path: str | os.PathLike, device: torch.device | str = "cpu"
) -> tuple[SCSCoGenerator, dict[str, Any]]:
    """Build the generator a checkpoint describes and load its weights (in eval mode).

    Returns:
        The model on ``device`` and the checkpoint's metadata.
    """
    file = Path(path)
    tensors, meta = read_checkpoint(file)
    try:
        model = SCSCoGenerator(GeneratorConfig.from_dict(meta.get("architecture") or {}))
    except (TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{file} declares an architecture this program cannot build: {error}") from error
    weights = {k[len("generator.") :]: v for k, v in tensors.items() if k.startswith("generator.")}
    _check_weights(file, model, weights)
    model.load_state_dict(weights)
    return model.to(device).eval(), meta
