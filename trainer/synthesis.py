"""Training composites made from a real photo and a mask (docs/DESIGN.md, "Training
data").

The masked region of a real photo is recoloured the way iHarmony4 made its composites, and the
original photo stays the ground truth:

- *retouch-like* (HAdobe5k): another photographer's edit of the same photo: exposure, white
  balance, contrast and tone curve, gamma, saturation; global and smooth, no hue rotations;
- *transfer-like* (HCOCO, HFlickr): the colour statistics of a region of the same category in
  another photo, by Lab mean/std transfer, Lab mean shift, per-channel histogram matching or a mix.

Each composite's edit is scaled so that its PSNR against the real photo follows a target
distribution: centred on iHarmony4's 31.6 dB, with a tail of much harsher edits. Every function
is a pure function of its inputs and ``rng``. All work happens inside the mask's bounding box,
which is exact because every edit is a per-pixel colour mapping.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import torch
import torch.nn.functional as F

from engine.dict_config import DictConfig
from engine.color import LUMINANCE_WEIGHTS, linear_to_srgb, rgb_to_lab, srgb_to_linear
from engine.color_transfer import (
    apply_curves,
    apply_stats_transfer,
    level_histogram,
    matching_curves,
    stats_transfer,
    weighted_stats,
)
from engine.metrics import PEAK, masked_mse, psnr_to_mse

_MAIN_SPREAD_DB = 3.5  # standard deviation of the main PSNR component
_STRONG_RANGE_DB = (14.0, 22.0)
_MAIN_FMSE_CAP = 3000.0  # foreground MSE caps keep tiny regions from absurd recolourings
_STRONG_FMSE_CAP = 10000.0
_RETOUCH_REFERENCE_FMSE = 150.0  # typical foreground MSE of a strength-1 retouch (labelme photos)
_MAX_GAIN = {"retouch": 1.5, "transfer": 1.25}  # how far an edit may be amplified to reach its target
_ATTEMPTS = 4
_STATS_PIXELS = 16384  # regions are subsampled to about this many pixels for their statistics
_TRANSFER_METHODS = ("lab_stats", "lab_mean", "histogram", "mix")
_TRANSFER_WEIGHTS = (0.35, 0.15, 0.25, 0.25)


@dataclass(frozen=True)
class SynthesisConfig(DictConfig):
    """How training composites are made.

    Attributes:
        retouch_probability: Chance of a retouch-like edit; otherwise transfer-like (which falls
            back to retouch when there is no reference).
        target_psnr: Median PSNR of composites against their real photos, in dB.
        strong_fraction: Share of much harsher edits (PSNR 14-22 dB).
        min_fmse: Foreground MSE (0-255 scale) below which a pair counts as near-identical and
            is redone.
        identity_fraction: Share of composites left unedited (composite = real photo), so that
            the model learns to leave a foreground alone when it already fits.
    """

    retouch_probability: float = 0.5
    target_psnr: float = 31.5
    strong_fraction: float = 0.2
    min_fmse: float = 20.0
    identity_fraction: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.retouch_probability <= 1.0:
            raise ValueError(f"retouch_probability must be in [0, 1], got {self.retouch_probability}")
        if not 0.0 <= self.strong_fraction < 0.5:
            raise ValueError(f"strong_fraction must be in [0, 0.5), got {self.strong_fraction}")
        if not 10.0 <= self.target_psnr <= 60.0:
            raise ValueError(f"target_psnr must be in [10, 60] dB, got {self.target_psnr}")
        if not 0.0 <= self.identity_fraction < 1.0:
            raise ValueError(f"identity_fraction must be in [0, 1), got {self.identity_fraction}")
        if self.min_fmse < 0:
            raise ValueError(f"min_fmse must be non-negative, got {self.min_fmse}")


def retouch(real: torch.Tensor, strength: float, rng: np.random.Generator) -> torch.Tensor:
    """A photographer-style edit of the whole image, for the caller to paste inside a mask.

    Exposure and white balance (temperature, tint) act on linear light; contrast (an S-curve),
    gamma, output levels and saturation on sRGB values. Each is applied with probability 0.7 and
    an amount drawn around zero with a spread proportional to ``strength`` (1: a clearly
    visible edit). Hues are kept: no channel is rotated into another.

    Args:
        real: Image in ``[0, 1]``.
        strength: Scale of the edit; 0 returns the image unchanged.
        rng: Source of every random choice.

    Returns:
        The edited image in ``[0, 1]``.

    Shape:
        real: ``(3, H, W)``; returns ``(3, H, W)``.
    """
    _check_image(real, "real")
    p = _retouch_params(strength, rng)
    gains = torch.tensor(p["gains"], dtype=real.dtype).view(3, 1, 1)
    out = linear_to_srgb((srgb_to_linear(real) * gains).clamp(0.0, 1.0))
    if p["contrast"]:
        out = out - p["contrast"] * torch.sin(2 * math.pi * out) / (2 * math.pi)
    if p["gamma"] != 1.0:
        out = out.clamp(0.0, 1.0) ** p["gamma"]
    out = p["black"] + (p["white"] - p["black"]) * out
    if p["saturation"] != 1.0:
        luma = (out * torch.tensor(LUMINANCE_WEIGHTS, dtype=out.dtype).view(3, 1, 1)).sum(0, keepdim=True)
        out = luma + (out - luma) * p["saturation"]
    return out.clamp(0.0, 1.0)


def transfer(
    real: torch.Tensor,
    mask: torch.Tensor,
    reference: torch.Tensor,
    reference_mask: torch.Tensor,
    rng: np.random.Generator,
) -> torch.Tensor:
    """Give the masked region of ``real`` the colour statistics of the reference's masked region.

    One method is drawn at random: Lab mean/std transfer, Lab mean shift, per-channel histogram
    matching in RGB, or a random mix of Lab mean/std transfer and histogram matching. The
    resulting colour mapping is applied to the whole image, for the caller to paste with ``mask``.

    Args:
        real: Image in ``[0, 1]``.
        mask: Region of ``real`` whose statistics are measured.
        reference: Another photo in ``[0, 1]``, any size.
        reference_mask: Region of the reference (usually of the same category).
        rng: Source of every random choice.

    Returns:
        The recoloured image in ``[0, 1]``.

    Shape:
        real: ``(3, H, W)``, mask: ``(1, H, W)``, reference: ``(3, h, w)``, reference_mask:
        ``(1, h, w)``; returns ``(3, H, W)``.
    """
    _check_image(real, "real")
    _check_image(reference, "reference")
    mask, reference_mask = _as_mask(mask, real), _as_mask(reference_mask, reference)
    method = _TRANSFER_METHODS[int(rng.choice(len(_TRANSFER_METHODS), p=_TRANSFER_WEIGHTS))]
    if method == "histogram":
        return _histogram_match(real, mask, reference, reference_mask)
    lab_result = _lab_transfer(real, mask, reference, reference_mask, keep_spread=method == "lab_mean")
    if method == "mix":
        weight = float(rng.uniform(0.3, 0.7))
        hist_result = _histogram_match(real, mask, reference, reference_mask)
        return weight * lab_result + (1.0 - weight) * hist_result
    return lab_result


def synthesize(
    real: torch.Tensor,
    mask: torch.Tensor,
    rng: np.random.Generator,
    config: SynthesisConfig = SynthesisConfig(),
    reference: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Make a training composite: the recoloured region pasted into the real photo with the mask.

    A target PSNR is drawn (see the module docstring), an edit is made (transfer-like from
    ``reference`` with probability ``1 - retouch_probability``, retouch-like otherwise) and
    scaled to reach it. Edits that cannot reach it, or that change the region by less than
    ``config.min_fmse``, are redrawn a bounded number of times. An empty mask, and a share
    ``config.identity_fraction`` of composites, return a copy of ``real``.

    Args:
        real: The real photo in ``[0, 1]``.
        mask: Foreground weights in ``[0, 1]``.
        rng: Source of every random choice.
        config: The target distribution and edit mix.
        reference: ``(image, mask)`` of a region of the same category in another photo.

    Returns:
        The composite; pixels where ``mask == 0`` are bit-identical to ``real``.

    Shape:
        real: ``(3, H, W)``, mask: ``(1, H, W)`` or ``(H, W)``, reference: ``((3, h, w), (1, h, w))``;
        returns ``(3, H, W)``.
    """
    _check_image(real, "real")
    mask = _as_mask(mask, real).to(real.dtype).clamp(0.0, 1.0)
    box = _bounding_box(mask)
    # Drawn only when asked for, so composites made without identities keep their random stream.
    if box is None or (config.identity_fraction and rng.random() < config.identity_fraction):
        return real.clone()
    rows, cols = box
    region, weights = real[:, rows, cols], mask[:, rows, cols]
    target_fmse = _draw_target(config, float(mask.mean()), rng)
    use_transfer = reference is not None and rng.random() >= config.retouch_probability
    difference = _reach_target(region, weights, target_fmse, config, rng, reference if use_transfer else None)
    composite = real.clone()
    blended = (region + difference).clamp(0.0, 1.0)
    composite[:, rows, cols] = torch.where(weights > 0, blended, region)
    return composite


def _check_image(image: torch.Tensor, name: str) -> None:
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"{name} must have shape (3, H, W), got {tuple(image.shape)}")


def _as_mask(mask: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    if mask.dim() == 2:
        mask = mask.unsqueeze(0)
    if mask.shape != (1, *image.shape[1:]):
        raise ValueError(f"mask must have shape (1, {image.shape[1]}, {image.shape[2]}), got {tuple(mask.shape)}")
    return mask


def _bounding_box(mask: torch.Tensor) -> tuple[slice, slice] | None:
    rows = torch.nonzero(mask[0].amax(dim=1) > 0)
    if rows.numel() == 0:
        return None
    cols = torch.nonzero(mask[0].amax(dim=0) > 0)
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _main_centre(config: SynthesisConfig) -> float:
    """Centre of the main PSNR component that puts the mixture's median at ``target_psnr``."""
    below = (0.5 - config.strong_fraction) / (1.0 - config.strong_fraction)
    return config.target_psnr - _MAIN_SPREAD_DB * NormalDist().inv_cdf(below)


def _draw_target(config: SynthesisConfig, area: float, rng: np.random.Generator) -> float:
    """A target foreground MSE (0-255 scale), from the main distribution or the strong tail.

    The PSNR target concerns the whole image; it is turned into a foreground MSE through the
    region's area, within caps that keep tiny regions plausible.
    """
    strong = rng.random() < config.strong_fraction
    if strong:
        psnr = rng.uniform(*_STRONG_RANGE_DB)
    else:
        psnr = rng.normal(_main_centre(config), _MAIN_SPREAD_DB)
    mse = psnr_to_mse(psnr)
    cap = _STRONG_FMSE_CAP if strong else _MAIN_FMSE_CAP
    floor = 1.5 * config.min_fmse
    return float(np.clip(mse / max(area, 1e-6), floor, max(cap, floor)))


def _reach_target(
    region: torch.Tensor,
    weights: torch.Tensor,
    target_fmse: float,
    config: SynthesisConfig,
    rng: np.random.Generator,
    reference: tuple[torch.Tensor, torch.Tensor] | None,
) -> torch.Tensor:
    """The pasted change ``weights * gain * (edit - region)`` whose foreground MSE is near the target.

    An edit may be amplified up to ``_MAX_GAIN``; weaker ones are redrawn (transfer twice, then
    retouch at growing strength). If none reaches ``min_fmse``, a levels edit that always shows is
    scaled to the target instead.
    """
    strength = float(np.clip(math.sqrt(target_fmse / _RETOUCH_REFERENCE_FMSE), 0.2, 3.0))
    best, best_fmse = torch.zeros_like(region), 0.0
    for attempt in range(_ATTEMPTS):
        kind = "transfer" if reference is not None and attempt < 2 else "retouch"
        if kind == "transfer":
            edit = transfer(region, weights, reference[0], reference[1], rng)
        else:
            edit = retouch(region, strength, rng)
            strength = min(strength * 1.6, 4.0)
        change = weights * (edit - region)
        fmse = _weighted_fmse(change, weights)
        if fmse <= 0:
            continue
        gain = math.sqrt(target_fmse / fmse)
        if gain <= _MAX_GAIN[kind]:
            return change * gain
        capped = change * _MAX_GAIN[kind]
        if fmse * _MAX_GAIN[kind] ** 2 > best_fmse:
            best, best_fmse = capped, fmse * _MAX_GAIN[kind] ** 2
    if best_fmse >= config.min_fmse:
        return best
    edit = _visible_edit(region, weights)
    change = weights * (edit - region)
    fmse = _weighted_fmse(change, weights)
    return change * math.sqrt(target_fmse / fmse) if fmse > 0 else change


def _weighted_fmse(change: torch.Tensor, weights: torch.Tensor) -> float:
    """Foreground MSE (0-255 scale) that pasting ``change`` with ``weights`` makes."""
    return float(masked_mse(change[None], torch.zeros_like(change)[None], weights[None])) * PEAK**2


def _visible_edit(region: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """A levels edit that always changes the region: darken a bright one, lift a dark one."""
    bright = float((region * weights).sum()) / (3.0 * float(weights.sum())) > 0.5
    return 0.75 * region if bright else 0.75 * region + 0.25


def _retouch_params(strength: float, rng: np.random.Generator) -> dict:
    """Every amount is drawn, used or not, so the number of draws never depends on the outcome."""
    on = rng.random(6) < 0.7
    amount = rng.normal(0.0, 1.0, 8) * strength
    exposure = 0.45 * amount[0] if on[0] else 0.0
    temperature = 0.10 * amount[1] if on[1] else 0.0
    tint = 0.05 * amount[2] if on[1] else 0.0
    gains = np.exp([temperature, tint, -temperature])
    gains = gains / float(np.dot(gains, LUMINANCE_WEIGHTS)) * 2.0**exposure  # white balance keeps luminance
    return {
        "gains": gains.tolist(),
        "contrast": float(np.clip(0.25 * amount[3], -0.8, 0.8)) if on[2] else 0.0,
        "gamma": float(np.exp(np.clip(0.2 * amount[4], -1.0, 1.0))) if on[3] else 1.0,
        "black": float(max(0.0, 0.03 * amount[5])) if on[4] else 0.0,
        "white": float(1.0 - max(0.0, 0.03 * amount[6])) if on[4] else 1.0,
        "saturation": float(np.exp(np.clip(0.25 * amount[7], -1.5, 1.0))) if on[5] else 1.0,
    }


def _subsample(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    step = max(1, math.ceil(math.sqrt(image.shape[1] * image.shape[2] / _STATS_PIXELS)))
    return image[:, ::step, ::step], mask[:, ::step, ::step]


def _lab_transfer(
    real: torch.Tensor, mask: torch.Tensor, reference: torch.Tensor, reference_mask: torch.Tensor, keep_spread: bool
) -> torch.Tensor:
    lab = rgb_to_lab(real.float())[None]
    src_mean, src_std, _ = weighted_stats(lab, mask.float()[None])
    ref_image, ref_mask = _subsample(reference, reference_mask)
    ref_mean, ref_std, ref_total = weighted_stats(rgb_to_lab(ref_image.float())[None], ref_mask.float()[None])
    if float(ref_total) <= 0:
        return real.clone()
    scale, shift = stats_transfer(src_mean, src_std, ref_mean, ref_std, keep_spread=keep_spread)
    return apply_stats_transfer(lab, scale, shift)[0].to(real.dtype)


def _histogram_match(
    real: torch.Tensor, mask: torch.Tensor, reference: torch.Tensor, reference_mask: torch.Tensor
) -> torch.Tensor:
    """Per-channel mapping of the region's weighted 8-bit histogram onto the reference region's."""
    ref_image, ref_mask = _subsample(reference, reference_mask)
    if float(ref_mask.sum()) <= 0 or float(mask.sum()) <= 0:
        return real.clone()
    source = level_histogram(real.reshape(1, 3, -1), mask.reshape(1, 1, -1))
    target = level_histogram(ref_image.reshape(1, 3, -1), ref_mask.reshape(1, 1, -1))
    curves = F.pad(matching_curves(source, target), (2, 2), mode="replicate")
    curves = F.avg_pool1d(curves, 5, stride=1)  # a 5-level moving average tames jagged curves
    return apply_curves(real[None], curves)[0].clamp(0.0, 1.0).to(real.dtype)
