"""Classical harmonization: move the foreground's Lab mean and spread to the background's.

This is the Lab statistics transfer of :mod:`engine.color_transfer` applied within a composite. It
needs no model, is always available, and is also an input and a starting point of the SCS-Co
generator.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.color import rgb_to_lab
from engine.color_transfer import MIN_WEIGHT, stats_transfer, weighted_stats
from engine.mapping import LabStatsMapping


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
    return lab_image_statistics(rgb_to_lab(rgb.float()), mask)


def lab_image_statistics(lab: torch.Tensor, mask: torch.Tensor) -> LabStatistics:
    """:func:`lab_statistics` of composites already converted to Lab ``(B, 3, H, W)``."""
    if lab.dim() != 4 or lab.shape[1] != 3 or mask.shape != (lab.shape[0], 1, *lab.shape[2:]):
        raise ValueError(f"expected an image (B, 3, H, W) and mask (B, 1, H, W), got {tuple(lab.shape)}, {tuple(mask.shape)}")
    fg = mask.float().clamp(0, 1)
    fg_mean, fg_std, fg_total = weighted_stats(lab, fg)
    bg_mean, bg_std, bg_total = weighted_stats(lab, 1 - fg)
    degenerate = ((fg_total < MIN_WEIGHT) | (bg_total < MIN_WEIGHT))[:, None]
    return LabStatistics(fg_mean, fg_std, bg_mean, bg_std, degenerate)


def stats_mapping(stats: LabStatistics, target_mean: torch.Tensor, target_std: torch.Tensor) -> LabStatsMapping:
    """The Lab mapping that gives the foreground ``target_mean`` and ``target_std`` ``(B, 3)``.

    A :func:`engine.color_transfer.stats_transfer`; degenerate images get the identity.
    """
    scale, shift = stats_transfer(stats.fg_mean, stats.fg_std, target_mean, target_std)
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
