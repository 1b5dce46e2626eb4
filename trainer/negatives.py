"""Dynamic negative generation for the SCS-Co contrastive losses (docs/DESIGN.md, "Negatives").

Every training step, each sample gets ``K`` negatives: images that look like its real photo with
a *wrongly coloured* foreground. Negative 0 is the composite itself; the others are fresh
re-colourings of the real image's foreground, pasted back into the real image, so a negative
differs from the real image only inside the mask.

Re-colourings take their colours from the *other* images of the batch (each re-colouring's
reference is another sample, chosen at random), with a mix of methods; every sample gets the same
share of each method (``NegativeConfig.method_weights``), with fresh references and parameters:

- **Lab transfer**: the foreground's Lab mean and spread moved toward those of the reference's
  foreground or background (:func:`engine.color_transfer.stats_transfer`, part of the way);
- **histogram matching**: per-channel tone curves that give the foreground the histogram of the
  reference's foreground or background, built from quantiles of a small copy of each image
  (:func:`engine.color_transfer.sample_quantiles`, :func:`engine.color_transfer.matching_curves`);
- **jitter**: white balance (temperature and tint), exposure, saturation, hue and gamma.

With a batch of one there is no other image, and every re-colouring is jitter. A re-colouring
that happens to change the foreground too little (a reference coloured like the sample) gets a
colour cast on top, so every negative is clearly wrong. Everything is batched over samples and
negatives on the input's device, with all randomness from one ``torch.Generator``: no Python loop
over samples and no transfer to the CPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.dict_config import DictConfig
from engine.color import rgb_to_lab
from engine.color_transfer import (
    apply_curves,
    apply_stats_transfer,
    matching_curves,
    sample_quantiles,
    stats_transfer,
    weighted_stats,
)

_MIN_REGION = 1.0  # pixels' worth of mask below which a region counts as empty
_CHECK_STRIDE = 4  # the foreground change is measured on every 4th pixel along each axis
# RGB <-> YIQ: hue rotation and saturation act on the chroma plane (I, Q).
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


@dataclass(frozen=True)
class NegativeConfig(DictConfig):
    """How negatives are generated.

    Attributes:
        count: ``K``, negatives per sample (the composite included).
        include_composite: negative 0 is the composite itself.
        method_weights: shares of each sample's re-colourings made by Lab transfer, histogram
            matching and jitter (rounded by largest remainder; batches of one use jitter only).
        transfer_strength: range of the fraction of the way a transfer moves toward its reference.
        min_difference: mean absolute foreground change (``[0, 1]`` scale) below which a
            re-colouring gets a colour cast on top.
        histogram_size: side of the small copy whose pixels give the histograms.
    """

    count: int = 6
    include_composite: bool = True
    method_weights: tuple[float, float, float] = (0.35, 0.3, 0.35)
    transfer_strength: tuple[float, float] = (0.7, 1.0)
    min_difference: float = 0.04
    histogram_size: int = 64

    def __post_init__(self) -> None:
        # Lists (e.g. from a JSON round trip) become tuples, so configs compare and hash.
        object.__setattr__(self, "method_weights", tuple(float(w) for w in self.method_weights))
        object.__setattr__(self, "transfer_strength", tuple(float(s) for s in self.transfer_strength))
        problems = []
        if self.count < 1:
            problems.append(f"count must be at least 1, got {self.count}")
        if len(self.method_weights) != 3 or min(self.method_weights) < 0 or sum(self.method_weights) <= 0:
            problems.append(f"method_weights must be three non-negative shares, got {self.method_weights}")
        if len(self.transfer_strength) != 2 or not 0 <= self.transfer_strength[0] <= self.transfer_strength[1] <= 1:
            problems.append(f"transfer_strength must be a range within [0, 1], got {self.transfer_strength}")
        if self.min_difference < 0 or self.histogram_size < 2:
            problems.append("min_difference must be >= 0 and histogram_size >= 2")
        if problems:
            raise ValueError("invalid negative configuration: " + "; ".join(problems))

    @property
    def recolourings(self) -> int:
        """Number of re-coloured negatives per sample."""
        return self.count - int(self.include_composite)

    def method_counts(self, batch: int) -> tuple[int, int, int]:
        """Re-colourings per sample made by Lab transfer, histogram matching and jitter."""
        n = self.recolourings
        if batch < 2:
            return 0, 0, n
        total = sum(self.method_weights)
        exact = [n * w / total for w in self.method_weights]
        counts = [math.floor(e) for e in exact]
        by_remainder = sorted(range(3), key=lambda i: counts[i] - exact[i])
        for i in by_remainder[: n - sum(counts)]:
            counts[i] += 1
        return counts[0], counts[1], counts[2]


def generate_negatives(
    real: Tensor,
    mask: Tensor,
    composite: Tensor,
    config: NegativeConfig = NegativeConfig(),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Negatives for each sample: the composite, then re-colourings of the real foreground.

    Negative 0 (with ``include_composite``) is the composite where ``mask > 0`` and the real image
    where ``mask == 0``, so that every negative equals ``real`` exactly outside the mask (the
    backgrounds of dataset composites can differ from the real image by JPEG noise). The
    re-colourings follow, Lab transfers first, then histogram matches, then jitters.

    Args:
        real: real images in ``[0, 1]``.
        mask: foreground weights in ``[0, 1]`` (soft edges allowed).
        composite: composites in ``[0, 1]``.
        config: how many negatives, and how they are made.
        generator: source of all randomness, on the inputs' device (default: torch's global one).

    Returns:
        Negatives in ``[0, 1]``, of ``real``'s dtype.

    Shape:
        - real, composite: ``(B, 3, H, W)``; mask: ``(B, 1, H, W)``.
        - output: ``(B, K, 3, H, W)`` with ``K = config.count``.
    """
    _check_inputs(real, mask, composite)
    b, _, h, w = real.shape
    rgb, m = real.float(), mask.float().clamp(0, 1)
    out = torch.empty(b, config.count, 3, h, w, device=real.device, dtype=torch.float32)
    first = int(config.include_composite)
    if first:
        torch.where(m > 0, composite.float(), rgb, out=out[:, 0])
    if config.recolourings:
        _recolour(rgb, m, out[:, first:], config, generator)
    return out.to(real.dtype)


def _check_inputs(real: Tensor, mask: Tensor, composite: Tensor) -> None:
    if real.dim() != 4 or real.shape[1] != 3 or composite.shape != real.shape:
        raise ValueError(
            f"expected real and composite of shape (B, 3, H, W), got {tuple(real.shape)} and {tuple(composite.shape)}"
        )
    if mask.shape != (real.shape[0], 1, *real.shape[2:]):
        raise ValueError(f"expected mask of shape {(real.shape[0], 1, *real.shape[2:])}, got {tuple(mask.shape)}")


def _recolour(rgb: Tensor, m: Tensor, out: Tensor, config: NegativeConfig, generator: torch.Generator | None) -> None:
    """Fill ``out`` ``(B, n, 3, H, W)`` with re-colourings of each foreground pasted into ``rgb``."""
    b, n, device = rgb.shape[0], out.shape[1], rgb.device
    # A reference is another sample: a random non-zero shift of the batch index.
    shift = torch.randint(1, max(b, 2), (b, n), generator=generator, device=device)
    reference = (torch.arange(b, device=device)[:, None] + shift) % b
    use_fg = torch.rand(b, n, generator=generator, device=device) < 0.5
    low, high = config.transfer_strength
    strength = low + (high - low) * torch.rand(b, n, generator=generator, device=device)
    jitter = _jitter_parameters(b, n, generator, device)
    cast = 0.08 + 0.07 * torch.rand(b, n, 3, generator=generator, device=device)

    side = min(config.histogram_size, rgb.shape[-2], rgb.shape[-1])
    small = F.adaptive_avg_pool2d(rgb, side).flatten(2)  # (B, 3, side * side)
    small_m = F.adaptive_avg_pool2d(m, side).flatten(2)
    n_lab, n_hist, _ = config.method_counts(b)
    groups = (slice(0, n_lab), slice(n_lab, n_lab + n_hist), slice(n_lab + n_hist, n))
    if n_lab:
        g = groups[0]
        out[:, g] = _lab_transfer(rgb, m, reference[:, g], use_fg[:, g], strength[:, g])
    if n_hist:
        g = groups[1]
        out[:, g] = _histogram_match(rgb, small, small_m, reference[:, g], use_fg[:, g], strength[:, g])
    if n - n_lab - n_hist:
        g = groups[2]
        out[:, g] = _jitter(rgb, **{k: v[:, g] for k, v in jitter.items()})
    _ensure_difference(out, rgb, m, small, small_m, cast, config.min_difference)
    # Paste in place: exactly ``rgb`` where the mask is 0, since (x - rgb) * 0 + rgb == rgb.
    out.sub_(rgb[:, None]).mul_(m[:, None]).add_(rgb[:, None])


def _region_or_whole(weights: Tensor) -> Tensor:
    """Region weights ``(B, 1, ...)``, replaced by the whole image where the region is empty."""
    empty = weights.flatten(1).sum(1) < _MIN_REGION
    return torch.where(empty.view(-1, *[1] * (weights.dim() - 1)), torch.ones_like(weights), weights)


def _pick(use_fg: Tensor, fg: Tensor, bg: Tensor, reference: Tensor) -> Tensor:
    """Per re-colouring ``(B, n)``: the reference sample's foreground or background quantity."""
    choice = use_fg.view(*use_fg.shape, *[1] * (fg.dim() - 1))
    return torch.where(choice, fg[reference], bg[reference])


def _lab_transfer(rgb: Tensor, m: Tensor, reference: Tensor, use_fg: Tensor, strength: Tensor) -> Tensor:
    """Lab statistics transfer of each foreground toward its references' regions, ``(B, n, 3, H, W)``."""
    lab = rgb_to_lab(rgb)
    fg_mean, fg_std, _ = weighted_stats(lab, _region_or_whole(m))
    bg_mean, bg_std, _ = weighted_stats(lab, _region_or_whole(1 - m))
    ref_mean, ref_std = _pick(use_fg, fg_mean, bg_mean, reference), _pick(use_fg, fg_std, bg_std, reference)
    scale, shift = stats_transfer(fg_mean[:, None], fg_std[:, None], ref_mean, ref_std, strength[..., None])
    return apply_stats_transfer(lab[:, None], scale, shift)


def _histogram_match(
    rgb: Tensor, small: Tensor, small_m: Tensor, reference: Tensor, use_fg: Tensor, strength: Tensor
) -> Tensor:
    """Per-channel histogram matching of each foreground to its references' regions, ``(B, n, 3, H, W)``."""
    fg_values, fg_cdf = sample_quantiles(small, _region_or_whole(small_m))
    bg_values, bg_cdf = sample_quantiles(small, _region_or_whole(1 - small_m))
    ref = _pick(use_fg, fg_values, bg_values, reference), _pick(use_fg, fg_cdf, bg_cdf, reference)  # (B, n, 3, P)
    curves = matching_curves((fg_values[:, None], fg_cdf[:, None]), ref, strength)
    return apply_curves(rgb[:, None], curves)


def _jitter_parameters(b: int, n: int, generator: torch.Generator | None, device: torch.device) -> dict[str, Tensor]:
    """Random camera-like edits, ``(B, n, ...)``; each edit is active on a random part of them."""
    u = torch.rand(b, n, 10, generator=generator, device=device).unbind(-1)
    sign = torch.where(u[0] < 0.5, -1.0, 1.0)
    temperature = sign * (0.06 + 0.22 * u[1])  # log gain of red against blue
    tint = 0.24 * u[2] - 0.12
    exposure = 0.8 * u[3] - 0.4
    ones, zeros = torch.ones_like(u[0]), torch.zeros_like(u[0])
    saturation = torch.where(u[4] < 0.5, torch.exp(1.3 * u[5] - 0.8), ones)
    hue = torch.where(u[6] < 0.4, 1.2 * u[7] - 0.6, zeros)  # radians, up to ~34 degrees
    gamma = torch.where(u[8] < 0.5, torch.exp(0.7 * u[9] - 0.35), ones)
    gains = torch.exp(torch.stack((exposure + temperature, exposure + tint, exposure - temperature), dim=-1))
    return {"gains": gains, "saturation": saturation, "hue": hue, "gamma": gamma}


def _jitter(rgb: Tensor, gains: Tensor, saturation: Tensor, hue: Tensor, gamma: Tensor) -> Tensor:
    """White balance and exposure gains, then hue rotation and saturation in YIQ, then gamma.

    Shape:
        rgb ``(B, 3, H, W)``; gains ``(B, n, 3)``; saturation, hue, gamma ``(B, n)``;
        output ``(B, n, 3, H, W)``.
    """
    cos, sin = torch.cos(hue) * saturation, torch.sin(hue) * saturation
    one, zero = torch.ones_like(cos), torch.zeros_like(cos)
    chroma = torch.stack((one, zero, zero, zero, cos, -sin, zero, sin, cos), dim=-1).unflatten(-1, (3, 3))
    matrix = _YIQ_TO_RGB.to(rgb) @ chroma @ _RGB_TO_YIQ.to(rgb) @ torch.diag_embed(gains)
    mixed = torch.bmm(matrix.flatten(1, 2), rgb.flatten(2)).clamp_(0, 1).unflatten(1, matrix.shape[1:3])
    return mixed.pow_(gamma[..., None, None]).unflatten(-1, rgb.shape[-2:])  # in place: no more memory


def _ensure_difference(
    out: Tensor, rgb: Tensor, m: Tensor, small: Tensor, small_m: Tensor, cast: Tensor, min_difference: float
) -> None:
    """Add a colour cast, in place, to re-colourings ``(B, n, 3, H, W)`` whose foreground barely changed.

    The change is measured on a regular subsample of the pixels. The cast moves each channel
    toward the side with more room (up for dark foregrounds, down for bright ones).
    """
    s = _CHECK_STRIDE
    sub_m = m[:, None, :, ::s, ::s]
    change = ((out[..., ::s, ::s] - rgb[:, None, :, ::s, ::s]).abs() * sub_m).sum((2, 3, 4))
    change = change / (3 * sub_m.sum((2, 3, 4))).clamp(min=1e-6)  # (B, n)
    fg_mean = (small * small_m).sum(-1) / small_m.sum(-1).clamp(min=1e-6)  # (B, 3)
    direction = torch.where(fg_mean < 0.5, 1.0, -1.0)[:, None]
    weak = (change < min_difference).to(out.dtype)[..., None]
    out.add_((direction * cast * weak)[..., None, None]).clamp_(0, 1)
