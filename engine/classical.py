"""Classical harmonization: move the foreground's Lab mean and spread to the background's.

This is Reinhard-style colour statistics transfer. It needs no model, is always available, and is
also an input and a starting point of the SCS-Co generator.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.color import rgb_to_lab
from engine.mapping import LabStatsMapping

# Spread ratios are clamped: a flat region (a wall, a sky) would otherwise be stretched into noise.
MIN_SCALE = 1 / 3
MAX_SCALE = 3.0
_MIN_WEIGHT = 1e-3  # pixels' worth of mask below which a region counts as empty


def weighted_stats(values: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-channel weighted mean and standard deviation.

    Args:
        values: ``(B, C, H, W)``.
        weights: ``(B, 1, H, W)`` non-negative.

    Returns:
        mean ``(B, C)``, std ``(B, C)`` and total weight ``(B,)``.
    """
    total = weights.sum(dim=(1, 2, 3))
    norm = total.clamp(min=_MIN_WEIGHT)[:, None]
    mean = (values * weights).sum(dim=(2, 3)) / norm
    var = ((values - mean[:, :, None, None]) ** 2 * weights).sum(dim=(2, 3)) / norm
    return mean, var.clamp(min=0).sqrt(), total


@dataclass(frozen=True)
class LabStatistics:
    """Lab mean and spread of the foreground and of the background, each ``(B, 3)``.

    ``degenerate`` ``(B, 1)`` marks images whose foreground or background is empty.
    """

    fg_mean: torch.Tensor
    fg_std: torch.Tensor
    bg_mean: torch.Tensor
    bg_std: torch.Tensor
    degenerate: torch.Tensor


def lab_statistics(rgb: torch.Tensor, mask: torch.Tensor) -> LabStatistics:
    """Foreground and background Lab statistics of composites.

    Args:
        rgb: ``(B, 3, H, W)`` composite in ``[0, 1]``.
        mask: ``(B, 1, H, W)`` foreground weights in ``[0, 1]``.
    """
    if rgb.dim() != 4 or rgb.shape[1] != 3 or mask.shape != (rgb.shape[0], 1, *rgb.shape[2:]):
        raise ValueError(f"expected rgb (B, 3, H, W) and mask (B, 1, H, W), got {tuple(rgb.shape)}, {tuple(mask.shape)}")
    lab = rgb_to_lab(rgb.float())
    fg = mask.float().clamp(0, 1)
    fg_mean, fg_std, fg_total = weighted_stats(lab, fg)
    bg_mean, bg_std, bg_total = weighted_stats(lab, 1 - fg)
    degenerate = ((fg_total < _MIN_WEIGHT) | (bg_total < _MIN_WEIGHT))[:, None]
    return LabStatistics(fg_mean, fg_std, bg_mean, bg_std, degenerate)


def stats_mapping(stats: LabStatistics, target_mean: torch.Tensor, target_std: torch.Tensor) -> LabStatsMapping:
    """The Lab mapping that gives the foreground ``target_mean`` and ``target_std`` ``(B, 3)``.

    Spread ratios are clamped to ``[MIN_SCALE, MAX_SCALE]``; degenerate images get the identity.
    """
    scale = (target_std / stats.fg_std.clamp(min=1e-3)).clamp(MIN_SCALE, MAX_SCALE)
    shift = target_mean - scale * stats.fg_mean
    scale = torch.where(stats.degenerate, torch.ones_like(scale), scale)
    shift = torch.where(stats.degenerate, torch.zeros_like(shift), shift)
    return LabStatsMapping(scale, shift)


def lab_transfer_mapping(rgb: torch.Tensor, mask: torch.Tensor) -> LabStatsMapping:
    """The Lab statistics transfer that makes the foreground match the background.

    Args:
        rgb: ``(B, 3, H, W)`` composite in ``[0, 1]``.
        mask: ``(B, 1, H, W)`` foreground weights in ``[0, 1]``.

    Returns:
        A :class:`LabStatsMapping`; the identity for images whose foreground or background is empty.
    """
    stats = lab_statistics(rgb, mask)
    return stats_mapping(stats, stats.bg_mean, stats.bg_std)


def classical_harmonize(rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Composite of the Lab-transferred foreground over the untouched background, ``(B, 3, H, W)``."""
    mapped = lab_transfer_mapping(rgb, mask).apply(rgb.float()).clamp(0, 1).to(rgb.dtype)
    return mask * mapped + (1 - mask) * rgb
