"""Colour transfer: giving one region the colours of another, on batched tensors (docs/DESIGN.md,
section 5).

Two kinds, each written once:

- **Lab statistics transfer** (Reinhard-style): each Lab channel is scaled and shifted so that the
  region's mean and spread become the target's (:func:`stats_transfer`,
  :func:`apply_stats_transfer`). The classical harmonizer (:mod:`engine.classical`) moves a
  composite's foreground to its background's statistics; training composites and negatives move
  it to another photo's region.
- **Histogram matching**: per-channel tone curves ``F_ref^-1(F_src(x))`` that give the region the
  reference region's distribution of values (:func:`matching_curves`, :func:`apply_curves`). A
  distribution is estimated one of two ways: :func:`level_histogram` from the 8-bit histogram of
  every pixel (training composites), :func:`sample_quantiles` from the sorted values of a few
  samples (negatives, on the GPU every step).
"""
from __future__ import annotations

import torch
from torch import Tensor

from engine.color import lab_to_rgb

# Spread ratios are clamped: a flat region (a wall, a sky) would otherwise be stretched into noise.
MIN_SCALE = 1 / 3
MAX_SCALE = 3.0
MIN_WEIGHT = 1e-3
"""Pixels' worth of weight below which a region counts as empty."""

CURVE_LEVELS = 256
"""Points at which a tone curve is sampled, uniformly on ``[0, 1]``."""

_MIN_STD = 1e-3  # spread below which a region counts as flat
_CODE_VALUES = 256  # of an 8-bit channel
_EMPTY_LEVEL = 1e-6  # weight every 8-bit level gets, so that a histogram's CDF strictly increases


def weighted_stats(values: Tensor, weights: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-channel weighted mean and standard deviation.

    Args:
        values: ``(B, C, H, W)``.
        weights: ``(B, 1, H, W)`` non-negative.

    Returns:
        mean ``(B, C)``, std ``(B, C)`` and total weight ``(B,)``.
    """
    total = weights.sum(dim=(1, 2, 3))
    norm = total.clamp(min=MIN_WEIGHT)[:, None]
    mean = (values * weights).sum(dim=(2, 3)) / norm
    var = ((values - mean[:, :, None, None]) ** 2 * weights).sum(dim=(2, 3)) / norm
    return mean, var.clamp(min=0).sqrt(), total


def stats_transfer(
    mean: Tensor,
    std: Tensor,
    target_mean: Tensor,
    target_std: Tensor,
    strength: Tensor | None = None,
    keep_spread: bool = False,
) -> tuple[Tensor, Tensor]:
    """Per-channel scale and shift that move values of mean ``mean`` and spread ``std`` to
    ``target_mean`` and ``target_std``.

    The spread ratio is clamped to ``[MIN_SCALE, MAX_SCALE]``.

    Args:
        mean, std: statistics of the region to recolour.
        target_mean, target_std: statistics it should get.
        strength: how far the transfer goes, in ``[0, 1]``; the mean moves that fraction of the
            way and the scale is the ratio to that power. ``None`` goes all the way.
        keep_spread: shift the mean only (scale 1).

    Returns:
        ``(scale, shift)``: a value ``x`` becomes ``scale * x + shift``.

    Shape:
        every statistic ``(..., C)``, broadcast together; strength broadcast against them.
    """
    scale = torch.ones_like(std) if keep_spread else (target_std / std.clamp(min=_MIN_STD)).clamp(MIN_SCALE, MAX_SCALE)
    if strength is not None:
        scale = scale**strength
        target_mean = mean + strength * (target_mean - mean)
    return scale, target_mean - scale * mean


def apply_stats_transfer(lab: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
    """sRGB in ``[0, 1]`` of Lab images whose channels are scaled, then shifted (:func:`stats_transfer`).

    Shape:
        lab ``(..., 3, H, W)``; scale, shift ``(..., 3)``, broadcast against lab's leading axes;
        output ``(..., 3, H, W)`` of the broadcast leading shape.
    """
    return lab_to_rgb(lab * scale[..., None, None] + shift[..., None, None])


def level_histogram(values: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """A region's distribution per channel from the weighted histogram of its 8-bit code values.

    Every level also gets a tiny weight, so that the CDF strictly increases. Computed in float64.

    Args:
        values: samples in ``[0, 1]``, rounded to the nearest of the 256 code values.
        weights: non-negative weight of each sample.

    Returns:
        ``(support, cdf)`` for :func:`matching_curves`: the code values on ``[0, 1]`` and the
        mid-point CDF at each, normalised by its last value.

    Shape:
        values ``(B, C, P)``; weights ``(B, 1, P)``; outputs ``(B, C, 256)``.
    """
    b, c, p = values.shape
    levels = _CODE_VALUES - 1
    bins = (values * float(levels)).round().clamp(0, levels).long()
    bins = bins + torch.arange(b * c, device=values.device).view(b, c, 1) * _CODE_VALUES  # one histogram per channel
    flat_weights = weights.expand(b, c, p).reshape(-1).double()
    hist = torch.bincount(bins.reshape(-1), weights=flat_weights, minlength=b * c * _CODE_VALUES)
    hist = hist.view(b, c, _CODE_VALUES) + _EMPTY_LEVEL
    cdf = hist.cumsum(-1) - 0.5 * hist
    support = torch.linspace(0, 1, _CODE_VALUES, device=values.device, dtype=torch.float64)
    return support.expand(b, c, _CODE_VALUES), cdf / cdf[..., -1:]


def sample_quantiles(values: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """A region's distribution per channel from its samples: their sorted values and weighted mid-point CDF.

    Args:
        values: samples.
        weights: non-negative weight of each sample; an all-zero region has a CDF of zeros.

    Returns:
        ``(support, cdf)`` for :func:`matching_curves`.

    Shape:
        values ``(B, C, P)``; weights ``(B, 1, P)``; outputs ``(B, C, P)``.
    """
    sorted_values, order = values.sort(dim=-1)
    w = weights.expand_as(values).gather(-1, order)
    cdf = (w.cumsum(-1) - 0.5 * w) / w.sum(-1, keepdim=True).clamp(min=1e-6)
    return sorted_values, cdf


def matching_curves(
    source: tuple[Tensor, Tensor], reference: tuple[Tensor, Tensor], strength: Tensor | None = None
) -> Tensor:
    """Per-channel tone curves that give values distributed like ``source`` the distribution of
    ``reference``: ``F_ref^-1(F_src(x))`` at :data:`CURVE_LEVELS` levels, for :func:`apply_curves`.

    Args:
        source: ``(support, cdf)`` of the region to recolour (:func:`level_histogram` or
            :func:`sample_quantiles`).
        reference: ``(support, cdf)`` of the region whose distribution it should get.
        strength: how far the curves go from the identity, in ``[0, 1]``; ``None``: all the way.

    Returns:
        The curves, in the dtype of the supports.

    Shape:
        source ``(..., C, P)``, whose leading axes broadcast to those of reference ``(..., C, Q)``;
        strength ``(...)``; output ``(..., C, CURVE_LEVELS)`` of the reference's leading shape.
    """
    (support, cdf), (ref_support, ref_cdf) = source, reference
    grid = torch.linspace(0, 1, CURVE_LEVELS, device=support.device, dtype=support.dtype)
    quantile = _interp(grid, support, cdf)  # where each level sits in the source
    matched = _interp(quantile, ref_cdf, ref_support)
    return matched if strength is None else torch.lerp(grid, matched, strength[..., None, None])


def apply_curves(rgb: Tensor, curves: Tensor) -> Tensor:
    """Per-channel tone curves sampled uniformly on ``[0, 1]``, interpolated linearly.

    Returns:
        The mapped values, in the curves' dtype.

    Shape:
        rgb ``(..., C, H, W)``; curves ``(..., C, L)``, whose leading axes rgb's broadcast to;
        output ``(..., C, H, W)`` of the curves' leading shape.
    """
    levels = curves.shape[-1]
    pos = rgb.flatten(-2).clamp(0, 1) * (levels - 1)
    i0 = pos.floor().clamp(max=levels - 2)
    frac = (pos - i0).to(curves.dtype)
    i0 = i0.long().expand(*curves.shape[:-1], -1)
    low, high = curves.gather(-1, i0), curves.gather(-1, i0 + 1)
    return torch.lerp(low, high, frac).view(*curves.shape[:-1], *rgb.shape[-2:])


def _interp(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """Batched ``numpy.interp`` along the last axis; ``xp`` non-decreasing, ends held constant."""
    x = x.expand(*xp.shape[:-1], x.shape[-1]).contiguous()
    idx = torch.searchsorted(xp.contiguous(), x, right=True).clamp(1, xp.shape[-1] - 1)
    x0, x1 = xp.gather(-1, idx - 1), xp.gather(-1, idx)
    f0, f1 = fp.gather(-1, idx - 1), fp.gather(-1, idx)
    t = ((x - x0) / (x1 - x0).clamp(min=1e-12)).clamp(0, 1)
    return f0 + t * (f1 - f0)
