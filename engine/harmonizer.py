"""Harmonizers: things that look at a working-size composite and answer with a colour mapping.

``load_harmonizer`` resolves the names a user types: ``default`` (the bundled checkpoint, or the
classical transfer where the file is missing), ``classical``, or a checkpoint path.
"""
from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch

from engine.checkpoint import load_generator
from engine.classical import lab_transfer_mapping
from engine.devices import inference_dtype, resolve_device
from engine.mapping import ColourMapping, fit_affine_grid
from engine.model.generator import SCSCoGenerator

log = logging.getLogger(__name__)

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "resources" / "models" / "default.safetensors"
CLASSICAL_WORKING_SIZE = 256


class Harmonizer(ABC):
    """Answers a batch of working-size composites with colour mappings.

    Attributes:
        name: what the user chose (``classical``, ``default``, a path).
        description: one line for status bars and logs.
        device: where it computes.
        working_size: side of the square copy it looks at.
    """

    name: str
    description: str
    device: torch.device
    working_size: int

    @abstractmethod
    def predict_mapping(self, composite: torch.Tensor, mask: torch.Tensor) -> ColourMapping:
        """Colour mappings for ``(B, 3, S, S)`` composites in ``[0, 1]`` and ``(B, 1, S, S)`` masks on ``device``."""


class ClassicalHarmonizer(Harmonizer):
    """Lab mean/std transfer from the background to the foreground; needs no model."""

    def __init__(self, device: torch.device | str = "cpu", name: str = "classical", note: str = "") -> None:
        self.name = name
        self.device = torch.device(device)
        self.working_size = CLASSICAL_WORKING_SIZE
        self.description = "classical Lab statistics transfer" + (f" ({note})" if note else "")
        self.metadata: dict[str, Any] = {}

    def predict_mapping(self, composite: torch.Tensor, mask: torch.Tensor) -> ColourMapping:
        return lab_transfer_mapping(composite, mask)


class NetworkHarmonizer(Harmonizer):
    """The SCS-Co generator; half precision on CUDA."""

    def __init__(self, model: SCSCoGenerator, name: str, metadata: dict[str, Any] | None = None) -> None:
        self.model = model.eval()
        self.name = name
        self.metadata = metadata or {}
        self.device = next(model.parameters()).device
        self.working_size = model.config.working_size
        self.dtype = inference_dtype(self.device)
        self.description = f"SCS-Co ({model.config.head} head, {Path(name).name})"

    @torch.inference_mode()
    def predict_mapping(self, composite: torch.Tensor, mask: torch.Tensor) -> ColourMapping:
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            if self.model.config.head == "mapping":
                return self.model.predict_mapping(composite, mask)
            harmonized = self.model(composite, mask)["harmonized"]
        # rgb head: carry its pixels to full resolution as local affine models
        return fit_affine_grid(composite.float(), harmonized.float(), mask.float(), grid=self.model.config.grid)


def load_harmonizer(spec: str = "default", device: str = "auto") -> Harmonizer:
    """Resolve a model name (``default``, ``classical`` or a checkpoint path) on a device.

    Raises:
        engine.checkpoint.CheckpointError: the checkpoint cannot be used.
        engine.devices.DeviceError: the device does not exist here.
    """
    torch_device = resolve_device(device)
    if spec == "classical":
        return ClassicalHarmonizer(torch_device)
    if spec == "default":
        if not DEFAULT_CHECKPOINT.is_file():
            log.warning("the bundled default model %s is missing; using the classical transfer instead", DEFAULT_CHECKPOINT)
            return ClassicalHarmonizer(torch_device, name="default", note="bundled default model missing")
        path = DEFAULT_CHECKPOINT
    else:
        path = Path(os.path.expanduser(spec))
    model, metadata = load_generator(path, torch_device)
    return NetworkHarmonizer(model, spec if spec != "default" else "default", metadata)
