"""Helpers shared by the engine's tests."""
from __future__ import annotations

import torch

from engine.classical import lab_transfer_mapping


def classical_harmonize(rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The classical transfer's composite: the Lab-transferred foreground over the untouched
    background, ``(B, 3, H, W)`` (what the generator's ``classical`` base composes)."""
    mapped = lab_transfer_mapping(rgb, mask).apply(rgb.float()).clamp(0, 1).to(rgb.dtype)
    return mask * mapped + (1 - mask) * rgb
